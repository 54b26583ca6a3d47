/**
 * A HostActionSink over Vigil's own services: the kill switch engine and the VM service. The CLI uses it as is;
 * vigild can spread it and add `restrictApiToLocalSocket`, which only the process serving the API can do.
 */
import type { Logger } from '../../core/log.js';
import type { KillswitchEngine } from '../../killswitch/engine.js';
import type { VmService } from '../../vm/service.js';
import type { HostActionSink } from './actions.js';

/** Builds the sink. */
export function vigilActionSink(deps: { vms: VmService; killswitch: KillswitchEngine; logger: Logger }): HostActionSink {
  return {
    engageKillswitch: (trigger) => deps.killswitch.engage(trigger),
    async pauseAllVms(reason) {
      const running = deps.vms.list().filter((vm) => vm.state === 'running');
      const results = await Promise.allSettled(running.map((vm) => deps.vms.pause(vm.name)));
      const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${running[i]!.name}: ${String((r.reason as Error).message ?? r.reason)}`] : []));
      if (failed.length > 0) deps.logger.error({ failed, reason }, 'host agent: some VMs could not be paused');
      if (failed.length > 0) throw new Error(`could not pause ${failed.join('; ')}`);
      return { paused: running.map((vm) => vm.name) };
    },
  };
}
