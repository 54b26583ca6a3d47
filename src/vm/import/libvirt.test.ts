import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { isVigilError } from '../../core/errors.js';
import { vmDefinitionSchema } from '../definition/schema.js';
import { importLibvirtDomain, type LibvirtImport } from './libvirt.js';

const fixture = (name: string): string => readFileSync(new URL(`../../../test/fixtures/libvirt/${name}`, import.meta.url), 'utf8');

function importOk(xml: string, source = 'domain.xml'): LibvirtImport {
  const result = importLibvirtDomain(xml, source);
  const checked = vmDefinitionSchema.safeParse(result.definition);
  assert.ok(checked.success, checked.success ? '' : JSON.stringify(checked.error.issues));
  assert.deepEqual(parse(result.yaml), result.definition, 'the YAML text holds the same definition');
  for (const s of result.skipped) assert.match(s.path, /^\/domain(\/[^/]+)*$/, `XPath-like location: ${s.path}`);
  return result;
}

const domain = (inner: string, type = 'kvm'): string => `<domain type='${type}'>\n  <name>t1</name>\n${inner}\n</domain>\n`;

function reason(result: LibvirtImport, path: string): string {
  const hit = result.skipped.find((s) => s.path === path);
  assert.ok(hit, `${path} is listed as skipped; got:\n${result.skipped.map((s) => s.path).join('\n')}`);
  return hit.reason;
}

