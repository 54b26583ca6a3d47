/**
 * Which VM definitions name a host device: USB by vendor:product or by bus and port, PCI by address (as a `pci`
 * entry or a VF NIC). The sysfs inventory knows nothing of VMs; this is where the two meet.
 */
import type { HostDevice } from '../sysfs/types.js';
import { fullPciAddress } from './argv/nics.js';
import type { VmDefinition } from './definition/schema.js';

/** What the matcher needs of a VM: its name and definition (a `Vm` from `Vigil.list()` fits). */
export interface DefinedVm {
  name: string;
  definition: Pick<VmDefinition, 'usb' | 'pci' | 'nics'>;
}

const hex = (id: string): string => id.replace(/^0x/i, '').toLowerCase();

/** True when `definition` passes `device` through to its VM. */
export function definitionNamesDevice(definition: DefinedVm['definition'], device: HostDevice): boolean {
  if (device.kind === 'usb') {
    return definition.usb.some((u) =>
      u.vendor !== undefined && u.product !== undefined
        ? device.vendorId === hex(u.vendor) && device.productId === hex(u.product)
        : u.bus === device.bus && u.port === device.port,
    );
  }
  return (
    definition.pci.some((p) => fullPciAddress(p.address) === device.address) ||
    definition.nics.some((n) => n.type === 'vf' && n.address !== undefined && fullPciAddress(n.address) === device.address)
  );
}

/** The names of the VMs whose definitions name `device`, in the order given. */
export function vmsNamingDevice(device: HostDevice, vms: readonly DefinedVm[]): string[] {
  return vms.filter((vm) => definitionNamesDevice(vm.definition, device)).map((vm) => vm.name);
}
