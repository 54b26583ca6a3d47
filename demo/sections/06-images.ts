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
  note('live numbers: CPU time and RSS of QEMU, disk counters from the monitor, one health check');
  vigil(d, ['vm', 'stats', d.vm]);
  vigil(d, ['vm', 'top', '--once', '--interval', '1']);
  note("vigild's Prometheus metrics (host admin; from the health checks it runs through its held monitors)");
  const metrics = vigil(d, ['api', 'GET', '/metrics'], 0, { quiet: true });
  console.log(metrics.split('\n').filter((l) => l.includes(`vm="${d.vm}"`)).join('\n'));
  console.log(`-> (only the samples for ${d.vm}; HELP/TYPE lines and host-wide series left out)`);
  if (!metrics.includes(`vm="${d.vm}"`)) throw new Error(`GET /metrics has no series for ${d.vm}`);
}
