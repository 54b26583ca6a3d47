import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classFromKernelObjects, classifyPci, classifyUsb, classifyUsbDeviceClass, classifyUsbInterface, mostSensitive } from './classify.js';

const usb = (classCode: number, subclass = 0, protocol = 0): ReturnType<typeof classifyUsbInterface> => classifyUsbInterface({ classCode, subclass, protocol });

test('USB interface classes: video, audio, HID, mass storage, still image, audio/video', () => {
  assert.equal(usb(0x0e, 0x01), 'camera');
  assert.equal(usb(0x0e, 0x02), 'camera');
  assert.equal(usb(0x10, 0x01), 'camera');
  assert.equal(usb(0x06, 0x01, 0x01), 'camera');
  assert.equal(usb(0x01, 0x01), 'audio');
  assert.equal(usb(0x01, 0x02), 'audio');
  assert.equal(usb(0x03, 0x01, 0x01), 'input');
  assert.equal(usb(0x08, 0x06, 0x50), 'storage');
  assert.equal(usb(0x09), 'other');
  assert.equal(usb(0xff, 0xff, 0xff), 'other');
  assert.equal(classifyUsbInterface({ classCode: undefined, subclass: undefined, protocol: undefined }), 'other');
});

test('CDC: ECM, NCM, MBIM, EEM and RNDIS are networks; ACM is a serial port; CDC data alone says nothing', () => {
  for (const sub of [0x06, 0x0d, 0x0e, 0x0c]) assert.equal(usb(0x02, sub), 'network', `subclass ${sub}`);
  assert.equal(usb(0x02, 0x02, 0x01), 'other');
  assert.equal(usb(0x02, 0x02, 0xff), 'network');
  assert.equal(usb(0x0a), 'other');
});

test('wireless controller: Bluetooth (01/01, AMP 01/04) and RNDIS (01/03); misc RNDIS (ef/04/xx)', () => {
  assert.equal(usb(0xe0, 0x01, 0x01), 'bluetooth');
  assert.equal(usb(0xe0, 0x01, 0x04), 'bluetooth');
  assert.equal(usb(0xe0, 0x01, 0x03), 'network');
  assert.equal(usb(0xe0, 0x02, 0x01), 'other');
  assert.equal(usb(0xef, 0x04, 0x01), 'network');
  assert.equal(usb(0xef, 0x04, 0x02), 'network');
  assert.equal(usb(0xef, 0x02, 0x01), 'other');
});

test('device-level class: 00, 02, ef and ff defer to the interfaces; hubs and Bluetooth radios speak for themselves', () => {
  for (const c of [0x00, 0x02, 0xef, 0xff]) assert.equal(classifyUsbDeviceClass({ classCode: c, subclass: 0, protocol: 0 }), undefined);
  assert.equal(classifyUsbDeviceClass({ classCode: undefined, subclass: undefined, protocol: undefined }), undefined);
  assert.equal(classifyUsbDeviceClass({ classCode: 0x09, subclass: 0, protocol: 1 }), 'other');
  assert.equal(classifyUsbDeviceClass({ classCode: 0xe0, subclass: 1, protocol: 1 }), 'bluetooth');
});

test('a composite device is its most sensitive class, and reports every class most sensitive first', () => {
  assert.deepEqual(classifyUsb(undefined, ['audio', 'camera', 'audio', 'camera']), { class: 'camera', classes: ['camera', 'audio'] });
  assert.deepEqual(classifyUsb(undefined, ['input', 'audio']), { class: 'audio', classes: ['audio', 'input'] });
  assert.deepEqual(classifyUsb('other', ['storage', 'network', 'bluetooth']), { class: 'network', classes: ['network', 'bluetooth', 'storage', 'other'] });
  assert.deepEqual(classifyUsb(undefined, []), { class: 'other', classes: ['other'] });
  assert.equal(mostSensitive(['input', 'display', 'storage']), 'storage');
  assert.equal(mostSensitive([]), undefined);
});

test('vendor-specific interfaces are classified by the kernel objects their driver made', () => {
  assert.equal(classFromKernelObjects(['net', 'power', 'uevent']), 'network');
  assert.equal(classFromKernelObjects(['video4linux', 'sound']), 'camera');
  assert.equal(classFromKernelObjects(['bluetooth']), 'bluetooth');
  assert.equal(classFromKernelObjects(['power', 'driver']), undefined);
});

test('PCI class codes', () => {
  assert.equal(classifyPci(0x040300), 'audio');
  assert.equal(classifyPci(0x040100), 'audio');
  assert.equal(classifyPci(0x040000), 'camera');
  assert.equal(classifyPci(0x048000), 'other');
  assert.equal(classifyPci(0x020000), 'network');
  assert.equal(classifyPci(0x028000), 'network');
  assert.equal(classifyPci(0x0d1100), 'bluetooth');
  assert.equal(classifyPci(0x0d8000), 'network');
  assert.equal(classifyPci(0x010802), 'storage');
  assert.equal(classifyPci(0x010601), 'storage');
  assert.equal(classifyPci(0x030000), 'display');
  assert.equal(classifyPci(0x030200), 'display');
  assert.equal(classifyPci(0x090000), 'input');
  assert.equal(classifyPci(0x070300), 'network');
  assert.equal(classifyPci(0x0c0330), 'other');
  assert.equal(classifyPci(0x060400), 'other');
  assert.equal(classifyPci(undefined), 'other');
});
