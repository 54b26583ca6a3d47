import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runVigil } from '../helpers/cli.js';
import { sysfsFixture } from '../helpers/sysfs-fixture.js';

const home = mkdtempSync(join(tmpdir(), 'vigil-devices-'));
const env = { VIGIL_HOME: home };
const root = sysfsFixture();
after(() => rmSync(home, { recursive: true, force: true }));

function define(name: string, yaml: string): string {
  const file = join(home, `${name}.yaml`);
  writeFileSync(file, `name: ${name}\n${yaml}`);
  return file;
}

before(async () => {
  // The webcam by vendor:product, the HD Audio controller by a domain-less address, the microphone by bus and port.
  const files = [
    define('cam-vm', 'usb:\n  - vendor: "046d"\n    product: "082d"\n'),
    define('audio-vm', 'pci:\n  - address: "00:1f.3"\n'),
    define('mic-vm', 'usb:\n  - bus: 1\n    port: "4.2"\n'),
  ];
  for (const f of files) {
    const r = await runVigil(['vm', 'add', f], env);
    assert.equal(r.code, 0, r.stderr);
  }
});

test('vigil devices ls --root prints the classified table with the VMs naming each device', async () => {
  const r = await runVigil(['devices', 'ls', '--root', root], env);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^ID +CLASS +VENDOR:PRODUCT +NAME +DRIVER +IOMMU\/VFIO +ASSIGNED TO$/);
  assert.equal(lines.length, 1 + 6 + 13);
  const row = (id: string): string[] => {
    const line = lines.find((l) => l.startsWith(`${id} `));
    assert.ok(line, `a row for ${id}`);
    return line.split(/ {2,}/);
  };
  assert.deepEqual(row('usb:1-1'), ['usb:1-1', 'camera+audio', '046d:082d', 'HD Pro Webcam C920', 'uvcvideo,snd-usb-audio', '-', 'cam-vm']);
  assert.deepEqual(row('usb:1-4.2'), ['usb:1-4.2', 'audio+input', '0d8c:0014', 'C-Media Electronics Inc. USB Audio Device', 'snd-usb-audio,usbhid', '-', 'mic-vm']);
  assert.deepEqual(row('usb:1-4.3'), ['usb:1-4.3', 'input', '046d:c31c', 'Logitech USB Keyboard', 'usbhid', '-', '-']);
  assert.deepEqual(row('pci:0000:00:1f.3'), ['pci:0000:00:1f.3', 'audio', '8086:a348', 'Audio device', 'snd_hda_intel', '9 group-busy', 'audio-vm']);
  assert.deepEqual(row('pci:0000:00:1f.6'), ['pci:0000:00:1f.6', 'network', '8086:15b8', 'Ethernet controller', 'e1000e', '9 group-busy', '-']);
  assert.deepEqual(row('pci:0000:01:00.0'), ['pci:0000:01:00.0', 'display', '10de:1f82', 'VGA compatible controller', 'vfio-pci', '1 ready', '-']);
  assert.ok(lines.findIndex((l) => l.startsWith('usb:1-14 ')) < lines.findIndex((l) => l.startsWith('pci:')), 'USB first, then PCI');
});

test('vigil devices ls --json: every device with its classes, hex class codes and assignedTo', async () => {
  const r = await runVigil(['devices', 'ls', '--json', '--root', root], env);
  assert.equal(r.code, 0, r.stderr);
  type Json = Record<string, unknown> & { id: string; interfaces: unknown[]; vfioBlockers: { address: string }[] };
  const out = JSON.parse(r.stdout) as { usb: Json[]; pci: Json[] };
  assert.deepEqual(Object.keys(out), ['usb', 'pci']);
  assert.equal(out.usb.length, 6);
  assert.equal(out.pci.length, 13);
  const cam = out.usb.find((d) => d.id === 'usb:1-1')!;
  assert.deepEqual(
    { vendorId: cam.vendorId, productId: cam.productId, class: cam.class, classes: cam.classes, bus: cam.bus, port: cam.port, deviceClass: cam.deviceClass, assignedTo: cam.assignedTo },
    { vendorId: '046d', productId: '082d', class: 'camera', classes: ['camera', 'audio'], bus: 1, port: '1', deviceClass: '0xef', assignedTo: ['cam-vm'] },
  );
  assert.ok(!('manufacturer' in cam), 'an attribute the device lacks is left out');
  assert.deepEqual(cam.interfaces[0], { name: '1-1:1.0', classCode: '0x0e', subclass: '0x01', protocol: '0x00', driver: 'uvcvideo', class: 'camera' });
  const hda = out.pci.find((d) => d.id === 'pci:0000:00:1f.3')!;
  assert.deepEqual(
    { classCode: hda.classCode, class: hda.class, driver: hda.driver, iommuGroup: hda.iommuGroup, vfio: hda.vfio, assignedTo: hda.assignedTo },
    { classCode: '0x040300', class: 'audio', driver: 'snd_hda_intel', iommuGroup: 9, vfio: 'group-busy', assignedTo: ['audio-vm'] },
  );
  assert.deepEqual(hda.vfioBlockers.map((b) => b.address), ['0000:00:1f.4', '0000:00:1f.5', '0000:00:1f.6']);
  assert.deepEqual(out.usb.find((d) => d.id === 'usb:1-4.3')!.assignedTo, []);
});

test('a root without sysfs exits 8 with VIGIL_NOT_FOUND naming the path', async () => {
  const r = await runVigil(['devices', 'ls', '--root', join(home, 'nowhere')], env);
  assert.equal(r.code, 8);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^vigil: .*\/nowhere\/sys\/bus: no such directory; is sysfs mounted, and is the root .* right\? \[VIGIL_NOT_FOUND\]\n$/);
});
