/** VM routes: list, define, show, change, delete, life cycle, QMP through the guard, console log. */
import { z } from 'zod';
import { atLeast, type VmRole } from '../../auth/roles.js';
import { VigilError } from '../../core/errors.js';
import { definitionFromObject, parseDefinitionText } from '../../vm/definition/load.js';
import type { VmDefinition } from '../../vm/definition/schema.js';
import type { Vm } from '../../vm/service.js';
import { vmSummary } from '../../vm/view.js';
import { callerOf, type RouteContext, type RouteSpec } from '../context.js';
import { formfileToDefinition } from '../formfile.js';
import { yamlToObject } from '../raw-body.js';

/** The public view of a VM. */
export function vmView(vm: Vm, role: VmRole | undefined, full = false): Record<string, unknown> {
  return { id: vm.name, ...vmSummary(vm), role, ...(full ? { definition: vm.definition, sources: vm.sources } : {}) };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(base: unknown, patch: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(patch)) return patch;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) out[k] = deepMerge(base[k], v);
  return out;
}

/** A definition from a POST body: JSON object, YAML text, or seed 003's `{ name, formfile }`. */
function definitionFromBody(body: unknown): VmDefinition {
  if (isPlainObject(body) && typeof body.yaml === 'string' && Object.keys(body).length === 1) return parseDefinitionText(body.yaml, 'request body');
  if (isPlainObject(body) && typeof body.formfile === 'string') return definitionFromObject(formfileToDefinition(body.formfile, typeof body.name === 'string' ? body.name : undefined), 'formfile');
  if (!isPlainObject(body)) throw new VigilError('VIGIL_INVALID_INPUT', 'send a VM definition as a JSON object or YAML text', { context: { field: 'body' } });
  return definitionFromObject(body, 'request body');
}

const stopBody = z.strictObject({ force: z.boolean().optional(), timeoutSec: z.number().min(0).max(3600).optional() }).optional();
const qmpBody = z.strictObject({
  command: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()).optional(),
  allowDangerous: z.boolean().optional(),
  purpose: z.string().max(200).optional(),
});

function lifecycle(verb: 'start' | 'restart' | 'pause' | 'resume' | 'reset', summary: string): RouteSpec {
  return {
    method: 'POST',
    url: `/vms/:id/${verb}`,
    summary,
    tag: 'lifecycle',
    auth: 'signed',
    handler: async (ctx) => {
      const caller = callerOf(ctx);
      const role = ctx.deps.access.require(caller, ctx.params.id!, 'Operator', verb);
      const vms = ctx.deps.vigil.vms;
      const vm = await vms.runAs(caller.address, () => vms[verb](ctx.params.id!));
      return vmView(vm, role);
    },
  };
}

