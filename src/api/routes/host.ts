/** Host routes: health, the guest's boot_complete call, the audit log (images: images.ts; metrics: monitoring.ts). */
import { z } from 'zod';
import { VigilError } from '../../core/errors.js';
import { VERSION } from '../../version.js';
import { callerOf, type RouteContext, type RouteSpec } from '../context.js';

const bootBody = z.strictObject({ token: z.string().min(16).max(128), vm: z.string().optional() });

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
  ];
  return routes;
}
