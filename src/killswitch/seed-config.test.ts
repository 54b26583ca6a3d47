import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { isVigilError } from '../core/errors.js';
import { loadSeedConfig, readSeedConfig, type SeedProblem } from './seed-config.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/killswitch/', import.meta.url));
const SEED = join(FIXTURES, 'seed');
const BROKEN = join(FIXTURES, 'broken');

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-ks-seed-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const base = (file: string): string => file.slice(file.lastIndexOf('/') + 1);
const brief = (p: SeedProblem): string => `${base(p.file)}:${p.line ?? '-'}:${p.col ?? '-'} ${p.severity} ${p.path}: ${p.message}`;

test("seed 000's own example loads as written, normalized", () => {
  const config = loadSeedConfig(SEED);
  assert.deepEqual(
    config.devices.map(({ at: _a, nameAt: _n, idAt: _i, targetVmAt: _t, ...d }) => d),
    [
      { key: '00:1f.3', type: 'pci', id: '00:1f.3', address: '0000:00:1f.3', name: 'Intel HDA', targetVm: 'workstation', class: 'audio' },
      { key: 'usb-video-camera', type: 'usb', id: 'usb-video-camera', vendorId: '046d', productId: '0825', name: 'Webcam', targetVm: 'workstation', class: 'video' },
    ],
  );
  assert.deepEqual(
    config.vms.map(({ at: _a, qmpSocketAt: _q, deviceAt: _d, ...v }) => v),
    [{ name: 'workstation', qmpSocket: '/tmp/qmp-workstation.sock', devices: ['Intel HDA', 'Webcam'] }],
  );
  // Positions point into the files: the HDA entry starts on line 5, the webcam's target_vm value is at 16:16.
  assert.deepEqual(config.devices[0]!.at, { file: join(SEED, 'devices.yaml'), line: 5, col: 5 });
  assert.deepEqual(config.devices[1]!.targetVmAt, { file: join(SEED, 'devices.yaml'), line: 16, col: 16 });
  assert.deepEqual(config.vms[0]!.deviceAt.map((p) => p.line), [5, 6]);
});

test('every schema problem of both files at once, each at file:line:col with a fix; valid entries survive', () => {
  const read = readSeedConfig(BROKEN);
  assert.deepEqual(read.problems.map(brief), [
    'devices.yaml:30:11 error video_devices.2.type: Invalid option: expected one of "usb"|"pci"',
    'devices.yaml:33:5 error video_devices.2.serial: unknown field "serial": remove it (the fields allowed here are type, id, vendor_id, product_id, name, target_vm)',
    `devices.yaml:35:1 note network_devices: "network_devices" is not one of seed 000's lists (audio_devices, video_devices); its devices are taken with class "network"`,
    'devices.yaml:41:1 error misc: unknown field "misc": devices.yaml holds only <class>_devices lists',
    'vms.yaml:13:5 error virtual_machines.2.qmp_socket: required: add "qmp_socket" (string)',
    'vms.yaml:14:5 error virtual_machines.2.qmp: unknown field "qmp": remove it (the fields allowed here are name, qmp_socket, devices)',
  ]);
  for (const p of read.problems) assert.notEqual(p.fix, '', `no fix for ${brief(p)}`);
  assert.equal(read.problems[0]!.fix, 'write type: usb or type: pci');
  assert.deepEqual(read.config.devices.map((d) => `${d.class}/${d.name}`), ['audio/Intel HDA', 'audio/Rear audio', 'audio/USB Mic', 'video/Webcam', 'video/Webcam', 'network/NIC']);
  assert.deepEqual(read.config.vms.map((v) => v.name), ['workstation', 'media']);
  assert.deepEqual(read.invalidNames, { devices: ['Old cam'], vms: ['lab'] });
});

