/** The udevadm monitor parser on udevadm's real output format, split at every position. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UeventParser } from '../../../src/killswitch/hotplug/udev.js';

// `udevadm monitor --kernel --subsystem-match=usb --subsystem-match=pci --property` while a webcam is plugged in
// (systemd 252, Debian 12): the banner, then the device and each interface, each a header and its properties.
const OUTPUT = `monitor will print the received events for:
KERNEL - the kernel uevent

KERNEL[86413.125046] add      /devices/pci0000:00/0000:00:14.0/usb1/1-2 (usb)
ACTION=add
DEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-2
SUBSYSTEM=usb
DEVNAME=/dev/bus/usb/001/007
DEVTYPE=usb_device
PRODUCT=46d/82d/11
TYPE=239/2/1
BUSNUM=001
DEVNUM=007
SEQNUM=5181
MAJOR=189
MINOR=6

KERNEL[86413.129711] add      /devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0 (usb)
ACTION=add
DEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0
SUBSYSTEM=usb
DEVTYPE=usb_interface
PRODUCT=46d/82d/11
TYPE=239/2/1
INTERFACE=14/1/0
MODALIAS=usb:v046Dp082Dd0011dcEFdsc02dp01ic0Eisc01ip00in00
SEQNUM=5182

KERNEL[86413.318442] bind     /devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0 (usb)
ACTION=bind
DEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0
SUBSYSTEM=usb
DEVTYPE=usb_interface
DRIVER=uvcvideo
PRODUCT=46d/82d/11
TYPE=239/2/1
INTERFACE=14/1/0
MODALIAS=usb:v046Dp082Dd0011dcEFdsc02dp01ic0Eisc01ip00in00
SEQNUM=5190

KERNEL[86420.002114] remove   /devices/pci0000:00/0000:00:1c.4/0000:03:00.0 (pci)
ACTION=remove
DEVPATH=/devices/pci0000:00/0000:00:1c.4/0000:03:00.0
SUBSYSTEM=pci
PCI_CLASS=20000
PCI_ID=8086:15B8
PCI_SLOT_NAME=0000:03:00.0
SEQNUM=5200

`;

function summary(events: ReturnType<UeventParser['push']>): string[] {
  return events.map((e) => `${e.source} ${e.action} ${e.devpath.split('/').pop()} ${e.subsystem} ${e.properties.DEVTYPE ?? '-'} ${e.properties.INTERFACE ?? e.properties.PRODUCT ?? e.properties.PCI_ID ?? ''}`);
}

const EXPECTED = [
  'KERNEL add 1-2 usb usb_device 46d/82d/11',
  'KERNEL add 1-2:1.0 usb usb_interface 14/1/0',
  'KERNEL bind 1-2:1.0 usb usb_interface 14/1/0',
  'KERNEL remove 0000:03:00.0 pci - 8086:15B8',
];

test('events with their properties, the banner ignored', () => {
  const p = new UeventParser();
  const events = p.push(OUTPUT);
  assert.deepEqual(summary(events), EXPECTED);
  assert.equal(events[2]?.properties.DRIVER, 'uvcvideo');
  assert.equal(events[0]?.properties.DEVNAME, '/dev/bus/usb/001/007');
  assert.deepEqual(p.end(), []);
});

test('the same events whatever the chunking', () => {
  for (let cut = 1; cut < OUTPUT.length; cut += 7) {
    const p = new UeventParser();
    const events = [...p.push(OUTPUT.slice(0, cut)), ...p.push(OUTPUT.slice(cut)), ...p.end()];
    assert.deepEqual(summary(events), EXPECTED, `split at ${cut}`);
  }
  const p = new UeventParser();
  const one = [...OUTPUT].flatMap((c) => p.push(c));
  assert.deepEqual(summary(one), EXPECTED);
});

test('an event cut off at the end of the stream still counts; UDEV events and CRLF too', () => {
  const p = new UeventParser();
  assert.deepEqual(p.push('UDEV  [86413.401234] add      /devices/x/usb1/1-9 (usb)\r\nACTION=add\r\nDEVTYPE=usb_device'), []);
  const events = p.end();
  assert.equal(events.length, 1);
  assert.equal(events[0]?.source, 'UDEV');
  assert.equal(events[0]?.properties.DEVTYPE, 'usb_device');
});
