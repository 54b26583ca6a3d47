import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bootGuest, type Guest } from '../../guest/launch.js';
import { formatReport, probeQmpSocket, validateKillswitch, type ValidationProblem, type VigilVmSource } from '../../src/killswitch/validate.js';
import type { Vigil } from '../../src/vigil.js';
import { sysfsFixture } from '../helpers/sysfs-fixture.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/killswitch/', import.meta.url));
const SEED = join(FIXTURES, 'seed');
const BROKEN = join(FIXTURES, 'broken');

// validateKillswitch takes a real Vigil: it must fit the structural type validate asks for.
type VigilFits = Vigil extends VigilVmSource ? true : never;
const vigilFits: VigilFits = true;

const work = mkdtempSync(join(tmpdir(), 'vigil-ks-validate-'));
let guest: Guest;
let silent: Server;
let sysfs: string;

before(async () => {
  sysfs = sysfsFixture();
  guest = await bootGuest({ noOs: true, memoryMiB: 64 });
  // A Unix socket that accepts and then says nothing: what a serial console or a wrong socket looks like.
  silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(join(work, 'silent.sock'), resolve));
});

after(async () => {
  await guest?.stop();
  await new Promise<void>((resolve) => (silent ? silent.close(() => resolve()) : resolve()));
  rmSync(work, { recursive: true, force: true });
});

/** A config dir with seed 000's devices.yaml (verbatim) and its vms.yaml with qmp_socket replaced. */
function seedWithSocket(name: string, socket: string, devicesText?: string): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  if (devicesText === undefined) copyFileSync(join(SEED, 'devices.yaml'), join(dir, 'devices.yaml'));
  else writeFileSync(join(dir, 'devices.yaml'), devicesText);
  writeFileSync(join(dir, 'vms.yaml'), readFileSync(join(SEED, 'vms.yaml'), 'utf8').replace('/tmp/qmp-workstation.sock', socket));
  return dir;
}

const brief = (p: ValidationProblem): string => `${p.file === undefined ? 'host' : `${p.file.slice(p.file.lastIndexOf('/') + 1)}:${p.line ?? '-'}:${p.col ?? '-'}`} ${p.severity} ${p.code}`;

test("seed 000's example as written: the Intel HDA is found, the 046d:0825 webcam is absent with the fix", async () => {
  assert.equal(vigilFits, true);
  const report = await validateKillswitch({ configDir: SEED, sysfsRoot: sysfs });
  assert.equal(report.ok, false);
  const absent = report.problems.filter((p) => p.code === 'device-absent');
  assert.deepEqual(absent.map(brief), ['devices.yaml:11:5 error device-absent']);
  assert.equal(absent[0]!.message, 'device "Webcam" (USB 046d:0825) is not plugged into this host');
  assert.match(absent[0]!.fix, /046d:082d \(HD Pro Webcam C920\) at usb 1-1/);
  // The seed's socket path is not ours to create: whatever state it is in, it is reported only as a QMP problem.
  assert.ok(report.problems.every((p) => p.code === 'device-absent' || p.code.startsWith('qmp-')));
  if (!existsSync('/tmp/qmp-workstation.sock')) assert.ok(report.problems.some((p) => p.code === 'qmp-missing' && p.line === 3 && p.col === 17));
});

test('with a live QEMU behind qmp_socket the only problem left is the absent webcam; fixing its id makes it OK', async () => {
  const dir = seedWithSocket('live', guest.qmpSocket);
  const report = await validateKillswitch({ configDir: dir, sysfsRoot: sysfs });
  assert.deepEqual(report.problems.map(brief), ['devices.yaml:11:5 error device-absent']);
  assert.equal(
    formatReport(report),
    [
      `${join(dir, 'devices.yaml')}:11:5: error: device "Webcam" (USB 046d:0825) is not plugged into this host [device-absent]`,
      '  fix: plug it in, or correct the ids: this host has from vendor 046d: 046d:082d (HD Pro Webcam C920) at usb 1-1, 046d:c31c (USB Keyboard) at usb 1-4.3; if one of these is "Webcam", set vendor_id/product_id to it',
      'FAILED: 1 error, 0 warnings, 0 notes (checked 2 devices, 1 VM, 1 QMP socket)',
    ].join('\n'),
  );

  const fixed = seedWithSocket('fixed', guest.qmpSocket, readFileSync(join(SEED, 'devices.yaml'), 'utf8').replace('"0825"', '"082d"'));
  const ok = await validateKillswitch({ configDir: fixed, sysfsRoot: sysfs });
  assert.deepEqual(ok.problems, []);
  assert.equal(ok.ok, true);
  assert.equal(formatReport(ok), `${fixed}: kill switch configuration OK (checked 2 devices, 1 VM, 1 QMP socket)`);
});

