/**
 * The kill switch against real QEMU: a booted guest with emulated USB devices, a PCI device on a PCIe root port
 * and a user NIC is cut and restored; a guest with no OS, which never releases its PCI device, is paused by
 * escalation within the deadline; concurrent engages coalesce; the state survives a new engine.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { KillswitchEngine } from '../../src/killswitch/engine.js';
import type { SwitchReport } from '../../src/killswitch/report.js';
import { QmpClient } from '../../src/qmp/client.js';
import { qomList, queryPci, queryStatus, type QmpPciDevice } from '../../src/qmp/commands.js';
import { Vigil } from '../../src/vigil.js';
import { guestYaml, testHome, type TestHome } from '../helpers/vigil-home.js';

// The guest brings eth0 up and prints its carrier twice a second: the guest's own view of set_link.
const CARRIER_LOOP = `modprobe virtio_pci; modprobe virtio_net
ip link set eth0 up
(while :; do echo "KS-CARRIER=$(cat /sys/class/net/eth0/carrier 2>/dev/null)"; sleep 0.5; done) &`;

// The deadline is generous: the guest's ACPI eject of rng0 takes ~90 ms here, but TCG on a loaded host can be slow.
const GADGETS = `nics:
  - type: user
devices:
  - { id: usbc, driver: qemu-xhci }
  - { id: kbd0, driver: usb-kbd, props: { bus: usbc.0 } }
  - { id: tab0, driver: usb-tablet, props: { bus: usbc.0 } }
  - { id: mic0, driver: usb-audio, props: { bus: usbc.0, audiodev: snd0 } }
  - { id: rp1, driver: pcie-root-port, props: { chassis: 1 } }
  - { id: rng0, driver: virtio-rng-pci, props: { bus: rp1 } }
extraArgs: [-audiodev, 'none,id=snd0']
killswitch:
  devices: all
  deadlineMs: 8000
`;

// SeaBIOS and nothing to boot: nothing in the guest will ever acknowledge a PCI unplug.
const BARE = `name: bare
memory: 128M
accel: tcg
devices:
  - { id: rp1, driver: pcie-root-port, props: { chassis: 1 } }
  - { id: rng1, driver: virtio-rng-pci, props: { bus: rp1 } }
  - { id: usbc, driver: qemu-xhci }
  - { id: kbd1, driver: usb-kbd, props: { bus: usbc.0 } }
killswitch:
  devices: [rng1, class:input]
  escalation: [pause]
  deadlineMs: 500
`;

let h: TestHome;
let vigil: Vigil;
let engine: KillswitchEngine;

function newEngine(): KillswitchEngine {
  return new KillswitchEngine({ db: vigil.db, vms: vigil.vms, audit: vigil.audit, paths: vigil.paths, logger: silentLogger });
}

async function withQmp<T>(vm: string, fn: (c: QmpClient) => Promise<T>): Promise<T> {
  const c = new QmpClient();
  await c.connect({ path: vigil.vms.files(vm).qmpSocket });
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

async function peripherals(vm: string): Promise<string[]> {
  return withQmp(vm, async (c) => (await qomList(c, '/machine/peripheral')).map((p) => p.name));
}

async function pciIds(vm: string): Promise<string[]> {
  const walk = (devices: QmpPciDevice[]): string[] => devices.flatMap((d) => [d.qdev_id, ...walk(d.pci_bridge?.devices ?? [])]);
  return withQmp(vm, async (c) => (await queryPci(c)).flatMap((bus) => walk(bus.devices)));
}

/** Waits for a carrier line printed after `from` characters of the serial log. */
async function carrierAfter(from: number, value: '0' | '1', timeoutMs = 20000): Promise<void> {
  const log = vigil.vms.files('gadgets').serialLog;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(log) && readFileSync(log, 'utf8').slice(from).includes(`KS-CARRIER=${value}`)) return;
    await sleep(100);
  }
  assert.fail(`the guest never reported carrier ${value}`);
}

function serialLength(): number {
  const log = vigil.vms.files('gadgets').serialLog;
  return existsSync(log) ? readFileSync(log, 'utf8').length : 0;
}

function vmOutcome(report: SwitchReport, vm: string): SwitchReport['vms'][number] {
  const out = report.vms.find((v) => v.vmName === vm);
  assert.ok(out, `no outcome for ${vm}`);
  return out;
}

before(async () => {
  h = await testHome(CARRIER_LOOP);
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  vigil.add([h.write('gadgets.yaml', guestYaml(h, 'gadgets', GADGETS))]);
  vigil.add([h.write('bare.yaml', BARE)]);
  await Promise.all([vigil.start('gadgets'), vigil.start('bare')]);
  await carrierAfter(0, '1', 120000);
  engine = newEngine();
});

after(() => {
  vigil?.close();
  h?.killAll();
});

test('the plan covers the configured devices and leaves controllers alone', async () => {
  const plan = await engine.plan();
  const gadgets = plan.vms.find((v) => v.vmName === 'gadgets');
  assert.deepEqual(gadgets?.devices.map((d) => `${d.deviceId}:${d.kind}:${d.class}:${d.action}`).sort(), [
    'kbd0:emulated:input:detach',
    'mic0:emulated:audio:detach',
    'net0:nic:network:link-down',
    'rng0:emulated:other:detach',
    'tab0:emulated:input:detach',
  ]);
  assert.deepEqual(gadgets?.devices.find((d) => d.deviceId === 'mic0')?.props, { driver: 'usb-audio', id: 'mic0', bus: 'usbc.0', audiodev: 'snd0' });
  const bare = plan.vms.find((v) => v.vmName === 'bare');
  assert.deepEqual(bare?.devices.map((d) => d.deviceId).sort(), ['kbd1', 'rng1']);
  assert.deepEqual(bare?.escalation, ['pause']);
});

