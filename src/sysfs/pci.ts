/**
 * PCI functions from `<root>/sys/bus/pci/devices`: symlinks named by address into `/sys/devices/pci<domain>:<bus>/`,
 * each holding hex attributes (`vendor`, `device`, `class`) and the `driver` and `iommu_group` links. IOMMU group
 * members are listed in `<root>/sys/kernel/iommu_groups/<n>/devices`.
 */
import { join } from 'node:path';
import { classifyPci } from './classify.js';
import { pciClassName } from './pci-class-names.js';
import { listDirectory, readHexAttribute, readIdAttribute, readLinkName } from './read.js';
import type { PciDevice } from './types.js';
import { vfioReadiness, type GroupMember } from './vfio.js';

/** Where the kernel lists PCI functions, relative to the root (`/`). */
export const PCI_DEVICES_DIR = 'sys/bus/pci/devices';

/** Where the kernel lists IOMMU groups, relative to the root. */
export const IOMMU_GROUPS_DIR = 'sys/kernel/iommu_groups';

const ADDRESS = /^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;

type Raw = Omit<PciDevice, 'vfio' | 'vfioBlockers'>;

async function readFunction(dir: string, address: string): Promise<Raw | undefined> {
  const path = join(dir, address);
  if ((await listDirectory(path)) === undefined) return undefined; // removed while we read
  const attr = (a: string): string => join(path, a);
  const [vendorId, deviceId, subsystemVendorId, subsystemDeviceId, classCode, driver, group] = await Promise.all([
    readIdAttribute(attr('vendor')),
    readIdAttribute(attr('device')),
    readIdAttribute(attr('subsystem_vendor')),
    readIdAttribute(attr('subsystem_device')),
    readHexAttribute(attr('class')),
    readLinkName(attr('driver')),
    readLinkName(attr('iommu_group')),
  ]);
  const iommuGroup = group !== undefined && /^\d+$/.test(group) ? Number(group) : undefined;
  return {
    kind: 'pci',
    id: `pci:${address}`,
    address,
    vendorId,
    deviceId,
    subsystemVendorId,
    subsystemDeviceId,
    classCode,
    className: pciClassName(classCode),
    driver,
    iommuGroup,
    class: classifyPci(classCode),
  };
}

/**
 * The members of IOMMU group `group`, read from the group's own directory (it may hold devices that are not
 * PCI functions); the PCI functions that name the group stand in when that directory is missing.
 */
async function groupMembers(root: string, group: number, functions: readonly Raw[]): Promise<GroupMember[]> {
  const dir = join(root, IOMMU_GROUPS_DIR, String(group), 'devices');
  const names = await listDirectory(dir);
  if (names === undefined) return functions.filter((f) => f.iommuGroup === group);
  return Promise.all(
    names.map(async (name) => {
      const known = functions.find((f) => f.address === name);
      if (known) return known;
      const [driver, classCode] = await Promise.all([readLinkName(join(dir, name, 'driver')), readHexAttribute(join(dir, name, 'class'))]);
      return { address: name, driver, classCode };
    }),
  );
}

/** Every PCI function under `root`, ordered by address, with its vfio readiness; `[]` when the kernel has no PCI. */
export async function readPciDevices(root: string): Promise<PciDevice[]> {
  const dir = join(root, PCI_DEVICES_DIR);
  const addresses = ((await listDirectory(dir)) ?? []).filter((a) => ADDRESS.test(a));
  const functions = (await Promise.all(addresses.map((a) => readFunction(dir, a)))).filter((f): f is Raw => f !== undefined);
  const groups = new Map<number, GroupMember[]>();
  for (const g of new Set(functions.flatMap((f) => (f.iommuGroup === undefined ? [] : [f.iommuGroup])))) {
    groups.set(g, await groupMembers(root, g, functions));
  }
  return functions.map((f) => ({ ...f, ...vfioReadiness(f.address, f.driver, f.iommuGroup, f.iommuGroup === undefined ? [] : (groups.get(f.iommuGroup) ?? [])) }));
}
