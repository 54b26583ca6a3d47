/**
 * `make demo`: one test guest under Vigil, driven with the real `vigil` CLI and `vigild`, end to end, one
 * section per capability (demo/sections/). Everything lives under .vigil/demo (VIGIL_HOME), made fresh on each
 * run and removed at the end (DEMO_KEEP=1 keeps it); whatever happens (an error, Ctrl-C), nothing is left running.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { cleanupSync, freePort, heading, newDemo, root, stopVigild, vigil, vmState, type Demo } from './lib.js';
import { vmsFromYaml } from './sections/01-vms.js';
import { qmpGuard } from './sections/02-qmp-guard.js';
import { vigildApi } from './sections/03-vigild-api.js';
import { killswitch } from './sections/04-killswitch.js';
import { introspection } from './sections/05-vmi.js';
import { images } from './sections/06-images.js';
import { dashboard } from './sections/07-dashboard.js';

const keep = process.env.DEMO_KEEP === '1';
const home = `${root}.vigil/demo`;
const d: Demo = newDemo(home, await freePort(), `VIGIL-DEMO-42-${randomBytes(6).toString('hex')}`);
const stale = cleanupSync(d, false);
if (stale.length > 0) console.log(`ended what an earlier, killed demo left running: ${stale.join(', ')}`);
mkdirSync(home, { recursive: true });

let cleaned = false;
function emergencyCleanup(why: string): void {
  if (cleaned) return;
  cleaned = true;
  const ended = cleanupSync(d, keep);
  console.error(`\n${why}: ended ${ended.length > 0 ? ended.join(', ') : 'nothing (nothing was running)'}${keep ? '' : `; removed ${home}`}`);
}
for (const [signal, number] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]] as const) {
  process.once(signal, () => {
    emergencyCleanup(`interrupted (${signal})`);
    process.exit(128 + number);
  });
}
process.once('exit', () => emergencyCleanup('exiting'));

/** Section 8: a clean stop, as a user would do it, then a check that nothing is left. */
async function cleanup(): Promise<void> {
  heading('8. Cleanup: stop the VM and vigild, leave nothing running');
  vigil(d, ['vm', 'stop', d.vm, '--timeout', '2']);
  const pid = d.vigild?.process.pid;
  await stopVigild(d);
  console.log(`$ kill -TERM ${pid}   # vigild stops cleanly (VMs would outlive it; ours is already stopped)`);
  vigil(d, ['vm', 'ls']);
  const s = vmState(d);
  if (s.state !== 'stopped') throw new Error(`the VM is ${s.state} after stop`);
}

const sections: [string, () => unknown][] = [
  ['1. VMs from YAML', () => vmsFromYaml(d)],
  ['2. QMP guard and audit', () => qmpGuard(d)],
  ['3. vigild and the signed API', () => vigildApi(d)],
  ['4. Kill switch', () => killswitch(d)],
  ['5. Introspection', () => introspection(d)],
  ['6. Images, snapshots, stats', () => images(d)],
  ['7. Dashboard', () => dashboard(d)],
  ['8. Cleanup', () => cleanup()],
];

const started = performance.now();
const timings: string[] = [];
for (const [name, run] of sections) {
  const t0 = performance.now();
  try {
    await run();
  } catch (err) {
    console.error(`\nDEMO FAILED in section "${name}": ${err instanceof Error ? err.message : String(err)}`);
    emergencyCleanup('cleanup after the failure');
    process.exit(1);
  }
  timings.push(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
emergencyCleanup('cleanup');
console.log(`\nDemo complete in ${((performance.now() - started) / 1000).toFixed(1)} s (${timings.join('; ')}).`);
