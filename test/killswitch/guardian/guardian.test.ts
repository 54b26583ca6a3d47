/**
 * The fail-safe guardian against the real vigild and real QEMU: a clean SIGTERM of vigild leaves the VMs alone;
 * a SIGKILL makes the guardian cut every device of the failsafe VM (query-pci and qom-list confirm), engage the
 * switch and audit it with source `guardian`, while a VM without `failsafe` keeps its devices; after a release
 * and a restart of vigild, a second SIGKILL is handled again.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../../src/core/log.js';
import { KillswitchEngine } from '../../../src/killswitch/engine.js';
import { killswitchHostFile } from '../../../src/killswitch/host-file.js';
import { BlockedDevices, usbAuthorizedPath } from '../../../src/killswitch/hotplug/blocked.js';
import { QmpClient } from '../../../src/qmp/client.js';
import { qomList, queryPci, type QmpPciDevice } from '../../../src/qmp/commands.js';
import { Vigil } from '../../../src/vigil.js';
import { plugUsbDevice, sysfsFixture } from '../../helpers/sysfs-fixture.js';
import { guestYaml, testHome, type TestHome } from '../../helpers/vigil-home.js';
import { startVigild, type Vigild } from '../../helpers/vigild.js';
import { startGuardianProcess, type GuardianProcess } from './guardian-process.js';

const FAILSAFE = `devices:
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
  failsafe: true
`;

// No OS, no failsafe: the guardian must leave it alone.
const OTHER = `name: other
memory: 128M
accel: tcg
devices:
  - { id: usbc, driver: qemu-xhci }
  - { id: kbd1, driver: usb-kbd, props: { bus: usbc.0 } }
killswitch:
  devices: all
`;

let h: TestHome;
let vigil: Vigil;
let guardian: GuardianProcess;
let root: string;

async function withQmp<T>(vm: string, fn: (c: QmpClient) => Promise<T>): Promise<T> {
  const c = new QmpClient();
  await c.connect({ path: vigil.vms.files(vm).qmpSocket });
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

const peripherals = (vm: string): Promise<string[]> => withQmp(vm, async (c) => (await qomList(c, '/machine/peripheral')).map((p) => p.name));

async function pciIds(vm: string): Promise<string[]> {
  const walk = (devices: QmpPciDevice[]): string[] => devices.flatMap((d) => [d.qdev_id, ...walk(d.pci_bridge?.devices ?? [])]);
  return withQmp(vm, async (c) => (await queryPci(c)).flatMap((bus) => walk(bus.devices)));
}

async function upVigild(): Promise<Vigild> {
  const d = startVigild({ ...h.env, VMM_API_PORT: '0' });
  await d.waitForLog((l) => l.msg === 'vigild ready', 120000);
  const pid = d.process.pid;
  await guardian.waitForLog((l) => l.msg === 'watching vigild' && l.pid === pid, 10000);
  return d;
}

const engineFor = (): KillswitchEngine => new KillswitchEngine({ db: vigil.db, vms: vigil.vms, audit: vigil.audit, paths: vigil.paths, logger: silentLogger });

before(async () => {
  h = await testHome();
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  vigil.add([h.write('fs.yaml', guestYaml(h, 'fs', FAILSAFE))]);
  vigil.add([h.write('other.yaml', OTHER)]);
  await Promise.all([vigil.start('fs'), vigil.start('other')]);
  root = sysfsFixture();
  mkdirSync(h.paths.config, { recursive: true });
  writeFileSync(killswitchHostFile(h.paths), 'hotplug:\n  rules: [class:camera]\n  rescan_ms: 100\n');
  guardian = startGuardianProcess({ ...h.env, VIGIL_SYSFS_ROOT: root });
  await guardian.waitForLog((l) => l.msg === 'vigil-guardian ready');
  await guardian.waitForLog((l) => l.msg === 'hot-plug watch started');
});

after(() => {
  guardian?.process.kill('SIGTERM');
  vigil?.close();
  h?.killAll();
});

test('a clean SIGTERM of vigild does not engage the kill switch', async () => {
  const d = await upVigild();
  d.process.kill('SIGTERM');
  assert.equal(await d.exited, 0);
  await guardian.waitForLog((l) => l.msg === 'vigild stopped cleanly' && l.pid === d.process.pid, 10000);
  // Give a wrong decision time to show.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(engineFor().status().state, 'armed');
  assert.equal(vigil.audit.query({ kind: 'killswitch' }).length, 0);
  assert.ok((await peripherals('fs')).includes('kbd0'));
});

async function killAndExpectEngage(round: number): Promise<number> {
  const d = await upVigild();
  const pid = d.process.pid;
  const killedAt = Date.now();
  d.process.kill('SIGKILL');
  const line = await guardian.waitForLog((l) => l.msg === 'guardian engaged the kill switch' && l.pid === pid, 30000);
  const latency = (line.doneAt as number) - killedAt;
  process.stdout.write(`# round ${round}: vigild SIGKILL -> devices cut, switch engaged, audited: ${latency} ms (detected ${(line.detectedAt as number) - killedAt} ms after the kill)\n`);
  assert.equal(line.safe, true);

  const gone = await peripherals('fs');
  for (const id of ['kbd0', 'tab0', 'mic0', 'rng0']) assert.ok(!gone.includes(id), `${id} is still in /machine/peripheral`);
  assert.ok(!(await pciIds('fs')).includes('rng0'), 'query-pci still lists rng0');
  assert.ok((await peripherals('other')).includes('kbd1'), 'the VM without failsafe lost its keyboard');
  const status = engineFor().status();
  assert.equal(status.state, 'engaged');
  assert.equal(status.trigger?.source, 'guardian');
  assert.deepEqual(status.report?.vms.map((v) => v.vmName), ['fs']);
  const audit = vigil.audit.query({ kind: 'killswitch' });
  const last = audit[audit.length - 1];
  assert.equal(last?.command, 'killswitch engage');
  assert.equal(last?.principal, 'vigil:guardian');
  assert.equal((last?.args.trigger as { source: string }).source, 'guardian');
  assert.match(String((last?.args.trigger as { detail: string }).detail), new RegExp(`pid ${pid}.*liveness socket closed`));
  return latency;
}

test('SIGKILL of vigild: the guardian cuts the failsafe VM, engages, audits; after release and restart, again', async () => {
  await killAndExpectEngage(1);
  // Engaged with vigild dead: the guardian's hot-plug watch blocks a camera plugged now.
  plugUsbDevice(root, { name: '1-4.4', devnum: 30, vendor: '1234', product: '5678', interfaces: [{ id: '1.0', class: '0e', subclass: '01', protocol: '00' }] });
  await guardian.waitForLog((l) => l.msg === 'kill switch engaged: new device blocked' && l.device === 'usb:1-4.4', 10000);
  assert.deepEqual(new BlockedDevices(vigil.paths).list().map((b) => `${b.id}:${b.rule}:${b.deauthorized}`), ['usb:1-4.4:class:camera:true']);
  assert.equal(readFileSync(usbAuthorizedPath(root, { bus: 1, port: '4.4' }), 'utf8'), '0\n');
  const released = await engineFor().release({ source: 'test' });
  assert.deepEqual(released.unrestored, []);
  assert.ok((await peripherals('fs')).includes('kbd0'));
  assert.ok((await pciIds('fs')).includes('rng0'));
  await killAndExpectEngage(2);
  assert.equal(vigil.audit.query({ kind: 'killswitch', command: 'killswitch engage' }).length, 2);
});
