/**
 * Section 4: the kill switch. Its self-test, an engage over the signed API that vigild cuts through the monitor
 * it already holds (with the report's timings), the USB devices gone from the guest, release, devices back, the
 * switch's log; then the trigger file from config.yaml: creating it engages, removing it releases.
 */
import { rmSync, writeFileSync } from 'node:fs';
import type { SwitchReport } from '../../src/killswitch/report.js';
import { heading, note, until, vigil, vigilJson, type Demo } from '../lib.js';

const PERIPHERALS = '{"path": "/machine/peripheral"}';

/** The ids of the VM's user-created devices, as QEMU lists them (and prints them, as a user would see). */
function peripherals(d: Demo): string[] {
  const out = vigil(d, ['qmp', d.vm, 'qom-list', PERIPHERALS, '--compact'], 0, { quiet: true });
  const names = (JSON.parse(out) as { name: string; type: string }[]).filter((p) => p.type.startsWith('child<')).map((p) => `${p.name} (${p.type.slice(6, -1)})`);
  console.log(`-> ${names.join(', ')}   (the reply's child<...> entries, condensed)`);
  return names.map((n) => n.split(' ')[0]!);
}

/** Prints a report as one line per VM: how QEMU was reached, each device's outcome and time. */
function summarize(r: SwitchReport): void {
  console.log(`${r.action} by ${r.trigger.source}${r.trigger.principal ? ` (${r.trigger.principal})` : ''}: ${r.elapsedMs.toFixed(1)} ms in all`);
  for (const vm of r.vms) {
    const devices = vm.devices.map((x) => `${x.device.deviceId} ${x.outcome} in ${x.elapsedMs.toFixed(1)} ms`).join(', ');
    console.log(`  ${vm.vmName}: ${vm.monitor ? `monitor ${vm.monitor}, ` : ''}${r.action === 'engage' ? `safe=${vm.safe}` : `resumed=${vm.resumed ?? false}`}, ${vm.elapsedMs.toFixed(1)} ms: ${devices}`);
  }
}

function state(d: Demo): string {
  return vigilJson<{ state: string }>(d, ['killswitch', 'status']).state;
}

/** Runs the section. */
export async function killswitch(d: Demo): Promise<void> {
  heading('4. The kill switch');
  note('self-test: IOMMU/VFIO (warnings: no PCI passthrough here), every planned VM answering QMP, the switch armed');
  vigil(d, ['killswitch', 'test', '--verbose']);
  note('the devices QEMU has from the definition, before');
  const before = peripherals(d);
  for (const id of ['kbd0', 'tab0', 'net0']) if (!before.includes(id)) throw new Error(`${id} is not attached at start: ${before.join(', ')}`);

  heading('4b. Engage over the signed API: vigild cuts through the monitor it already holds');
  const engaged = JSON.parse(vigil(d, ['api', 'POST', '/killswitch/engage', '{"reason": "demo"}'], 0, { quiet: true })) as { state: string; report: SwitchReport };
  console.log(`-> state: ${engaged.state}   (the JSON reply's report, condensed)`);
  summarize(engaged.report);
  const vm = engaged.report.vms.find((v) => v.vmName === d.vm);
  if (engaged.state !== 'engaged' || vm?.safe !== true || vm.monitor !== 'held') throw new Error(`engage did not cut ${d.vm} through the held monitor: ${JSON.stringify(vm)}`);
  note('the USB keyboard and tablet are gone from the guest (net0 stays, its link is down)');
  const during = peripherals(d);
  if (during.includes('kbd0') || during.includes('tab0')) throw new Error(`still attached while engaged: ${during.join(', ')}`);
  vigil(d, ['killswitch', 'status']);

  heading('4c. Release: the same devices come back, with the same ids');
  const released = JSON.parse(vigil(d, ['api', 'POST', '/killswitch/release', '{}'], 0, { quiet: true })) as { state: string; report: SwitchReport };
  console.log(`-> state: ${released.state}`);
  summarize(released.report);
  const after = peripherals(d);
  if (!after.includes('kbd0') || !after.includes('tab0')) throw new Error(`not restored: ${after.join(', ')}`);
  vigil(d, ['killswitch', 'logs', '-n', '2']);

  heading('4d. A trigger from config.yaml: creating the trigger file engages, removing it releases');
  vigil(d, ['killswitch', 'triggers']);
  console.log(`$ touch ${d.triggerFile}`);
  writeFileSync(d.triggerFile, '');
  await until('the file trigger to engage the switch', () => state(d) === 'engaged', 30000);
  vigil(d, ['killswitch', 'status']);
  console.log(`$ rm ${d.triggerFile}`);
  rmSync(d.triggerFile);
  await until('the file trigger to release the switch', () => state(d) === 'armed', 30000);
  vigil(d, ['killswitch', 'logs', '-n', '2']);
  const back = peripherals(d);
  if (!back.includes('kbd0') || !back.includes('tab0')) throw new Error(`not restored after the file trigger: ${back.join(', ')}`);
}