test('loadSeedConfig throws VIGIL_CONFIG_INVALID with every error (notes do not fail a load)', () => {
  assert.throws(
    () => loadSeedConfig(BROKEN),
    (err: unknown) => {
      assert.ok(isVigilError(err, 'VIGIL_CONFIG_INVALID'));
      assert.equal((err.context.problems as SeedProblem[]).length, 5);
      assert.match(err.message, /devices\.yaml:30:11: video_devices\.2\.type: /);
      return true;
    },
  );
  const dir = dirWith({
    'devices.yaml': 'camera_devices:\n  - type: usb\n    vendor_id: "046D"\n    product_id: "082D"\n    name: "C920"\n    target_vm: "w"\n',
    'vms.yaml': 'virtual_machines:\n  - name: "w"\n    qmp_socket: "/run/w.sock"\n',
  });
  const config = loadSeedConfig(dir);
  assert.deepEqual(
    config.devices.map((d) => [d.key, d.class, d.vendorId, d.productId]),
    [['C920', 'camera', '046d', '082d']],
  );
  assert.deepEqual(config.vms[0]!.devices, []);
});

test('per-type rules: PCI needs an address and no USB ids; USB needs vendor_id and product_id', () => {
  const dir = dirWith({
    'devices.yaml': [
      'audio_devices:',
      '  - type: pci',
      '    id: "1f.3"',
      '    vendor_id: "8086"',
      '    name: "HDA"',
      '    target_vm: "w"',
      '  - type: pci',
      '    name: "HDA2"',
      '    target_vm: "w"',
      'video_devices:',
      '  - type: usb',
      '    vendor_id: "46d"',
      '    name: "Cam"',
      '    target_vm: "w"',
      '',
    ].join('\n'),
    'vms.yaml': 'virtual_machines:\n  - name: "w"\n    qmp_socket: "/run/w.sock"\n    devices: ["HDA"]\n',
  });
  assert.deepEqual(readSeedConfig(dir).problems.map(brief), [
    'devices.yaml:3:9 error audio_devices.0.id: "1f.3" is not a PCI address: write it as lspci shows it, "00:1f.3" or "0000:00:1f.3"',
    'devices.yaml:4:16 error audio_devices.0.vendor_id: a PCI device is found by its address ("id"), not by vendor_id: remove it',
    'devices.yaml:7:5 error audio_devices.1.id: required: a PCI device needs "id", its address as lspci shows it ("00:1f.3")',
    'devices.yaml:11:5 error video_devices.0.product_id: required: a USB device needs "product_id" (lsusb shows ID vendor:product, e.g. 046d:0825)',
    'devices.yaml:12:16 error video_devices.0.vendor_id: write the USB vendor id as 4 hex digits in quotes, e.g. "046d"',
  ]);
});

test('missing, empty, non-map and unparsable files are problems, not exceptions', () => {
  const missing = readSeedConfig(dirWith({}));
  assert.deepEqual(missing.problems.map((p) => `${base(p.file)} ${p.message}`), ['devices.yaml the file does not exist', 'vms.yaml the file does not exist']);
  assert.match(missing.problems[1]!.fix, /^create it, e\.g\.:\nvirtual_machines:/);

  const odd = readSeedConfig(dirWith({ 'devices.yaml': '# nothing yet\n', 'vms.yaml': 'virtual_machines: [\n' }));
  assert.deepEqual(odd.problems.map((p) => `${base(p.file)}:${p.line} ${p.message.split(':')[0]!}`), ['devices.yaml:1 the file is empty', 'vms.yaml:2 YAML syntax']);

  const list = readSeedConfig(dirWith({ 'devices.yaml': '- a\n', 'vms.yaml': 'vms:\n  - name: w\n' }));
  assert.deepEqual(list.problems.map((p) => p.message), [
    'the top level is not a map',
    'unknown field "vms": did you mean "virtual_machines"?',
    'required: add "virtual_machines" (a list of VMs)',
  ]);

  // A billion-laughs document is refused, not expanded.
  const laughs = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`)].join('\n');
  const bomb = readSeedConfig(dirWith({ 'devices.yaml': `${laughs}\n`, 'vms.yaml': 'virtual_machines: []\n' }));
  assert.deepEqual(bomb.problems.map((p) => `${base(p.file)}:${p.line} ${p.message.slice(0, 28)}`), ['devices.yaml:1 cannot expand the document: ']);
});
