/**
 * Device ids. Items without an id get `disk0`, `net1`, `usb0`, `hostpci0`, `dev2`... by position, skipping any
 * id already written elsewhere in the definition (QEMU's device ids share one namespace). The supervisor and the
 * kill switch use the same function, so everyone names a device the same way.
 */
import { RESERVED_DEVICE_IDS, type DiskSpec, type NicSpec, type PciSpec, type UsbSpec, type VmDefinition } from '../definition/schema.js';

type WithId<T> = T & { id: string };
type DeviceSpec = VmDefinition['devices'][number];

/** A definition in which every disk, NIC, USB, PCI and emulated device has its id. */
export interface VmDefinitionWithIds extends Omit<VmDefinition, 'disks' | 'nics' | 'usb' | 'pci' | 'devices'> {
  disks: WithId<DiskSpec>[];
  nics: WithId<NicSpec>[];
  usb: WithId<UsbSpec>[];
  pci: WithId<PciSpec>[];
  devices: WithId<DeviceSpec>[];
}

/** The id prefixes of items written without an id. */
export const DEFAULT_ID_PREFIX = { disks: 'disk', nics: 'net', usb: 'usb', pci: 'hostpci', devices: 'dev' } as const;

/** The definition with every missing id filled in (the input is not changed). */
export function withDefaultIds(def: VmDefinition): VmDefinitionWithIds {
  const taken = new Set<string>(RESERVED_DEVICE_IDS);
  for (const item of [...def.disks, ...def.nics, ...def.usb, ...def.pci, ...def.devices]) if (item.id !== undefined) taken.add(item.id);
  const fill = <T extends { id?: string | undefined }>(items: readonly T[], prefix: string): WithId<T>[] =>
    items.map((item, i) => {
      if (item.id !== undefined) return { ...item, id: item.id };
      let n = i;
      while (taken.has(`${prefix}${n}`)) n++;
      const id = `${prefix}${n}`;
      taken.add(id);
      return { ...item, id };
    });
  return {
    ...def,
    disks: fill(def.disks, DEFAULT_ID_PREFIX.disks),
    nics: fill(def.nics, DEFAULT_ID_PREFIX.nics),
    usb: fill(def.usb, DEFAULT_ID_PREFIX.usb),
    pci: fill(def.pci, DEFAULT_ID_PREFIX.pci),
    devices: fill(def.devices, DEFAULT_ID_PREFIX.devices),
  };
}

/** The -netdev id behind NIC `nicId` (the -device keeps the NIC's own id, which set_link and device_del use). */
export function netdevId(nicId: string): string {
  return `hostnet-${nicId}`;
}

/**
 * The block node names of the disk at `index`: QEMU limits node names to 31 characters, so they come from the
 * position, not from the (up to 32 character) disk id. `format` is the node the guest device is attached to.
 */
export function blockNodeNames(index: number): { file: string; format: string } {
  return { file: `blk${index}-file`, format: `blk${index}-format` };
}
