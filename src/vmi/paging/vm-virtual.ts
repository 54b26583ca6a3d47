/**
 * Virtual memory of a running Vigil VM: the paging depth from vCPU 0's CR4, `{ vcpu }` accesses answered with
 * that vCPU's CR3 from QEMU's monitor, and every cache dropped when QEMU reports that the VM resumed (the guest
 * may have changed any page table while it ran). The gdb layer can pass its own CR3 source instead.
 */
import type { VmMemory } from '../memory/vm-memory.js';
import { readPagingRegisters } from './hmp-registers.js';
import { VirtualMemory, type Cr3Source } from './virtual-memory.js';

/** A VirtualMemory bound to one VM, with the unsubscribe of its resume hook. */
export interface VmVirtualMemory {
  virt: VirtualMemory;
  /** Stops invalidating on resume (the VmMemory's close does not need it). */
  detach: () => void;
}

/** Builds the VM's VirtualMemory; `cr3Of` defaults to HMP `info registers` over the VM's monitor. */
export async function vmVirtualMemory(vm: VmMemory, options: { cr3Of?: Cr3Source } = {}): Promise<VmVirtualMemory> {
  const regs = await readPagingRegisters(vm.qmp, 0);
  const cr3Of: Cr3Source = options.cr3Of ?? (async (vcpu) => (await readPagingRegisters(vm.qmp, vcpu)).cr3);
  const virt = new VirtualMemory(vm.memory, regs.levels, { cr3Of });
  const detach = vm.qmp.onEvent(() => virt.invalidate(), ['RESUME']);
  return { virt, detach };
}