test('a virt-manager q35 UEFI desktop maps to a valid definition', () => {
  const r = importOk(fixture('desktop-q35-uefi.xml'), 'desktop-q35-uefi.xml');
  assert.deepEqual(r.definition, {
    name: 'fedora40',
    memory: '8G',
    cpus: 4,
    cpu: 'host',
    machine: 'q35',
    accel: 'kvm',
    firmware: { type: 'uefi', code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
    disks: [{ id: 'vda', file: '/var/lib/libvirt/images/fedora40.qcow2', format: 'qcow2', bus: 'virtio' }],
    nics: [{ type: 'user', mac: '52:54:00:6b:3c:58', model: 'virtio' }],
    usb: [{ vendor: '046d', product: '0825' }],
    pci: [{ address: '0000:01:00.0' }],
    devices: [{ driver: 'virtio-balloon-pci' }, { driver: 'virtio-rng-pci' }],
    serial: { log: true },
    display: 'none',
  });
});

test('the desktop lists what it drops, with reasons, and none of the runtime state', () => {
  const r = importOk(fixture('desktop-q35-uefi.xml'));
  assert.match(reason(r, '/domain/devices/disk[2]'), /CD-ROM .*Fedora-Workstation.*\.iso.*no CD-ROM/);
  assert.match(reason(r, '/domain/devices/interface/source/@network'), /NAT network 'default' becomes QEMU user networking.*type: bridge, bridge: virbr0/);
  assert.match(reason(r, '/domain/devices/graphics'), /SPICE is not supported/);
  assert.match(reason(r, '/domain/devices/sound'), /sound card \(ich9\)/);
  assert.match(reason(r, '/domain/devices/video'), /virtio/);
  assert.match(reason(r, '/domain/devices/channel[1]'), /guest agent/);
  assert.match(reason(r, '/domain/devices/redirdev[2]'), /SPICE/);
  assert.match(reason(r, '/domain/devices/input[1]'), /tablet/);
  assert.match(reason(r, '/domain/uuid'), /SMBIOS system UUID/);
  assert.match(reason(r, '/domain/os/type/@machine'), /pc-q35-8\.2/);
  assert.match(reason(r, '/domain/os/nvram'), /fedora40_VARS\.fd/);
  assert.match(reason(r, '/domain/seclabel[1]'), /selinux/);
  assert.match(reason(r, '/domain/clock/timer[3]'), /hpet \(present=no\)/);
  assert.match(reason(r, "/domain/devices/controller[@type='pci']"), /^8 pci controllers \(pcie-root, pcie-root-port\)/);
  assert.match(reason(r, '/domain/devices/*/address'), /^6 guest-side device addresses/);
  assert.match(reason(r, '/domain/devices/disk[1]/driver/@discard'), /TRIM/);
  assert.match(reason(r, '/domain/devices/memballoon/stats'), /statistics/);
  const paths = r.skipped.map((s) => s.path).join('\n');
  // Runtime state of a running domain and settings that are Vigil's defaults are dropped without a line.
  for (const quiet of ['/@id', 'alias', '/target', 'emulator', 'console', '/serial', 'features/acpi', 'features/apic', 'os/boot', 'on_', 'resource', 'currentMemory', 'watchdog', 'hostdev', 'input[2]', 'input[3]', 'backingStore']) {
    assert.ok(!paths.includes(quiet), `${quiet} should not be listed:\n${paths}`);
  }
  assert.equal(new Set(r.skipped.map((s) => s.path)).size, r.skipped.length, 'each location is listed once');
});

test('a server with block, nvme and sata disks, bridge+VLAN, macvtap, a VF, vsock and direct kernel boot', () => {
  const r = importOk(fixture('server-direct-kernel.xml'));
  assert.deepEqual(r.definition, {
    name: 'db01',
    description: 'PostgreSQL 16 primary (platform team)',
    memory: '32G',
    cpus: 8,
    cpu: 'host',
    machine: 'pc',
    accel: 'kvm',
    boot: {
      kernel: '/var/lib/vigil/images/db01/vmlinuz-6.1.0-18-amd64',
      initrd: '/var/lib/vigil/images/db01/initrd.img-6.1.0-18-amd64',
      cmdline: 'console=ttyS0,115200n8 root=UUID=8f2d6c1a-4b3e-4d59-9a7f-1e0c5b8d2f64 ro quiet',
    },
    disks: [
      { id: 'vda', device: '/dev/disk/by-uuid/5b1e9c7d-2a4f-4e68-b3d1-9f0a6c2e8d47', format: 'raw', cache: 'none', bus: 'virtio' },
      { id: 'nvme0n1', file: '/srv/vm/db01/wal.qcow2', format: 'qcow2', cache: 'writethrough', bus: 'nvme', serial: 'DB01WAL0001' },
      { id: 'sda', file: '/srv/vm/db01/scratch.img', format: 'raw', cache: 'writeback', bus: 'sata' },
    ],
    nics: [
      { type: 'bridge', bridge: 'br0', mac: '52:54:00:a1:b2:c3', model: 'virtio', vlan: 42 },
      { type: 'macvtap', macvtap: 'macvtap0', mac: '52:54:00:d4:e5:f6', model: 'virtio', link: 'down' },
      { type: 'vf', address: '0000:3b:02.1', mac: '52:54:00:11:22:33', vlan: 100 },
    ],
    vsock: { cid: 42 },
    devices: [{ driver: 'i6300esb' }, { driver: 'virtio-rng-pci', props: { 'max-bytes': 1024, period: 1000 } }, { driver: 'pvpanic' }],
    serial: { log: true },
    display: 'vnc',
    autostart: { restart: { policy: 'on-failure' } },
  });
  assert.match(reason(r, '/domain/devices/interface[1]/virtualport'), /Open vSwitch/);
  assert.match(reason(r, '/domain/devices/interface[2]/source'), /ip link add link enp3s0f0 name macvtap0 type macvtap mode bridge/);
  assert.match(reason(r, '/domain/cpu/topology'), /cores=4 threads=2/);
  assert.match(reason(r, '/domain/memoryBacking'), /hugepages/);
  assert.match(reason(r, '/domain/devices/disk[1]/driver/@io'), /io='native'/);
  assert.match(reason(r, '/domain/devices/graphics/@listen'), /127\.0\.0\.1/);
  assert.match(reason(r, "/domain/devices/controller[@type='nvme']"), /nvme controller/);
});

test('the YAML starts with comments naming the source and every skipped location', () => {
  const r = importOk(fixture('server-direct-kernel.xml'), '/tmp/db01.xml');
  const comments = r.yaml.split('\n').filter((l) => l.startsWith('#'));
  assert.match(comments[0] ?? '', /^# Imported from \/tmp\/db01\.xml by `vigil import libvirt`/);
  assert.match(comments[1] ?? '', new RegExp(`Not carried over \\(${r.skipped.length}\\)`));
  for (const s of r.skipped) assert.ok(comments.some((c) => c.includes(`${s.path}: ${s.reason}`)), s.path);
  assert.ok(r.yaml.indexOf('name: db01') > r.yaml.lastIndexOf('#'), 'comments come first');
});

test('a minimal domain carries over with nothing skipped', () => {
  const r = importOk(domain("  <memory>524288</memory>\n  <vcpu>2</vcpu>\n  <os><type arch='x86_64' machine='q35'>hvm</type></os>", 'qemu'));
  assert.deepEqual(r.definition, { name: 't1', memory: '512M', cpus: 2, machine: 'q35', accel: 'tcg', display: 'none' });
  assert.deepEqual(r.skipped, []);
  assert.match(r.yaml, /Everything in the libvirt domain was carried over/);
});

test('memory units follow libvirt: KiB by default, k/KiB/M/GiB binary, KB/MB/GB decimal, bytes', () => {
  const cases: [string, string | undefined][] = [
    ['<memory>1048576</memory>', '1G'],
    ["<memory unit='KiB'>786432</memory>", '768M'],
    ["<memory unit='k'>2097152</memory>", '2G'],
    ["<memory unit='MiB'>1536</memory>", '1536M'],
    ["<memory unit='M'>4096</memory>", '4G'],
    ["<memory unit='GiB'>16</memory>", '16G'],
    ["<memory unit='G'>2</memory>", '2G'],
    ["<memory unit='TiB'>1</memory>", '1024G'],
    ["<memory unit='bytes'>268435456</memory>", '256M'],
    ["<memory unit='b'>1073741824</memory>", '1G'],
    ["<memory unit='GB'>1</memory>", '954M'],
    ["<memory unit='MB'>1000</memory>", '954M'],
    ["<memory unit='KB'>1024000</memory>", '977M'],
  ];
  for (const [xml, want] of cases) {
    const r = importOk(domain(`  ${xml}`));
    assert.equal(r.definition.memory, want, xml);
  }
  const rounded = importOk(domain("  <memory unit='GB'>1</memory>"));
  assert.match(reason(rounded, '/domain/memory'), /rounded up to 954 MiB/);
  const bad = importOk(domain("  <memory unit='furlongs'>3</memory>"));
  assert.equal(bad.definition.memory, undefined);
  assert.match(reason(bad, '/domain/memory'), /not a size/);
});

test('machine, accel and CPU mode mapping', () => {
  const i440 = importOk(domain("  <os><type arch='x86_64' machine='pc-i440fx-9.0'>hvm</type></os>\n  <cpu mode='maximum'/>", 'qemu'));
  assert.equal(i440.definition.machine, 'pc');
  assert.equal(i440.definition.accel, 'tcg');
  assert.equal(i440.definition.cpu, 'max');
  const custom = importOk(domain("  <cpu mode='custom' match='exact' check='partial'><model fallback='allow'>Skylake-Server-IBRS</model><feature policy='require' name='pcid'/></cpu>"));
  assert.equal(custom.definition.cpu, 'Skylake-Server-IBRS');
  assert.match(reason(custom, '/domain/cpu/feature'), /feature flags/);
  const hostModel = importOk(domain("  <cpu mode='host-model' check='partial'/>"));
  assert.equal(hostModel.definition.cpu, undefined);
  assert.match(reason(hostModel, '/domain/cpu/@mode'), /host-model/);
  const xen = importOk(domain('', 'xen'));
  assert.equal(xen.definition.accel, undefined);
  assert.match(reason(xen, '/domain/@type'), /xen/);
});

test('lifecycle actions become the restart policy where they map', () => {
  const always = importOk(domain('  <on_poweroff>restart</on_poweroff>\n  <on_reboot>restart</on_reboot>\n  <on_crash>restart</on_crash>'));
  assert.deepEqual(always.definition.autostart, { restart: { policy: 'always' } });
  const none = importOk(domain('  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>destroy</on_reboot>\n  <on_crash>preserve</on_crash>'));
  assert.equal(none.definition.autostart, undefined);
  assert.match(reason(none, '/domain/on_reboot'), /on_reboot destroy is not offered/);
  assert.match(reason(none, '/domain/on_crash'), /on_crash preserve/);
});

test('UEFI from a pflash loader with Secure Boot, and a BIOS loader ROM', () => {
  const sb = importOk(
    domain(
      "  <os firmware='efi'><type arch='x86_64' machine='q35'>hvm</type><firmware><feature enabled='yes' name='secure-boot'/></firmware>" +
        "<loader readonly='yes' secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.secboot.fd</loader><nvram template='/usr/share/OVMF/OVMF_VARS_4M.ms.fd'/></os>",
    ),
  );
  assert.deepEqual(sb.definition.firmware, { type: 'uefi', code: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd' });
  assert.match(reason(sb, '/domain/os/loader/@secure'), /SMM/);
  assert.match(reason(sb, '/domain/os/firmware/feature'), /secure-boot/);
  const efiOnly = importOk(domain("  <os firmware='efi'><type>hvm</type></os>"));
  assert.deepEqual(efiOnly.definition.firmware, { type: 'uefi' });
  const bios = importOk(domain("  <os><type>hvm</type><loader type='rom'>/usr/share/seabios/bios-256k.bin</loader><boot dev='cdrom'/><boot dev='hd'/><bootmenu enable='yes'/></os>"));
  assert.equal(bios.definition.firmware, undefined);
  assert.match(reason(bios, '/domain/os/loader'), /rom loader/);
  assert.match(reason(bios, '/domain/os/boot[1]'), /boot device order/);
  assert.match(reason(bios, '/domain/os/bootmenu'), /boot menu/);
});

test('disks: unstable block paths, foreign formats, other buses, network sources and cdroms', () => {
  const r = importOk(
    domain(`  <devices>
    <disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/sdb'/><target dev='vdb' bus='virtio'/></disk>
    <disk type='block' device='disk'><source dev='/dev/mapper/vg0-data'/><target dev='vdc' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='vmdk'/><source file='/images/old.vmdk'/><target dev='vdd' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='unsafe'/><source file='/images/win.qcow2'/><target dev='hda' bus='ide'/><boot order='1'/></disk>
    <disk type='network' device='disk'><source protocol='rbd' name='pool/img'/><target dev='vde' bus='virtio'/></disk>
    <disk type='volume' device='disk'><source pool='default' volume='x.qcow2'/><target dev='vdf' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><target dev='sdb' bus='sata'/><readonly/></disk>
    <disk type='file' device='disk'><source file='/images/long.raw'/><target dev='vdg' bus='scsi'/><serial>ABCDEFGHIJKLMNOPQRSTUVWXYZ</serial><shareable/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/images/ro.img'/><target dev='sdc' bus='scsi'/><readonly/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/dup.qcow2'/><target dev='vdg' bus='virtio'/></disk>
  </devices>`),
  );
  assert.deepEqual(r.definition.disks, [
    { id: 'hda', file: '/images/win.qcow2', format: 'qcow2', bus: 'sata' },
    { id: 'vdg', file: '/images/long.raw', format: 'raw', bus: 'sata', serial: 'ABCDEFGHIJKLMNOPQRST' },
    { id: 'sdc', file: '/images/ro.img', format: 'raw', bus: 'virtio', readonly: true },
    { file: '/images/dup.qcow2', format: 'qcow2', bus: 'virtio' },
  ]);
  assert.match(reason(r, '/domain/devices/disk[9]/target/@bus'), /read-only scsi disk is carried over on virtio/);
  assert.match(reason(r, '/domain/devices/disk[1]'), /\/dev\/sdb is not named by a stable path.*grep sdb/);
  assert.match(reason(r, '/domain/devices/disk[2]'), /\/dev\/disk\/by-id\/dm-name-vg0-data/);
  assert.match(reason(r, '/domain/devices/disk[3]'), /format vmdk.*qemu-img convert/);
  assert.match(reason(r, '/domain/devices/disk[4]/driver/@cache'), /unsafe/);
  assert.match(reason(r, '/domain/devices/disk[4]/target/@bus'), /ide .*sata/);
  assert.match(reason(r, '/domain/devices/disk[4]/boot'), /boot order/);
  assert.match(reason(r, '/domain/devices/disk[5]'), /type network/);
  assert.match(reason(r, '/domain/devices/disk[6]'), /virsh vol-path --pool default x\.qcow2/);
  assert.match(reason(r, '/domain/devices/disk[7]'), /CD-ROM \(empty\)/);
  assert.match(reason(r, '/domain/devices/disk[8]/serial'), /cut to 20/);
  assert.match(reason(r, '/domain/devices/disk[8]/shareable'), /shared disks/);
});

test('interfaces: e1000, ethernet taps, user port forwards, VLAN trunks, unknown types', () => {
  const r = importOk(
    domain(`  <devices>
    <interface type='ethernet'><mac address='52:54:00:AA:BB:CC'/><target dev='tap7' managed='no'/><model type='e1000'/></interface>
    <interface type='user'><backend type='passt'/><portForward proto='tcp'><range start='2222' to='22'/></portForward><model type='virtio'/></interface>
    <interface type='bridge'><source bridge='br1'/><vlan trunk='yes'><tag id='10'/><tag id='20'/></vlan><model type='vmxnet3'/><mtu size='9000'/></interface>
    <interface type='vhostuser'><source type='unix' path='/run/vhost.sock' mode='client'/></interface>
    <interface type='network'><source network='ovs-net'/><vlan><tag id='7'/></vlan></interface>
    <interface type='hostdev' managed='yes'><source><address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x2'/></source><link state='down'/></interface>
    <interface type='user'><portForward proto='tcp' address='::1'><range start='8080' to='80'/></portForward></interface>
  </devices>`),
  );
  assert.deepEqual(r.definition.nics, [
    { type: 'tap', ifname: 'tap7', mac: '52:54:00:aa:bb:cc', model: 'e1000e' },
    { type: 'user', forward: [{ protocol: 'tcp', hostPort: 2222, guestPort: 22 }], model: 'virtio' },
    { type: 'bridge', bridge: 'br1' },
    { type: 'user' },
    { type: 'vf', address: '0000:03:10.2' },
    { type: 'user' },
  ]);
  assert.match(reason(r, '/domain/devices/interface[5]/vlan'), /user networking/);
  assert.match(reason(r, '/domain/devices/interface[6]/link/@state'), /ip link set PF vf N state disable/);
  assert.match(reason(r, '/domain/devices/interface[7]/portForward/range'), /IPv4 only/);
  assert.match(reason(r, '/domain/devices/interface[1]/model/@type'), /e1000e/);
  assert.match(reason(r, '/domain/devices/interface[2]/backend'), /passt/);
  assert.match(reason(r, '/domain/devices/interface[3]/vlan'), /trunk \(tags 10, 20\)/);
  assert.match(reason(r, '/domain/devices/interface[3]/model/@type'), /vmxnet3/);
  assert.match(reason(r, '/domain/devices/interface[3]/mtu'), /MTU/);
  assert.match(reason(r, '/domain/devices/interface[4]'), /vhostuser interface/);
});

test('host devices: USB by bus/device needs bus and port; other hostdev kinds are skipped', () => {
  const r = importOk(
    domain(`  <devices>
    <hostdev mode='subsystem' type='usb' managed='yes'><source><address bus='3' device='7'/></source></hostdev>
    <hostdev mode='subsystem' type='usb' managed='yes'><source startupPolicy='optional'><vendor id='0x1050'/><product id='0x0407'/></source></hostdev>
    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x82' slot='0x1f' function='0x7'/></source><rom bar='off'/></hostdev>
    <hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source></hostdev>
  </devices>`),
  );
  assert.deepEqual(r.definition.usb, [{ vendor: '1050', product: '0407' }]);
  assert.deepEqual(r.definition.pci, [{ address: '0000:82:1f.7' }]);
  assert.match(reason(r, '/domain/devices/hostdev[1]'), /bus 3 device 7.*changes on every replug.*bus and port.*lsusb -t/);
  assert.match(reason(r, '/domain/devices/hostdev[2]/source/@startupPolicy'), /optional/);
  assert.match(reason(r, '/domain/devices/hostdev[3]/rom'), /<rom> has no Vigil equivalent/);
  assert.match(reason(r, '/domain/devices/hostdev[4]'), /mdev host device/);
});

test('emulated devices, consoles and vsock', () => {
  const r = importOk(
    domain(`  <devices>
    <serial type='tcp'><source mode='bind' host='0.0.0.0' service='4555'/><target port='0'/></serial>
    <serial type='pty'><target port='1'/></serial>
    <console type='pty'><target type='virtio' port='0'/></console>
    <input type='tablet' bus='virtio'/>
    <memballoon model='virtio' autodeflate='on' freePageReporting='on'/>
    <rng model='virtio'><backend model='egd' type='tcp'><source mode='connect' host='1.2.3.4' service='708'/></backend></rng>
    <watchdog model='itco' action='poweroff'/>
    <vsock model='virtio'><cid auto='yes'/></vsock>
    <graphics type='vnc' port='5901' passwd='hunter2'/>
    <tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>
    <filesystem type='mount' accessmode='passthrough'><driver type='virtiofs'/><source dir='/srv/share'/><target dir='share'/></filesystem>
    <frobnicator level='9'/>
  </devices>`),
  );
  assert.deepEqual(r.definition.devices, [
    { driver: 'virtio-tablet-pci' },
    { driver: 'virtio-balloon-pci', props: { 'deflate-on-oom': true, 'free-page-reporting': true } },
    { driver: 'virtio-rng-pci' },
  ]);
  assert.deepEqual(r.definition.serial, { log: true });
  assert.equal(r.definition.display, 'vnc');
  assert.equal(r.definition.vsock, undefined);
  assert.match(reason(r, '/domain/devices/serial[1]/source'), /tcp console backend/);
  assert.match(reason(r, '/domain/devices/serial[2]'), /serial port 1/);
  assert.match(reason(r, '/domain/devices/console'), /virtio console/);
  assert.match(reason(r, '/domain/devices/rng/backend'), /egd/);
  assert.match(reason(r, '/domain/devices/watchdog'), /itco watchdog.*q35/);
  assert.match(reason(r, '/domain/devices/vsock'), /automatic CID.*fixed CID/);
  assert.match(reason(r, '/domain/devices/graphics/@port'), /fixed VNC port 5901/);
  const passwd = reason(r, '/domain/devices/graphics/@passwd');
  assert.ok(!passwd.includes('hunter2') && !r.yaml.includes('hunter2'), 'a VNC password is never echoed');
  assert.match(reason(r, '/domain/devices/tpm'), /TPM/);
  assert.match(reason(r, '/domain/devices/filesystem'), /virtiofs/);
  assert.match(reason(r, '/domain/devices/frobnicator'), /<frobnicator> has no Vigil equivalent/);
});

test('a libvirt name Vigil does not accept is renamed, with a note', () => {
  const r = importOk("<domain type='kvm'><name>my test vm (copy)</name></domain>");
  assert.equal(r.definition.name, 'my-test-vm-copy');
  assert.match(reason(r, '/domain/name'), /renamed 'my test vm \(copy\)' to 'my-test-vm-copy'/);
});

test('malformed XML is refused with the line and column', () => {
  assert.throws(
    () => importLibvirtDomain("<domain type='kvm'>\n  <name>x</nam>\n</domain>\n", 'bad.xml'),
    (err) => isVigilError(err, 'VIGIL_INVALID_INPUT') && /^bad\.xml:2:\d+: not well-formed XML: .*name/.test(err.message) && err.context.line === 2,
  );
  assert.throws(() => importLibvirtDomain("<domain type='kvm'><name a=1>x</name></domain>", 'bad.xml'), (err) => isVigilError(err, 'VIGIL_INVALID_INPUT') && /bad\.xml:1:\d+/.test(err.message));
  assert.throws(() => importLibvirtDomain('', 'empty.xml'), (err) => isVigilError(err, 'VIGIL_INVALID_INPUT') && /empty\.xml/.test(err.message));
});

test('a document that is not a domain, or a domain without a name, is refused', () => {
  assert.throws(
    () => importLibvirtDomain("<network><name>default</name></network>", 'net.xml'),
    (err) => isVigilError(err, 'VIGIL_INVALID_INPUT') && /root element is <network>, not <domain>/.test(err.message),
  );
  assert.throws(() => importLibvirtDomain("<domain type='kvm'/>", 'x.xml'), (err) => isVigilError(err, 'VIGIL_INVALID_INPUT') && /no <name>/.test(err.message));
});

test('a mapped definition that fails the schema is refused with the field and why', () => {
  assert.throws(
    () => importLibvirtDomain(domain('  <os><type>hvm</type><kernel>vmlinuz</kernel></os>'), 'rel.xml'),
    (err) => isVigilError(err, 'VIGIL_INVALID_INPUT') && /rel\.xml: the imported definition does not validate:\n {2}boot\.kernel: use an absolute path/.test(err.message),
  );
});
