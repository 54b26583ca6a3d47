/**
 * The host device inventory: every USB device and PCI function under a sysfs root, classified. It knows nothing
 * of VMs; src/vm/host-devices.ts says which VM definitions name a device.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { VigilError } from '../core/errors.js';
import { readPciDevices } from './pci.js';
import { sysfsError } from './read.js';
import type { HostDevice, Inventory } from './types.js';
import { readUsbDevices } from './usb.js';

/**
 * Reads the inventory under `root` (`/` on a host; a fixture tree in tests). `<root>/sys/bus` must be a readable
 * directory (VIGIL_NOT_FOUND or VIGIL_INVALID_INPUT naming the path otherwise); a bus the kernel lacks is an
 * empty list, and attributes a device lacks are undefined.
 */
export async function readInventory(root = '/'): Promise<Inventory> {
  const bus = join(root, 'sys/bus');
  let isDir: boolean;
  try {
    isDir = (await stat(bus)).isDirectory();
  } catch (err) {
    const e = sysfsError(bus, err);
    // The likeliest cause is a wrong --root or a container without /sys: say so.
    throw e.code === 'VIGIL_NOT_FOUND' ? new VigilError('VIGIL_NOT_FOUND', `${bus}: no such directory; is sysfs mounted, and is the root (${root}) right?`, { cause: err, context: { path: bus } }) : e;
  }
  if (!isDir) throw new VigilError('VIGIL_INVALID_INPUT', `${bus}: cannot read it (not a directory)`, { context: { path: bus } });
  const [usb, pci] = await Promise.all([readUsbDevices(root), readPciDevices(root)]);
  return { usb, pci };
}

/** Every device of an inventory, USB first. */
export function allDevices(inventory: Inventory): HostDevice[] {
  return [...inventory.usb, ...inventory.pci];
}

/** The device with id `id` (`usb:1-4.2`, `pci:0000:00:1f.3`); undefined when the host has none. */
export function findDevice(inventory: Inventory, id: string): HostDevice | undefined {
  return allDevices(inventory).find((d) => d.id === id);
}
