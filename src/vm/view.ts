/** The one public summary of a VM, shared by `vigil vm ls --json` and the API. */
import type { Vm } from './service.js';

/** A VM's state and shape without its full definition. */
export function vmSummary(vm: Vm): Record<string, unknown> {
  return {
    name: vm.name,
    state: vm.state,
    pid: vm.pid,
    cpus: vm.definition.cpus,
    memoryMiB: vm.definition.memory,
    startedAt: vm.startedAt,
    autostart: vm.definition.autostart.enabled,
    tags: vm.definition.tags,
    needsRestart: vm.needsRestart,
  };
}
