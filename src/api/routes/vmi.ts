/** Introspection of a Linux guest over HTTP: uname, ps, pstree, modules (Owner only; each view audited). */
import { VigilError } from '../../core/errors.js';
import { viewJson, LINUX_VIEWS, type LinuxViewName } from '../../vmi/os/linux/views.js';
import { callerOf, type RouteSpec } from '../context.js';

/** The introspection routes. */
export function vmiRoutes(): RouteSpec[] {
  return [
    {
      method: 'GET',
      url: '/vms/:id/vmi/linux/:view',
      summary: `a Linux guest read from the host, no agent in it: ${LINUX_VIEWS.join(', ')} (Owner; audited as a memory read)`,
      tag: 'vmi',
      auth: 'signed',
      handler: async (ctx) => {
        const caller = callerOf(ctx);
        const vm = ctx.params.id!;
        ctx.deps.access.require(caller, vm, 'Owner', 'introspection');
        const view = ctx.params.view as LinuxViewName;
        if (!LINUX_VIEWS.includes(view)) {
          throw new VigilError('VIGIL_INVALID_INPUT', `view '${String(ctx.params.view)}' is not one of ${LINUX_VIEWS.join(', ')}`, { context: { field: 'view' } });
        }
        const state = ctx.deps.vigil.vms.get(vm).state;
        if (state !== 'running' && state !== 'paused') throw new VigilError('VIGIL_VM_STATE', `VM '${vm}' is ${state}: start it to look inside`, { context: { vm, state } });
        return { vm, view, result: viewJson(await ctx.deps.linux.view(vm, view, caller.address)) };
      },
    },
  ];
}