/** The VM routes. */
export function vmRoutes(): RouteSpec[] {
  const routes: RouteSpec[] = [
    {
      method: 'GET',
      url: '/vms',
      summary: 'list the VMs the caller has a role on',
      tag: 'vms',
      auth: 'signed',
      handler: (ctx) => {
        const all = ctx.deps.vigil.vms.list();
        const visible = ctx.deps.access.visibleVms(callerOf(ctx), all.map((v) => v.name));
        return { vms: all.filter((v) => visible.has(v.name)).map((v) => vmView(v, visible.get(v.name))) };
      },
    },
    {
      method: 'POST',
      url: '/vms',
      aliases: ['/vm/create'],
      summary: 'define a VM (JSON or YAML definition, or seed 003 {name, formfile}); the caller becomes its Owner',
      tag: 'vms',
      auth: 'signed',
      status: 201,
      handler: (ctx) => {
        const caller = callerOf(ctx);
        if (!caller.registered) throw new VigilError('VIGIL_FORBIDDEN', 'only registered principals may define VMs');
        const body = typeof ctx.body === 'object' && ctx.body !== null && 'yaml' in ctx.body ? ctx.body : ctx.req.headers['content-type']?.includes('yaml') ? { yaml: ctx.req.rawBody } : ctx.body;
        const definition = definitionFromBody(body);
        const vm = ctx.deps.vigil.vms.define(definition, [], (name) => ctx.deps.accessRepo.grant(name, caller.address, 'Owner', caller.address));
        return vmView(vm, 'Owner', true);
      },
    },
    {
      method: 'GET',
      url: '/vms/:id',
      summary: 'one VM with its definition',
      tag: 'vms',
      auth: 'signed',
      handler: (ctx) => {
        const role = ctx.deps.access.require(callerOf(ctx), ctx.params.id!, 'ReadOnly', 'viewing');
        return { ...vmView(ctx.deps.vigil.vms.get(ctx.params.id!), role, true), history: ctx.deps.vigil.vms.stateHistory(ctx.params.id!, 20) };
      },
    },
    {
      method: 'PATCH',
      url: '/vms/:id',
      summary: "change a VM's definition (merged over the current one); says whether a restart is needed",
      tag: 'vms',
      auth: 'signed',
      handler: (ctx: RouteContext<unknown>) => {
        const role = ctx.deps.access.require(callerOf(ctx), ctx.params.id!, 'Manager', 'changing the definition');
        const current = ctx.deps.vigil.vms.get(ctx.params.id!);
        const patch = ctx.req.headers['content-type']?.includes('yaml') ? yamlToObject(ctx.req.rawBody) : ctx.body;
        if (!isPlainObject(patch)) throw new VigilError('VIGIL_INVALID_INPUT', 'send the fields to change as a JSON object', { context: { field: 'body' } });
        if (patch.name !== undefined && patch.name !== current.name) throw new VigilError('VIGIL_INVALID_INPUT', 'a VM cannot be renamed; define a new one', { context: { field: 'name' } });
        const merged = definitionFromObject(deepMerge(current.definition, patch), 'request body');
        const result = ctx.deps.vigil.vms.applyDefinition(merged, current.sources);
        return { ...vmView(result.vm, role, true), changed: result.changed, needsRestart: result.needsRestart };
      },
    },
    {
      method: 'DELETE',
      url: '/vms/:id',
      summary: 'forget a VM (?force=true stops it first, ?purge=true deletes its logs)',
      tag: 'vms',
      auth: 'signed',
      handler: async (ctx) => {
        const caller = callerOf(ctx);
        ctx.deps.access.require(caller, ctx.params.id!, 'Owner', 'deleting');
        const vms = ctx.deps.vigil.vms;
        await vms.runAs(caller.address, () => vms.remove(ctx.params.id!, { force: ctx.query.force === 'true', purge: ctx.query.purge === 'true' }));
        ctx.deps.accessRepo.revokeAll(ctx.params.id!);
        return { id: ctx.params.id, deleted: true };
      },
    },
    lifecycle('start', 'start a VM; returns when QEMU reports it running'),
    lifecycle('restart', 'stop and start a VM'),
    lifecycle('pause', 'pause the vCPUs'),
    lifecycle('resume', 'resume the vCPUs'),
    lifecycle('reset', 'reset the machine'),
    {
      method: 'POST',
      url: '/vms/:id/stop',
      summary: 'stop a VM: ACPI power-down, then quit after timeoutSec (default 30), then SIGKILL; force skips the power-down',
      tag: 'lifecycle',
      auth: 'signed',
      body: stopBody,
      handler: async (ctx: RouteContext<z.infer<typeof stopBody>>) => {
        const caller = callerOf(ctx);
        const role = ctx.deps.access.require(caller, ctx.params.id!, 'Operator', 'stop');
        const vms = ctx.deps.vigil.vms;
        const opts = { force: ctx.body?.force ?? false, ...(ctx.body?.timeoutSec !== undefined ? { timeoutMs: ctx.body.timeoutSec * 1000 } : {}) };
        return vmView(await vms.runAs(caller.address, () => vms.stop(ctx.params.id!, opts)), role);
      },
    },
    {
      method: 'GET',
      url: '/vms/:id/logs',
      summary: 'the tail of the serial console log (?lines=N)',
      tag: 'lifecycle',
      auth: 'signed',
      handler: (ctx) => {
        ctx.deps.access.require(callerOf(ctx), ctx.params.id!, 'Operator', 'reading the console');
        return { id: ctx.params.id, log: ctx.deps.vigil.vms.logs(ctx.params.id!, Number(ctx.query.lines) || 100) };
      },
    },
    {
      method: 'POST',
      url: '/vms/:id/qmp',
      summary: 'run a QMP command through the guard (Manager: safe and privileged; Owner: memory dumps; Owner + host admin + allowDangerous: dangerous)',
      tag: 'qmp',
      auth: 'signed',
      body: qmpBody,
      handler: async (ctx: RouteContext<z.infer<typeof qmpBody>>) => {
        const caller = callerOf(ctx);
        const id = ctx.params.id!;
        const role = ctx.deps.access.require(caller, id, 'Manager', 'QMP');
        const state = ctx.deps.vigil.vms.get(id).state;
        if (state !== 'running' && state !== 'paused') throw new VigilError('VIGIL_VM_STATE', `VM '${id}' is ${state}: QMP needs a running VM`, { context: { vm: id, state } });
        const monitor = await ctx.deps.vigil.vms.runAs(caller.address, () => ctx.deps.vigil.monitorAs(id, caller.address));
        try {
          const verdict = await monitor.qmp.verdict(ctx.body.command, ctx.body.arguments ?? {}, ctx.body.allowDangerous ?? false);
          if (verdict.class === 'memory-dump' && !atLeast(role, 'Owner')) {
            throw new VigilError('VIGIL_FORBIDDEN', `memory dumps ('${ctx.body.command}') need the Owner role; you are ${role}`, { context: { need: 'Owner' } });
          }
          if (verdict.class === 'dangerous' && ctx.body.allowDangerous) {
            if (!atLeast(role, 'Owner') || caller.hostRole !== 'admin') {
              throw new VigilError('VIGIL_FORBIDDEN', `dangerous QMP ('${ctx.body.command}') needs allowDangerous, the Owner role and host admin`, { context: { need: 'Owner+admin' } });
            }
          }
          const result = await monitor.qmp.execute(ctx.body.command, ctx.body.arguments, {
            ...(ctx.body.allowDangerous ? { allowDangerous: true } : {}),
            ...(ctx.body.purpose ? { purpose: ctx.body.purpose } : {}),
          });
          return { return: result ?? {} };
        } finally {
          await monitor.close();
        }
      },
    },
  ];
  return routes;
}
