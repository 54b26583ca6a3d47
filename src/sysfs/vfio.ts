/**
 * Whether a PCI function can be handed to QEMU through vfio-pci. The kernel hands over whole IOMMU groups: a
 * group is viable when each member is driverless, bound to a vfio driver, bound to a driver that does no DMA of
 * its own (pci-stub, pcieport), or a PCI bridge (drivers/vfio: vfio_dev_driver_allowed, and since Linux 5.19
 * the drivers marked driver_managed_dma).
 */
import type { VfioBlocker, VfioState } from './types.js';

/** A member of an IOMMU group as far as viability goes. */
export interface GroupMember {
  address: string;
  driver: string | undefined;
  classCode: number | undefined;
}

// pci-stub only keeps other drivers away; pcieport drives root and switch ports, which carry no DMA of their own.
const HARMLESS_DRIVERS = new Set(['pci-stub', 'pcieport']);

/** True for vfio-pci and its vendor variants (mlx5_vfio_pci, hisi_acc_vfio_pci, nvgrace_gpu_vfio_pci...). */
export function isVfioDriver(driver: string | undefined): boolean {
  return driver !== undefined && /(^|[-_])vfio[-_]pci$/.test(driver);
}

/** True when a group member does not stop the group from going to vfio. */
export function isHarmlessMember(m: GroupMember): boolean {
  if (m.driver === undefined || isVfioDriver(m.driver) || HARMLESS_DRIVERS.has(m.driver)) return true;
  const baseAndSub = m.classCode === undefined ? undefined : m.classCode >> 8;
  return baseAndSub === 0x0604 || baseAndSub === 0x0607; // PCI-to-PCI and CardBus bridges
}

/** The vfio state of the function at `address`, given its driver, its IOMMU group and the group's members. */
export function vfioReadiness(
  address: string,
  driver: string | undefined,
  iommuGroup: number | undefined,
  members: readonly GroupMember[],
): { vfio: VfioState; vfioBlockers: VfioBlocker[] } {
  if (iommuGroup === undefined) return { vfio: 'no-iommu', vfioBlockers: [] };
  const vfioBlockers = members
    .filter((m) => m.address !== address && !isHarmlessMember(m))
    .map((m) => ({ address: m.address, driver: m.driver ?? '' }));
  if (vfioBlockers.length > 0) return { vfio: 'group-busy', vfioBlockers };
  return { vfio: isVfioDriver(driver) ? 'ready' : 'bind-needed', vfioBlockers };
}
