/**
 * Hot-plug while engaged, on the fixture sysfs tree and a real QEMU: devices plugged into the fixture while the
 * switch is engaged and matching a rule are found by the rescan, recorded, audited and deauthorized
 * (`authorized` = 0 written in the tree); others are left alone; a VM start that would take one is refused;
 * release does not re-attach a usb-host that would take one, unless the host file says `on_release: allow`.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { isVigilError } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/log.js';
import { KillswitchEngine } from '../../../src/killswitch/engine.js';
import { killswitchHostFile, loadKillswitchHostConfig } from '../../../src/killswitch/host-file.js';
import { BlockedDevices, blockedAttachGuard, usbAuthorizedPath } from '../../../src/killswitch/hotplug/blocked.js';
import { hotplugRules } from '../../../src/killswitch/hotplug/rules.js';
import { HotplugWatcher } from '../../../src/killswitch/hotplug/watcher.js';
import { QmpClient } from '../../../src/qmp/client.js';
import { qomList } from '../../../src/qmp/commands.js';
import { Vigil } from '../../../src/vigil.js';
import { plugUsbDevice, sysfsFixture, type UsbDeviceSpec } from '../../helpers/sysfs-fixture.js';
import { testHome, type TestHome } from '../../helpers/vigil-home.js';

// The VM takes the host's webcam model (046d:082d) by vendor:product; no OS, USB only.
const VM = `name: cams
memory: 128M
accel: tcg
usb:
  - { id: cam0, vendor: '046d', product: '082d' }
devices:
  - { id: usbc, driver: qemu-xhci }
  - { id: kbd0, driver: usb-kbd, props: { bus: usbc.0 } }
killswitch:
  devices: [cam0, kbd0, class:camera]
`;

const camera = (name: string, devnum: number, vendor: string, product: string): UsbDeviceSpec => ({
  name,
  devnum,
  vendor,
  product,
  productName: 'Webcam',
  interfaces: [
    { id: '1.0', class: '0e', subclass: '01', protocol: '00', driver: 'uvcvideo' },
    { id: '1.1', class: '0e', subclass: '02', protocol: '00', driver: 'uvcvideo' },
  ],
});
const keyboard = (name: string, devnum: number): UsbDeviceSpec => ({ name, devnum, vendor: '046d', product: 'c31c', interfaces: [{ id: '1.0', class: '03', subclass: '01', protocol: '01', driver: 'usbhid' }] });

let h: TestHome;
let vigil: Vigil;
let engine: KillswitchEngine;
let watcher: HotplugWatcher;
let root: string;

async function peripherals(): Promise<string[]> {
  const c = new QmpClient();
  await c.connect({ path: vigil.vms.files('cams').qmpSocket });
  try {
    return (await qomList(c, '/machine/peripheral')).map((p) => p.name);
  } finally {
    await c.close();
  }
}

async function until<T>(fn: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const blocked = (): BlockedDevices => new BlockedDevices(vigil.paths);

before(async () => {
  root = sysfsFixture();
  h = await testHome();
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  vigil.add([h.write('cams.yaml', VM)]);
  await vigil.start('cams');
  mkdirSync(h.paths.config, { recursive: true });
  engine = new KillswitchEngine({ db: vigil.db, vms: vigil.vms, audit: vigil.audit, paths: vigil.paths, logger: silentLogger, attachGuard: blockedAttachGuard(vigil.paths, silentLogger, root) });
  const policy = { ...loadKillswitchHostConfig(vigil.paths).hotplug, rescan_ms: 100 };
  watcher = new HotplugWatcher({
    paths: vigil.paths,
    audit: vigil.audit,
    logger: silentLogger,
    state: () => engine.status().state,
    rules: () => hotplugRules(vigil.vms.list().map((v) => ({ name: v.name, definition: v.definition })), policy.rules),
    policy,
    root,
    udevadm: false,
  });
  await watcher.start();
});

after(async () => {
  await watcher?.stop();
  vigil?.close();
  h?.killAll();
});

test('while armed, a new camera is nobody’s business', async () => {
  plugUsbDevice(root, camera('1-4.4', 20, '046d', '0825'));
  assert.deepEqual(await watcher.scan(), []);
  assert.deepEqual(blocked().list(), []);
  assert.equal(existsSync(usbAuthorizedPath(root, { bus: 1, port: '4.4' })), false);
});

test('while engaged: matching devices are found by the rescan, recorded, audited and deauthorized; others are not', async () => {
  const report = await engine.engage({ source: 'test' });
  const cams = report.vms[0]!;
  assert.ok(cams.safe, JSON.stringify(cams));
  assert.deepEqual(cams.devices.map((d) => `${d.device.deviceId}:${d.outcome}`).sort(), ['cam0:detached', 'kbd0:detached']);

  const t0 = performance.now();
  plugUsbDevice(root, camera('1-2', 21, '046d', '082d')); // a second unit of the VM's own camera model
  plugUsbDevice(root, camera('1-4.5', 22, '1234', '5678')); // another camera: class:camera
  plugUsbDevice(root, keyboard('1-4.6', 23)); // no rule
  const found = await until(() => (blocked().list().length >= 2 ? blocked().list() : undefined), 'the periodic rescan blocks both cameras');
  process.stdout.write(`# plugged -> blocked by the periodic rescan (100 ms interval) in ${(performance.now() - t0).toFixed(0)} ms\n`);
  assert.deepEqual(found.map((b) => `${b.id}:${b.rule}:${b.class}:${b.deauthorized}`).sort(), ['usb:1-2:046d:082d:camera:true', 'usb:1-4.5:class:camera:camera:true']);
  for (const port of ['2', '4.5']) assert.equal(readFileSync(usbAuthorizedPath(root, { bus: 1, port }), 'utf8'), '0\n');
  assert.equal(existsSync(usbAuthorizedPath(root, { bus: 1, port: '4.6' })), false, 'the keyboard was deauthorized');
  // The camera plugged while armed is not new any more.
  assert.equal(existsSync(usbAuthorizedPath(root, { bus: 1, port: '4.4' })), false);
  const audit = vigil.audit.query({ kind: 'killswitch', command: 'killswitch block' });
  assert.equal(audit.length, 2);
  assert.match(audit.map((a) => a.reason).join('\n'), /usb:1-2 \(camera 046d:082d\) plugged while engaged matched 046d:082d/);
  // Rescans do not block twice.
  assert.deepEqual(await watcher.scan(), []);
});

test('a VM start that would take a blocked device is refused', async () => {
  vigil.add([h.write('taker.yaml', `name: taker\nmemory: 128M\naccel: tcg\nusb:\n  - { vendor: '046d', product: '082d' }\n`)]);
  await assert.rejects(vigil.start('taker'), (err) => isVigilError(err, 'VIGIL_DEVICE_BLOCKED') && /usb\.0 would attach usb:1-2/.test(err.message));
  assert.equal(vigil.vms.get('taker').state, 'defined', 'nothing was started');
});

test('release leaves out the usb-host that would take a blocked device; with on_release: allow it unblocks and re-attaches', async () => {
  const released = await engine.release({ source: 'test' });
  const cams = released.vms[0]!;
  assert.equal(cams.devices.find((d) => d.device.deviceId === 'cam0')?.outcome, 'blocked');
  assert.equal(cams.devices.find((d) => d.device.deviceId === 'kbd0')?.outcome, 'attached');
  assert.match(released.unrestored?.join('\n') ?? '', /cams\/cam0: not re-attached: it would take usb:1-2/);
  const now = await peripherals();
  assert.ok(!now.includes('cam0') && now.includes('kbd0'), now.join(','));
  assert.equal(blocked().list().length, 2, 'on_release: keep');

  await engine.engage({ source: 'test' });
  writeFileSync(killswitchHostFile(vigil.paths), 'hotplug:\n  on_release: allow\n');
  const again = await engine.release({ source: 'test' });
  assert.deepEqual(again.unrestored, []);
  assert.deepEqual(blocked().list(), []);
  for (const port of ['2', '4.5']) assert.equal(readFileSync(usbAuthorizedPath(root, { bus: 1, port }), 'utf8'), '1\n');
  assert.ok((await peripherals()).includes('cam0'));
});

test('a device judged again when its interfaces appear after it (the camera interface comes late)', async () => {
  await engine.engage({ source: 'test' });
  plugUsbDevice(root, { name: '1-4.7', devnum: 40, vendor: '9999', product: '0001', interfaces: [] });
  assert.deepEqual(await watcher.scan(), [], 'no interface yet: class other, no rule');
  const link = join(root, 'sys/bus/usb/devices/1-4.7');
  const iface = join(resolve(dirname(link), readlinkSync(link)), '1-4.7:1.0');
  mkdirSync(iface);
  for (const [f, v] of [['bInterfaceClass', '0e'], ['bInterfaceSubClass', '01'], ['bInterfaceProtocol', '00']] as const) writeFileSync(join(iface, f), `${v}\n`);
  const found = await watcher.scan();
  assert.deepEqual(found.map((b) => `${b.id}:${b.rule}`), ['usb:1-4.7:class:camera']);
  await engine.release({ source: 'test' });
});

test('a kernel uevent from udevadm triggers the rescan at once (udevadm stand-in: this host has none)', async () => {
  // The stand-in prints one event in udevadm's format half a second after it starts, then idles.
  const bin = join(h.home, 'udevadm');
  writeFileSync(bin, `#!/bin/sh\nsleep 0.5\nprintf 'monitor will print the received events for:\\nKERNEL - the kernel uevent\\n\\nKERNEL[5.1] add      /devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4.8 (usb)\\nACTION=add\\nDEVTYPE=usb_device\\n\\n'\nexec sleep 60\n`);
  chmodSync(bin, 0o755);
  await watcher.stop(); // the shared watcher's 100 ms rescan would find the device first
  await engine.engage({ source: 'test' });
  const policy = { ...loadKillswitchHostConfig(vigil.paths).hotplug, rescan_ms: 60000 };
  const w = new HotplugWatcher({ paths: vigil.paths, audit: vigil.audit, logger: silentLogger, state: () => engine.status().state, rules: () => hotplugRules([], ['class:camera']), policy, root, udevadm: bin });
  const started = await w.start();
  assert.equal(started.udev, true);
  try {
    plugUsbDevice(root, camera('1-4.8', 41, 'abcd', '0001'));
    // The periodic rescan is a minute away: only the event can find it this soon.
    const hit = await until(() => blocked().list().find((b) => b.id === 'usb:1-4.8'), 'the uevent-triggered rescan blocks the camera', 5000);
    assert.equal(hit.source, 'udev');
  } finally {
    await w.stop();
    await engine.release({ source: 'test' });
  }
});
