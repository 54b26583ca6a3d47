import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isVigilError } from '../../src/core/errors.js';
import { findDevice, readInventory } from '../../src/sysfs/inventory.js';
import type { PciDevice, UsbDevice } from '../../src/sysfs/types.js';
import { bindPciDriver, plugUsbDevice, sysfsFixture, unplugUsbDevice } from '../helpers/sysfs-fixture.js';

const FIXTURE = sysfsFixture();

function usb(devices: UsbDevice[], id: string): UsbDevice {
  const d = devices.find((x) => x.id === id);
  assert.ok(d, `${id} is in the inventory`);
  return d;
}

function pci(devices: PciDevice[], address: string): PciDevice {
  const d = devices.find((x) => x.address === address);
  assert.ok(d, `${address} is in the inventory`);
  return d;
}

test('every USB device is found (root hubs and interfaces left out), ordered by bus and port', async () => {
  const inv = await readInventory(FIXTURE);
  assert.deepEqual(
    inv.usb.map((d) => `${d.id} ${d.class} ${d.vendorId}:${d.productId}`),
    [
      'usb:1-1 camera 046d:082d',
      'usb:1-3 network 0bda:8812',
      'usb:1-4 other 05e3:0608',
      'usb:1-4.2 audio 0d8c:0014',
      'usb:1-4.3 input 046d:c31c',
      'usb:1-14 bluetooth 8087:0aaa',
    ],
  );
});

test('every PCI function is found and classified', async () => {
  const inv = await readInventory(FIXTURE);
  assert.deepEqual(
    inv.pci.map((d) => `${d.id} ${d.class} ${d.vendorId}:${d.deviceId} ${d.driver ?? '-'}`),
    [
      'pci:0000:00:00.0 other 8086:3e30 skl_uncore',
      'pci:0000:00:01.0 other 8086:1901 pcieport',
      'pci:0000:00:02.0 display 8086:3e92 i915',
      'pci:0000:00:14.0 other 8086:a36d xhci_hcd',
      'pci:0000:00:14.2 other 8086:a36f -',
      'pci:0000:00:17.0 storage 8086:a352 ahci',
      'pci:0000:00:1f.0 other 8086:a306 -',
      'pci:0000:00:1f.3 audio 8086:a348 snd_hda_intel',
      'pci:0000:00:1f.4 other 8086:a323 i801_smbus',
      'pci:0000:00:1f.5 other 8086:a324 intel-spi',
      'pci:0000:00:1f.6 network 8086:15b8 e1000e',
      'pci:0000:01:00.0 display 10de:1f82 vfio-pci',
      'pci:0000:01:00.1 audio 10de:10fa vfio-pci',
    ],
  );
});

test('the C920 is a composite device: camera wins over its microphone, both classes reported', async () => {
  const cam = usb((await readInventory(FIXTURE)).usb, 'usb:1-1');
  assert.deepEqual(
    { ...cam, interfaces: undefined },
    {
      kind: 'usb',
      id: 'usb:1-1',
      bus: 1,
      port: '1',
      devnum: 2,
      vendorId: '046d',
      productId: '082d',
      // The C920 has no manufacturer string descriptor, so sysfs has no file: undefined, not an error.
      manufacturer: undefined,
      product: 'HD Pro Webcam C920',
      serial: '8A3F5E1C',
      deviceClass: 0xef,
      interfaces: undefined,
      class: 'camera',
      classes: ['camera', 'audio'],
      drivers: ['uvcvideo', 'snd-usb-audio'],
    },
  );
  assert.deepEqual(
    cam.interfaces.map((i) => [i.name, i.classCode, i.subclass, i.protocol, i.driver, i.class]),
    [
      ['1-1:1.0', 0x0e, 0x01, 0x00, 'uvcvideo', 'camera'],
      ['1-1:1.1', 0x0e, 0x02, 0x00, 'uvcvideo', 'camera'],
      ['1-1:1.2', 0x01, 0x01, 0x00, 'snd-usb-audio', 'audio'],
      ['1-1:1.3', 0x01, 0x02, 0x00, 'snd-usb-audio', 'audio'],
    ],
  );
});

