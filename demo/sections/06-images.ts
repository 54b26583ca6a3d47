/** Section 6: disk images (qemu-img under the CLI), snapshots with memory inside the VM's qcow2 disk, and live stats. */
import { heading, note, vigil, type Demo } from '../lib.js';

/** Runs the section. */
export function images(d: Demo): void {
  heading('6. Images, snapshots and monitoring');
  vigil(d, ['image', 'create', 'scratch.qcow2', '--size', '1G']);
  vigil(d, ['image', 'create', 'scratch-overlay.qcow2', '--backing', 'scratch.qcow2']);
  vigil(d, ['image', 'ls']);
  note("a snapshot of the running VM: memory and device state go into its qcow2 disk (the guest pauses meanwhile)");
  vigil(d, ['vm', 'snapshot', 'create', d.vm, 'demo-snap']);
  vigil(d, ['vm', 'snapshot', 'ls', d.vm]);
  vigil(d, ['image', 'info', 'demo-state.qcow2']);
  vigil(d, ['qmp', d.vm, 'query-status', '--compact']);
  note('live numbers from the monitor: CPU, memory, disk and network counters');
  vigil(d, ['vm', 'stats', d.vm]);
}
