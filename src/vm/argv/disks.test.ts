import assert from 'node:assert/strict';
import { test } from 'node:test';
import { vmDefinitionSchema, type VmDefinitionInput } from '../definition/schema.js';
import { buildQemuArgv } from './build.js';
import { CACHE_MODES, diskFormat } from './disks.js';

function argv(input: Omit<VmDefinitionInput, 'name'>): string[] {
  const def = vmDefinitionSchema.parse({ name: 'db', ...input });
  return buildQemuArgv(def, { qemuBinary: 'qemu-system-x86_64', runtimeDir: '/run/db', stateDir: '/state/db', accel: 'kvm', macs: {}, daemonize: false });
}

/** Every argument that follows `flag`. */
function values(args: readonly string[], flag: string): string[] {
  return args.flatMap((a, i) => (i > 0 && args[i - 1] === flag ? [a] : []));
}

test('a qcow2 file on virtio: file node, format node, virtio-blk-pci on the format node', () => {
  const args = argv({ disks: [{ file: '/var/lib/vigil/images/db.qcow2' }] });
  assert.deepEqual(values(args, '-blockdev'), [
    'driver=file,node-name=blk0-file,filename=/var/lib/vigil/images/db.qcow2,cache.direct=off',
    'driver=qcow2,node-name=blk0-format,file=blk0-file,cache.direct=off',
  ]);
  assert.deepEqual(values(args, '-device'), ['virtio-blk-pci,id=disk0,drive=blk0-format,write-cache=on']);
});

test('cache modes: none = O_DIRECT with a guest-visible write cache; writethrough = no write cache', () => {
  const none = argv({ disks: [{ file: '/i/a.raw', cache: 'none' }] });
  assert.deepEqual(values(none, '-blockdev'), ['driver=file,node-name=blk0-file,filename=/i/a.raw,cache.direct=on', 'driver=raw,node-name=blk0-format,file=blk0-file,cache.direct=on']);
  assert.deepEqual(values(none, '-device'), ['virtio-blk-pci,id=disk0,drive=blk0-format,write-cache=on']);
  const wt = argv({ disks: [{ file: '/i/a.raw', cache: 'writethrough' }] });
  assert.deepEqual(values(wt, '-blockdev'), ['driver=file,node-name=blk0-file,filename=/i/a.raw,cache.direct=off', 'driver=raw,node-name=blk0-format,file=blk0-file,cache.direct=off']);
  assert.deepEqual(values(wt, '-device'), ['virtio-blk-pci,id=disk0,drive=blk0-format,write-cache=off']);
  assert.deepEqual(CACHE_MODES.writeback, { direct: false, writeCache: true });
});

test('read-only: both nodes read-only', () => {
  const args = argv({ disks: [{ id: 'ref', file: '/i/ref.img', readonly: true }] });
  assert.deepEqual(values(args, '-blockdev'), [
    'driver=file,node-name=blk0-file,filename=/i/ref.img,cache.direct=off,read-only=on',
    'driver=raw,node-name=blk0-format,file=blk0-file,cache.direct=off,read-only=on',
  ]);
  assert.deepEqual(values(args, '-device'), ['virtio-blk-pci,id=ref,drive=blk0-format,write-cache=on']);
});

test('a host block device by stable path: host_device driver, raw unless told', () => {
  const args = argv({ disks: [{ id: 'vault', device: '/dev/disk/by-uuid/41f02abc', cache: 'none', serial: 'VAULT-1' }] });
  assert.deepEqual(values(args, '-blockdev'), [
    'driver=host_device,node-name=blk0-file,filename=/dev/disk/by-uuid/41f02abc,cache.direct=on',
    'driver=raw,node-name=blk0-format,file=blk0-file,cache.direct=on',
  ]);
  assert.deepEqual(values(args, '-device'), ['virtio-blk-pci,id=vault,drive=blk0-format,write-cache=on,serial=VAULT-1']);
});

test('the format: the field first, then the extension', () => {
  const parse = (disk: object): ReturnType<typeof diskFormat> => diskFormat(vmDefinitionSchema.parse({ name: 'x', disks: [disk] }).disks[0]!);
  assert.equal(parse({ file: '/i/a.qcow2' }), 'qcow2');
  assert.equal(parse({ file: '/i/a.IMG' }), 'raw');
  assert.equal(parse({ file: '/i/a.iso' }), 'raw');
  assert.equal(parse({ file: '/i/a.disk', format: 'qcow2' }), 'qcow2');
  assert.equal(parse({ device: '/dev/disk/by-id/x', format: 'qcow2' }), 'qcow2');
});

test('NVMe gets a serial: the one given, else the id cut to 20 characters', () => {
  assert.deepEqual(values(argv({ disks: [{ id: 'system', file: '/i/a.qcow2', bus: 'nvme', serial: 'FS-1' }] }), '-device'), ['nvme,id=system,drive=blk0-format,write-cache=on,serial=FS-1']);
  assert.deepEqual(values(argv({ disks: [{ id: 'a-very-long-disk-identifier', file: '/i/a.qcow2', bus: 'nvme' }] }), '-device'), [
    'nvme,id=a-very-long-disk-identifier,drive=blk0-format,write-cache=on,serial=a-very-long-disk-ide',
  ]);
});

test("SATA on q35 uses the built-in AHCI's ide.N buses, in order", () => {
  const args = argv({ disks: [{ file: '/i/a.raw', bus: 'sata' }, { file: '/i/b.qcow2' }, { file: '/i/c.raw', bus: 'sata', serial: 'S3' }] });
  assert.deepEqual(values(args, '-device'), [
    'ide-hd,id=disk0,drive=blk0-format,write-cache=on,bus=ide.0',
    'virtio-blk-pci,id=disk1,drive=blk1-format,write-cache=on',
    'ide-hd,id=disk2,drive=blk2-format,write-cache=on,bus=ide.1,serial=S3',
  ]);
});

test('SATA on pc (i440fx) gets an AHCI controller of its own', () => {
  const args = argv({ machine: 'pc', disks: [{ file: '/i/a.raw', bus: 'sata' }, { file: '/i/b.raw', bus: 'sata' }] });
  assert.deepEqual(values(args, '-device'), ['ahci,id=ahci', 'ide-hd,id=disk0,drive=blk0-format,write-cache=on,bus=ahci.0', 'ide-hd,id=disk1,drive=blk1-format,write-cache=on,bus=ahci.1']);
});