test('the microphone behind a hub: port path 4.2, audio over its HID buttons; keyboard, Wi-Fi, Bluetooth, hub', async () => {
  const inv = await readInventory(FIXTURE);
  const mic = usb(inv.usb, 'usb:1-4.2');
  assert.deepEqual([mic.bus, mic.port, mic.devnum, mic.class, mic.classes], [1, '4.2', 5, 'audio', ['audio', 'input']]);
  assert.deepEqual([mic.manufacturer, mic.product, mic.serial], ['C-Media Electronics Inc.', 'USB Audio Device', undefined]);
  const kbd = usb(inv.usb, 'usb:1-4.3');
  assert.deepEqual([kbd.class, kbd.classes, kbd.drivers, kbd.product], ['input', ['input'], ['usbhid'], 'USB Keyboard']);
  // A vendor-specific (0xff) interface: the net device its driver registered makes it a network device.
  const wifi = usb(inv.usb, 'usb:1-3');
  assert.deepEqual([wifi.interfaces[0]?.classCode, wifi.class], [0xff, 'network']);
  const bt = usb(inv.usb, 'usb:1-14');
  assert.deepEqual([bt.class, bt.deviceClass, bt.manufacturer, bt.product], ['bluetooth', 0xe0, undefined, undefined]);
  assert.deepEqual(usb(inv.usb, 'usb:1-4').classes, ['other']);
});

test('the HDA controller: ids, class code, driver, IOMMU group shared with host-driven chipset functions', async () => {
  const hda = pci((await readInventory(FIXTURE)).pci, '0000:00:1f.3');
  assert.deepEqual(hda, {
    kind: 'pci',
    id: 'pci:0000:00:1f.3',
    address: '0000:00:1f.3',
    vendorId: '8086',
    deviceId: 'a348',
    subsystemVendorId: '1028',
    subsystemDeviceId: '085a',
    classCode: 0x040300,
    className: 'Audio device',
    driver: 'snd_hda_intel',
    iommuGroup: 9,
    class: 'audio',
    vfio: 'group-busy',
    // 00:1f.0 has no driver, so it does not block; the others are held by host drivers.
    vfioBlockers: [
      { address: '0000:00:1f.4', driver: 'i801_smbus' },
      { address: '0000:00:1f.5', driver: 'intel-spi' },
      { address: '0000:00:1f.6', driver: 'e1000e' },
    ],
  });
  const nic = pci((await readInventory(FIXTURE)).pci, '0000:00:1f.6');
  assert.deepEqual([nic.class, nic.className, nic.driver, nic.iommuGroup, nic.vfio], ['network', 'Ethernet controller', 'e1000e', 9, 'group-busy']);
});

test('vfio readiness: a GPU on vfio-pci behind a pcieport bridge is ready; a clean group needs only a bind', async () => {
  const inv = await readInventory(FIXTURE);
  assert.deepEqual([pci(inv.pci, '0000:01:00.0').vfio, pci(inv.pci, '0000:01:00.1').vfio], ['ready', 'ready']);
  assert.equal(pci(inv.pci, '0000:00:02.0').vfio, 'bind-needed');
  // The xHCI controller shares group 4 with a driverless SRAM function, which does not get in the way.
  assert.equal(pci(inv.pci, '0000:00:14.0').vfio, 'bind-needed');
  assert.equal(pci(inv.pci, '0000:00:14.2').vfio, 'group-busy');
});

test('unbinding the rest of group 9 and binding the HDA controller to vfio-pci makes it ready', async () => {
  const root = sysfsFixture();
  for (const a of ['0000:00:1f.4', '0000:00:1f.5', '0000:00:1f.6']) bindPciDriver(root, a, undefined);
  assert.equal(pci((await readInventory(root)).pci, '0000:00:1f.3').vfio, 'bind-needed');
  bindPciDriver(root, '0000:00:1f.3', 'vfio-pci');
  const hda = pci((await readInventory(root)).pci, '0000:00:1f.3');
  assert.deepEqual([hda.driver, hda.vfio, hda.vfioBlockers], ['vfio-pci', 'ready', []]);
});

test('missing attributes are undefined, and the device is still listed and classified as far as it can be', async () => {
  const root = sysfsFixture();
  const kbd = join(root, 'sys/bus/usb/devices/1-4.3');
  for (const f of ['idVendor', 'manufacturer', 'devnum', 'bDeviceClass']) rmSync(join(kbd, f));
  rmSync(join(root, 'sys/bus/usb/devices/1-4.3:1.1/bInterfaceClass'));
  const nic = join(root, 'sys/bus/pci/devices/0000:00:1f.6');
  for (const f of ['class', 'subsystem_vendor', 'iommu_group']) rmSync(join(nic, f));
  writeFileSync(join(root, 'sys/bus/usb/devices/1-4.2/serial'), '\n');
  const inv = await readInventory(root);
  const k = usb(inv.usb, 'usb:1-4.3');
  assert.deepEqual([k.vendorId, k.productId, k.manufacturer, k.devnum, k.deviceClass, k.class], [undefined, 'c31c', undefined, undefined, undefined, 'input']);
  assert.deepEqual(k.interfaces.map((i) => [i.classCode, i.class]), [[0x03, 'input'], [undefined, 'other']]);
  assert.equal(usb(inv.usb, 'usb:1-4.2').serial, undefined, 'an empty attribute reads as undefined');
  const n = pci(inv.pci, '0000:00:1f.6');
  assert.deepEqual([n.classCode, n.className, n.class, n.subsystemVendorId, n.iommuGroup, n.vfio], [undefined, undefined, 'other', undefined, undefined, 'no-iommu']);
});