test('engage cuts every device, escalates on the guest without an OS, persists; release restores', async () => {
  const from = serialLength();
  const first = engine.engage({ source: 'test' });
  const second = engine.engage({ source: 'test-again' });
  assert.equal(first, second, 'a concurrent engage joins the one in flight');
  assert.equal(engine.status().inFlight, 'engage');
  const report = await first;
  assert.equal(report.trigger.source, 'test');
  assert.equal(engine.status().state, 'engaged');

  const gadgets = vmOutcome(report, 'gadgets');
  assert.ok(gadgets.safe, JSON.stringify(gadgets));
  for (const d of gadgets.devices) assert.ok(['detached', 'link-down'].includes(d.outcome), `${d.device.deviceId}: ${d.outcome} ${d.error ?? ''}`);
  process.stdout.write(`# gadgets cut: ${gadgets.devices.map((d) => `${d.device.deviceId} ${d.elapsedMs.toFixed(1)} ms`).join(', ')}\n`);
  const gone = await peripherals('gadgets');
  for (const id of ['kbd0', 'tab0', 'mic0', 'rng0']) assert.ok(!gone.includes(id), `${id} is still in /machine/peripheral`);
  assert.ok(gone.includes('usbc') && gone.includes('rp1'), 'controllers stay');
  assert.ok(!(await pciIds('gadgets')).includes('rng0'), 'query-pci still lists rng0');
  await carrierAfter(from, '0');

  const bare = vmOutcome(report, 'bare');
  assert.ok(bare.safe);
  assert.equal(bare.devices.find((d) => d.device.deviceId === 'kbd1')?.outcome, 'detached');
  assert.equal(bare.devices.find((d) => d.device.deviceId === 'rng1')?.outcome, 'unconfirmed');
  const pause = bare.escalated[0];
  assert.equal(pause?.step, 'pause');
  assert.ok(pause.ok);
  process.stdout.write(`# bare VM paused by escalation ${pause.atMs.toFixed(1)} ms after its engage began (deadline 500 ms)\n`);
  assert.ok(pause.atMs < 500 + 500, `paused after ${pause.atMs} ms`);
  assert.equal((await withQmp('bare', (c) => queryStatus(c))).status, 'paused');
  assert.equal(vigil.vms.get('bare').state, 'paused');
  assert.ok(bare.pausedByKillswitch);

  // A new engine over the same store sees the persisted state.
  assert.equal(newEngine().status().state, 'engaged');
  const audit = vigil.audit.query({ kind: 'killswitch' });
  assert.equal(audit.length, 1);
  assert.equal(audit[0]?.command, 'killswitch engage');
  assert.ok(JSON.stringify(audit[0]?.args).includes('"outcome":"unconfirmed"'));

  const releaseFrom = serialLength();
  const released = await engine.release({ source: 'test' });
  assert.equal(engine.status().state, 'armed');
  assert.deepEqual(released.unrestored, []);
  const back = await peripherals('gadgets');
  for (const id of ['kbd0', 'tab0', 'mic0', 'rng0']) assert.ok(back.includes(id), `${id} did not come back`);
  assert.ok((await pciIds('gadgets')).includes('rng0'), 'query-pci does not list rng0 again');
  await carrierAfter(releaseFrom, '1');
  const bareBack = vmOutcome(released, 'bare');
  assert.ok(bareBack.resumed);
  assert.equal(bareBack.devices.find((d) => d.device.deviceId === 'rng1')?.outcome, 'still-attached');
  assert.equal(bareBack.devices.find((d) => d.device.deviceId === 'kbd1')?.outcome, 'attached');
  assert.ok((await peripherals('bare')).includes('kbd1'));
  assert.equal((await withQmp('bare', (c) => queryStatus(c))).status, 'running');
  assert.equal(vigil.audit.query({ kind: 'killswitch' }).length, 2);
});

test('a switch found engaging after a crash is engaged by recover(), through the second monitor when the first is held', async () => {
  vigil.db.prepare("UPDATE killswitch SET state = 'engaging'").run();
  const fresh = newEngine();
  // Someone holds the public monitor (a `vigil qmp ... events`): the engine must not wait for it.
  const holder = new QmpClient();
  await holder.connect({ path: vigil.vms.files('gadgets').qmpSocket });
  let report: SwitchReport | undefined;
  try {
    report = await fresh.recover();
  } finally {
    await holder.close();
  }
  assert.equal(report?.trigger.source, 'recovery');
  const gadgets = report ? vmOutcome(report, 'gadgets') : undefined;
  assert.ok(gadgets?.safe && gadgets.escalated.length === 0, JSON.stringify(gadgets));
  assert.equal(fresh.status().state, 'engaged');
  assert.ok(!(await peripherals('gadgets')).includes('kbd0'));
  const released = await fresh.release({ source: 'test' });
  assert.equal(fresh.status().state, 'armed');
  assert.ok(released.vms.every((v) => v.error === undefined));
  assert.ok((await peripherals('gadgets')).includes('kbd0'));
});
