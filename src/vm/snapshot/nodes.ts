/**
 * Which block nodes a VM's snapshots use. The argv builder names disk i's format node `blk<i>-format`; internal
 * snapshots need qcow2 (raw has no room for them), and the VM state goes into the first writable qcow2 disk.
 */
import { VigilError } from '../../core/errors.js';
import { diskFormat } from '../argv/disks.js';
import { blockNodeNames } from '../argv/ids.js';
import type { VmDefinition } from '../definition/schema.js';

/** The nodes `snapshot-save` needs. */
export interface SnapshotNodes {
  /** The node that stores the memory state. */
  vmstate: string;
  /** Every writable qcow2 disk's format node (the disks the snapshot covers). */
  devices: string[];
  /** Disks a snapshot cannot cover (raw, read-only): their ids, to say so. */
  skipped: string[];
}

/** The snapshot nodes of a definition; VIGIL_SNAPSHOT when it has no writable qcow2 disk. */
export function snapshotNodes(def: VmDefinition, vm: string): SnapshotNodes {
  const devices: string[] = [];
  const skipped: string[] = [];
  def.disks.forEach((disk, i) => {
    if (disk.file !== undefined && !disk.readonly && diskFormat(disk) === 'qcow2') devices.push(blockNodeNames(i).format);
    else skipped.push(disk.id ?? `disk${i}`);
  });
  const vmstate = devices[0];
  if (vmstate === undefined) {
    throw new VigilError('VIGIL_SNAPSHOT', `VM '${vm}' has no writable qcow2 disk to hold a snapshot; add one (vigil image create state.qcow2 --size 1G --format qcow2, then a disk with that file)`, {
      context: { vm },
    });
  }
  return { vmstate, devices, skipped };
}
