import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readInventory } from '../../src/sysfs/inventory.js';
import type { HostDevice } from '../../src/sysfs/types.js';
import { vmsNamingDevice, type DefinedVm } from '../../src/vm/host-devices.js';
import { sysfsFixture } from '../helpers/sysfs-fixture.js';

const vm = (name: string, definition: Partial<DefinedVm['definition']>): DefinedVm => ({ name, definition: { usb: [], pci: [], nics: [], ...definition } });

const VMS: DefinedVm[] = [
  vm('cam', { usb: [{ vendor: '0x046D', product: '082d' }] }),
  vm('mic-by-port', { usb: [{ bus: 1, port: '4.2' }] }),
  vm('hda', { pci: [{ address: '00:1f.3' }] }),
  vm('gpu', { pci: [{ address: '0000:01:00.0' }, { address: '0000:01:00.1' }] }),
  vm('vf', { nics: [{ type: 'vf', address: '0000:00:1F.6', model: 'virtio', link: 'up', forward: [] }] }),
  vm('kbd-wrong-port', { usb: [{ bus: 2, port: '4.3' }] }),
];

test('VMs naming each fixture device: USB by vendor:product (any spelling) or bus/port, PCI by address or VF NIC', async () => {
  const inv = await readInventory(sysfsFixture());
  const assigned = Object.fromEntries([...inv.usb, ...inv.pci].map((d: HostDevice) => [d.id, vmsNamingDevice(d, VMS)]));
  assert.deepEqual(assigned, {
    'usb:1-1': ['cam'],
    'usb:1-3': [],
    'usb:1-4': [],
    'usb:1-4.2': ['mic-by-port'],
    'usb:1-4.3': [],
    'usb:1-14': [],
    'pci:0000:00:00.0': [],
    'pci:0000:00:01.0': [],
    'pci:0000:00:02.0': [],
    'pci:0000:00:14.0': [],
    'pci:0000:00:14.2': [],
    'pci:0000:00:17.0': [],
    'pci:0000:00:1f.0': [],
    'pci:0000:00:1f.3': ['hda'],
    'pci:0000:00:1f.4': [],
    'pci:0000:00:1f.5': [],
    'pci:0000:00:1f.6': ['vf'],
    'pci:0000:01:00.0': ['gpu'],
    'pci:0000:01:00.1': ['gpu'],
  });
});

test('a USB device without a readable vendor id matches no vendor:product entry', async () => {
  const inv = await readInventory(sysfsFixture());
  const cam = inv.usb.find((d) => d.id === 'usb:1-1')!;
  assert.deepEqual(vmsNamingDevice({ ...cam, vendorId: undefined }, VMS), []);
  assert.deepEqual(vmsNamingDevice(cam, [...VMS, vm('cam2', { usb: [{ vendor: '046d', product: '082d' }] })]), ['cam', 'cam2']);
});
