/**
 * Which disks a VM's internal snapshots use. Internal snapshots need qcow2 (raw has no room for them); the VM
 * state goes into the first writable qcow2 disk. Disks are named by id here; `live-nodes.ts` turns ids into the
 * block nodes QEMU uses now.
 */
import { VigilError } from '../../core/errors.js';
import { diskFormat } from '../argv/disks.js';
import { withDefaultIds } from '../argv/ids.js';
import type { VmDefinition } from '../definition/schema.js';

/** The disks `snapshot-save` covers. */
export interface SnapshotDisks {
  /** The disk that stores the memory state. */
  vmstate: { id: string; file: string };
  /** Every writable qcow2 disk's id (the disks the snapshot covers). */
  devices: string[];
  /** Disks a snapshot cannot cover (raw, read-only, block devices): their ids, to say so. */
  skipped: string[];
}

/** The snapshot disks of a definition, or undefined when it has no writable qcow2 disk. */
export function findSnapshotDisks(def: VmDefinition): SnapshotDisks | undefined {
  const devices: string[] = [];
  const skipped: string[] = [];
  let vmstate: { id: string; file: string } | undefined;
  for (const disk of withDefaultIds(def).disks) {
    if (disk.file !== undefined && !disk.readonly && diskFormat(disk) === 'qcow2') {
      devices.push(disk.id);
      vmstate ??= { id: disk.id, file: disk.file };
    } else {
      skipped.push(disk.id);
    }
  }
  return vmstate === undefined ? undefined : { vmstate, devices, skipped };
}

/** The snapshot disks of a definition; VIGIL_SNAPSHOT when it has no writable qcow2 disk. */
export function snapshotDisks(def: VmDefinition, vm: string): SnapshotDisks {
  const found = findSnapshotDisks(def);
  if (found === undefined) {
    throw new VigilError(
      'VIGIL_SNAPSHOT',
      `VM '${vm}' has no writable qcow2 disk to hold a snapshot with memory; add one (vigil image create state.qcow2 --size 1G --format qcow2, then a disk with that file), or take a disk-only snapshot (--disk-only)`,
      { context: { vm } },
    );
  }
  return found;
}