test('QMP sockets: reachable, missing, not a socket, refusing (stale), not speaking QMP; all probed at once within ~1 s', async () => {
  const stale = join(work, 'stale.sock');
  // A socket file nobody listens on any more: what a crashed QEMU leaves behind.
  // A child that listens and is SIGKILLed before it can unlink the socket (a clean close would remove it).
  spawnSync(process.execPath, ['-e', "require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))", stale]);
  assert.ok(existsSync(stale));
  const plain = join(work, 'plain-file');
  writeFileSync(plain, 'not a socket\n');
  const sockets = { live: guest.qmpSocket, missing: join(work, 'nope', 'qmp.sock'), plain, stale, silent: join(work, 'silent.sock') };

  const dir = join(work, 'sockets');
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(SEED, 'devices.yaml'), join(dir, 'devices.yaml'));
  const names = Object.keys(sockets) as (keyof typeof sockets)[];
  writeFileSync(
    join(dir, 'vms.yaml'),
    [
      'virtual_machines:',
      '  - name: "workstation"',
      `    qmp_socket: "${sockets.live}"`,
      '    devices: ["Intel HDA"]',
      ...names.slice(1).flatMap((n) => [`  - name: "${n}"`, `    qmp_socket: "${sockets[n]}"`]),
      '',
    ].join('\n'),
  );
  const started = Date.now();
  const report = await validateKillswitch({ configDir: dir, sysfsRoot: sysfs });
  const took = Date.now() - started;
  assert.deepEqual(
    report.problems.filter((p) => p.code.startsWith('qmp-')).map((p) => `${brief(p)} ${p.message.slice(0, p.message.indexOf(':'))}`),
    ['vms.yaml:6:17 error qmp-missing VM "missing"', 'vms.yaml:8:17 error qmp-not-socket VM "plain"', 'vms.yaml:10:17 error qmp-refused VM "stale"', 'vms.yaml:12:17 error qmp-not-qmp VM "silent"'],
  );
  const byCode = new Map(report.problems.map((p) => [p.code, p]));
  assert.match(byCode.get('qmp-not-qmp')!.message, /does not speak QMP \(no QMP greeting within 1000 ms\)/);
  assert.match(byCode.get('qmp-missing')!.fix, /-qmp unix:.*\/nope\/qmp\.sock,server,nowait/);
  assert.match(byCode.get('qmp-refused')!.message, /stale socket/);
  assert.ok(took < 2500, `probes ran in parallel with a 1 s timeout, took ${took} ms`);
  assert.deepEqual(await probeQmpSocket(guest.qmpSocket), { ok: true });
  // The live monitor is still usable afterwards: the probe closed its connection.
  assert.deepEqual(await probeQmpSocket(guest.qmpSocket), { ok: true });
});

test('every problem of a broken configuration at once, with Vigil definitions that claim a seed device', async () => {
  const vigil: VigilVmSource = {
    list: () => [
      { name: 'gpu-vm', definition: { usb: [], pci: [{ address: '00:1f.3' }], nics: [] } },
      // Same name as the seed's target: the same VM, so no conflict.
      { name: 'workstation', definition: { usb: [{ vendor: '046d', product: '082d' }], pci: [], nics: [] } },
    ],
  };
  const report = await validateKillswitch({ configDir: BROKEN, sysfsRoot: sysfs, vigil });
  assert.equal(report.ok, false);
  assert.deepEqual(report.problems.map((p) => `${brief(p)} ${p.field ?? ''}`), [
    'devices.yaml:6:16 error device-two-vms target_vm',
    'devices.yaml:8:9 error device-absent id',
    'devices.yaml:15:16 error unknown-vm target_vm',
    'devices.yaml:27:9 error duplicate-id id',
    'devices.yaml:28:11 error duplicate-name name',
    // The second webcam entry conflicts twice: with the first entry (seed files) and with Vigil's "workstation".
    'devices.yaml:29:16 error device-two-vms target_vm',
    'devices.yaml:29:16 error device-two-vms target_vm',
    'devices.yaml:30:11 error config-invalid video_devices.2.type',
    'devices.yaml:33:5 error config-invalid video_devices.2.serial',
    'devices.yaml:35:1 note config-note network_devices',
    'devices.yaml:41:1 error config-invalid misc',
    'vms.yaml:3:17 error qmp-missing qmp_socket',
    'vms.yaml:7:9 error unknown-device devices.2',
    'vms.yaml:8:9 warning target-vm-mismatch devices.3',
    'vms.yaml:10:17 error qmp-missing qmp_socket',
    'vms.yaml:12:9 error device-two-vms devices.0',
    'vms.yaml:13:5 error config-invalid virtual_machines.2.qmp_socket',
    'vms.yaml:14:5 error config-invalid virtual_machines.2.qmp',
  ]);
  for (const p of report.problems) assert.ok(p.fix.length > 0 && p.message.length > 0, brief(p));
  const text = formatReport(report);
  assert.match(text, /devices\.yaml:6:16: error: target_vm: device "Intel HDA" \(PCI 0000:00:1f\.3\) targets "workstation" but Vigil's definition of "gpu-vm" passes it through too \[device-two-vms\]\n {2}fix: remove it from the usb\/pci list of gpu-vm/);
  assert.match(text, /devices\.yaml:8:9: error: id: device "Rear audio" \(PCI 0000:00:1f\.7\) does not exist on this host \[device-absent\]\n {2}fix: correct id: audio PCI functions on this host: 00:1f\.3 \(Audio device\), 01:00\.1 \(Audio device\)/);
  assert.match(text, /vms\.yaml:8:9: warning: devices\.3: VM "workstation" lists device "NIC", but its target_vm is "media"/);
  // "Old cam" and "lab" are invalid entries: their own problem is reported, references to them are not.
  assert.ok(!text.includes('"lab"') && !text.includes('"Old cam"'));
  assert.match(text, /devices\.yaml:29:16: error: target_vm: device "Webcam" \(USB 046d:082d\) targets "media" but Vigil's definition of "workstation" passes it through too/);
  assert.match(text, /\nFAILED: 16 errors, 1 warning, 1 note \(checked 6 devices, 2 VMs, 2 QMP sockets\)$/);
});

test('an unreadable host inventory is one problem; everything else is still checked', async () => {
  const dir = seedWithSocket('no-sysfs', guest.qmpSocket);
  const report = await validateKillswitch({ configDir: dir, sysfsRoot: join(work, 'no-such-root') });
  assert.deepEqual(report.problems.map(brief), ['host error inventory-unreadable']);
  assert.match(formatReport(report), /^host: error: cannot read the host device inventory: .*no such directory/);
});
