/** Host routes: health, the guest's boot_complete call, the audit log, images, Prometheus metrics. */
import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Gauge, Registry } from 'prom-client';
import { z } from 'zod';
import { VigilError } from '../../core/errors.js';
import { VERSION } from '../../version.js';
import { VM_STATES } from '../../vm/states.js';
import { RAW, callerOf, type RouteContext, type RouteSpec } from '../context.js';

const run = promisify(execFile);
const bootBody = z.strictObject({ token: z.string().min(16).max(128), vm: z.string().optional() });

interface ImageInfo {
  name: string;
  format?: string;
  virtualSize?: number;
  actualSize?: number;
  backingFile?: string;
  error?: string;
}

/** Every regular file in the images directory with what `qemu-img info` says of it. */
async function listImages(dir: string): Promise<ImageInfo[]> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => statSync(join(dir, n)).isFile());
  } catch {
    return [];
  }
  return Promise.all(
    names.sort().map(async (name): Promise<ImageInfo> => {
      try {
        const { stdout } = await run('qemu-img', ['info', '--output=json', '-U', join(dir, name)], { timeout: 10000 });
        const info = JSON.parse(stdout) as { format: string; 'virtual-size': number; 'actual-size': number; 'backing-filename'?: string };
        return {
          name,
          format: info.format,
          virtualSize: info['virtual-size'],
          actualSize: info['actual-size'],
          ...(info['backing-filename'] ? { backingFile: info['backing-filename'] } : {}),
        };
      } catch (err) {
        return { name, error: (err as Error).message.split('\n')[0] ?? 'unreadable' };
      }
    }),
  );
}

/** The host routes. */
export function hostRoutes(): RouteSpec[] {
  const routes: RouteSpec[] = [
    {
      method: 'GET',
      url: '/health',
      summary: 'liveness (unsigned)',
      tag: 'host',
      auth: 'none',
      handler: () => ({ status: 'ok', version: VERSION }),
    },
    {
      method: 'POST',
      url: '/vm/boot_complete',
      summary: "a guest reports that it booted (unsigned; authenticated by the per-boot token on its kernel command line or fw_cfg)",
      tag: 'vms',
      auth: 'none',
      body: bootBody,
      handler: (ctx: RouteContext<z.infer<typeof bootBody>>) => {
        const vm = ctx.deps.vigil.vms.bootCompleted(ctx.body.token);
        if (!vm) throw new VigilError('VIGIL_NOT_FOUND', 'no running VM has this boot token');
        return { id: vm.name, booted: true };
      },
    },
    {
      method: 'GET',
      url: '/audit',
      summary: 'audit log entries (host admin and auditor); filters: vm, command, class, outcome, principal, kind, since, until, pattern, limit',
      tag: 'host',
      auth: 'signed',
      handler: (ctx) => {
        ctx.deps.access.requireHost(callerOf(ctx), ['admin', 'auditor'], 'reading the audit log');
        const q = ctx.query;
        const date = (v: string | undefined, field: string): Date | undefined => {
          if (v === undefined) return undefined;
          const d = new Date(v);
          if (Number.isNaN(d.getTime())) throw new VigilError('VIGIL_INVALID_INPUT', `${field} must be an ISO 8601 time`, { context: { field } });
          return d;
        };
        const rows = ctx.deps.vigil.audit.query(
          { vm: q.vm, command: q.command, class: q.class, outcome: q.outcome, principal: q.principal, kind: q.kind, since: date(q.since, 'since'), until: date(q.until, 'until'), pattern: q.pattern },
          Math.min(Number(q.limit) || 100, 10000),
        );
        return { entries: rows, verification: q.verify === 'true' ? ctx.deps.vigil.audit.verify() : undefined };
      },
    },
    {
      method: 'GET',
      url: '/images',
      summary: 'disk images in the images directory, with format and sizes',
      tag: 'host',
      auth: 'signed',
      handler: async (ctx) => {
        if (!callerOf(ctx).registered) throw new VigilError('VIGIL_FORBIDDEN', 'only registered principals may list images');
        return { dir: ctx.deps.imagesDir, images: await listImages(ctx.deps.imagesDir) };
      },
    },
    {
      method: 'GET',
      url: '/metrics',
      summary: 'Prometheus metrics (host admin)',
      tag: 'host',
      auth: 'signed',
      handler: async (ctx) => {
        ctx.deps.access.requireHost(callerOf(ctx), ['admin'], 'reading metrics');
        const registry = new Registry();
        const vms = ctx.deps.vigil.vms.list();
        const byState = new Gauge({ name: 'vigil_vms', help: 'VMs by state', labelNames: ['state'], registers: [registry] });
        for (const s of VM_STATES) byState.set({ state: s }, vms.filter((v) => v.state === s).length);
        const up = new Gauge({ name: 'vigil_vm_up', help: '1 when the VM runs', labelNames: ['vm'], registers: [registry] });
        for (const v of vms) up.set({ vm: v.name }, v.state === 'running' ? 1 : 0);
        const head = new Gauge({ name: 'vigil_audit_rows', help: 'rows in the audit log', registers: [registry] });
        head.set(ctx.deps.vigil.audit.head().seq);
        return { [RAW]: await registry.metrics(), contentType: registry.contentType };
      },
    },
  ];
  return routes;
}