test('without /sys/kernel/iommu_groups the PCI functions naming a group stand in for its member list', async () => {
  const root = sysfsFixture();
  rmSync(join(root, 'sys/kernel'), { recursive: true });
  const inv = await readInventory(root);
  assert.equal(pci(inv.pci, '0000:00:1f.3').vfio, 'group-busy');
  assert.equal(pci(inv.pci, '0000:01:00.0').vfio, 'ready');
});

test('a device unplugged while the bus is listed (its link left dangling) is skipped', async () => {
  const root = sysfsFixture();
  symlinkSync('../../../devices/pci0000:00/0000:00:14.0/usb1/1-9', join(root, 'sys/bus/usb/devices/1-9'));
  symlinkSync('../../../devices/pci0000:00/0000:00:1c.0', join(root, 'sys/bus/pci/devices/0000:00:1c.0'));
  const inv = await readInventory(root);
  assert.equal(inv.usb.length, 6);
  assert.equal(inv.pci.length, 13);
});

test('plugging and unplugging USB devices in the fixture (for hot-plug tests)', async () => {
  const root = sysfsFixture();
  plugUsbDevice(root, {
    name: '1-4.4',
    devnum: 8,
    vendor: '0781',
    product: '5581',
    manufacturer: 'SanDisk',
    productName: 'Ultra',
    serial: '4C530001230612117351',
    interfaces: [{ id: '1.0', class: '08', subclass: '06', protocol: '50', driver: 'usb-storage' }],
  });
  const stick = usb((await readInventory(root)).usb, 'usb:1-4.4');
  assert.deepEqual([stick.class, stick.port, stick.drivers], ['storage', '4.4', ['usb-storage']]);
  // Unplugging the hub takes the devices behind it along.
  unplugUsbDevice(root, '1-4');
  const inv = await readInventory(root);
  assert.deepEqual(inv.usb.map((d) => d.id), ['usb:1-1', 'usb:1-3', 'usb:1-14']);
  assert.equal(findDevice(inv, 'usb:1-4.2'), undefined);
  assert.equal(findDevice(inv, 'pci:0000:00:1f.3')?.class, 'audio');
});

test('a kernel without USB (no /sys/bus/usb) has an empty USB list', async () => {
  const root = sysfsFixture();
  rmSync(join(root, 'sys/bus/usb'), { recursive: true });
  const inv = await readInventory(root);
  assert.deepEqual(inv.usb, []);
  assert.equal(inv.pci.length, 13);
});

test('no sysfs under the root: VIGIL_NOT_FOUND naming the path', async () => {
  const root = join(FIXTURE, 'nowhere');
  await assert.rejects(readInventory(root), (err: unknown) => {
    assert.ok(isVigilError(err, 'VIGIL_NOT_FOUND'));
    assert.match(err.message, /nowhere\/sys\/bus: no such directory; is sysfs mounted, and is the root .* right\?/);
    assert.equal(err.context.path, join(root, 'sys/bus'));
    return true;
  });
});

test('unreadable trees: VIGIL_INVALID_INPUT naming the path', async () => {
  const root = sysfsFixture();
  const devices = join(root, 'sys/bus/pci/devices');
  rmSync(devices, { recursive: true });
  writeFileSync(devices, 'not a directory\n');
  await assert.rejects(readInventory(root), (err: unknown) => {
    assert.ok(isVigilError(err, 'VIGIL_INVALID_INPUT'));
    assert.equal(err.message, `${devices}: cannot read it (not a directory)`);
    return true;
  });
  const other = sysfsFixture();
  const product = join(other, 'sys/bus/usb/devices/1-1/product');
  unlinkSync(product);
  mkdirSync(product);
  await assert.rejects(readInventory(other), (err: unknown) => isVigilError(err, 'VIGIL_INVALID_INPUT') && err.message === `${product}: cannot read it (EISDIR)`);
});
