/**
 * Device classes from USB and PCI class codes. The tables follow usb.org's "Defined Class Codes" and the PCI-SIG
 * class code list; where a code cannot tell (vendor-specific USB interfaces), the kernel objects a driver created
 * under the interface decide.
 */
import type { DeviceClass } from './types.js';

/** Classes from the most privacy-sensitive to the least; a composite device is reported as the first it has. */
export const CLASS_PRIORITY: readonly DeviceClass[] = ['camera', 'audio', 'network', 'bluetooth', 'storage', 'input', 'display', 'other'];

/** A USB class triple (bInterfaceClass/SubClass/Protocol, or the bDevice* ones). */
export interface UsbClassCode {
  classCode: number | undefined;
  subclass: number | undefined;
  protocol: number | undefined;
}

// CDC subclasses that carry network traffic: ECM, ATM, mobile direct line, EEM, NCM, MBIM. ACM (0x02) is a serial
// port (Arduinos, GPS receivers, AT-command modems) unless its protocol is 0xff, which is how RNDIS presents itself.
const CDC_NETWORK_SUBCLASSES = new Set([0x06, 0x07, 0x0a, 0x0c, 0x0d, 0x0e]);

/** The class of one USB interface (or of a device-level class triple). */
export function classifyUsbInterface(code: UsbClassCode): DeviceClass {
  const { classCode, subclass, protocol } = code;
  switch (classCode) {
    case 0x01:
      return 'audio';
    case 0x02:
      return subclass !== undefined && (CDC_NETWORK_SUBCLASSES.has(subclass) || (subclass === 0x02 && protocol === 0xff)) ? 'network' : 'other';
    case 0x03:
      return 'input';
    case 0x06: // still image (PTP): such cameras can be triggered remotely, so they count as cameras
    case 0x0e:
    case 0x10: // audio/video device class
      return 'camera';
    case 0x08:
      return 'storage';
    case 0xe0:
      // Wireless controller: 01/01 Bluetooth, 01/04 Bluetooth AMP, 01/03 RNDIS (Wi-Fi or Ethernet over USB).
      if (subclass === 0x01 && (protocol === 0x01 || protocol === 0x04)) return 'bluetooth';
      if (subclass === 0x01 && protocol === 0x03) return 'network';
      return 'other';
    case 0xef:
      // Miscellaneous 04/xx: RNDIS over Ethernet, Wi-Fi, WiMAX, WWAN, raw IP, GPRS.
      return subclass === 0x04 ? 'network' : 'other';
    default:
      // 0x0a (CDC data) rides on a CDC control interface, which classifies the pair; hubs, printers, smart cards,
      // vendor-specific (0xff) and the rest say nothing about privacy by their code.
      return 'other';
  }
}

// The directories a driver creates under a USB interface for what it registered with the kernel.
const KERNEL_OBJECT_CLASSES: Readonly<Record<string, DeviceClass>> = {
  video4linux: 'camera',
  sound: 'audio',
  net: 'network',
  bluetooth: 'bluetooth',
};

/**
 * The class of a USB interface whose class code says nothing (vendor-specific 0xff: most Wi-Fi dongles, some
 * webcams) from the kernel objects its driver created (`net/wlan0`, `video4linux/video2`); undefined if none.
 */
export function classFromKernelObjects(children: readonly string[]): DeviceClass | undefined {
  const classes: DeviceClass[] = [];
  for (const child of children) {
    const c = KERNEL_OBJECT_CLASSES[child];
    if (c !== undefined) classes.push(c);
  }
  return mostSensitive(classes);
}

/**
 * The class of a bDeviceClass triple, or undefined when the interfaces decide: 0x00 (per interface), 0xef
 * (interface association), 0xff (vendor-specific) and 0x02 (CDC devices, Arduinos among them, declare 0x02 at
 * the device level; only their interfaces tell a modem from a NIC).
 */
export function classifyUsbDeviceClass(code: UsbClassCode): DeviceClass | undefined {
  if (code.classCode === undefined || [0x00, 0x02, 0xef, 0xff].includes(code.classCode)) return undefined;
  return classifyUsbInterface(code);
}

/** Every class of a USB device (its own class and its interfaces'), most sensitive first, and the winner. */
export function classifyUsb(deviceClass: DeviceClass | undefined, interfaceClasses: readonly DeviceClass[]): { class: DeviceClass; classes: DeviceClass[] } {
  const all = deviceClass === undefined ? [...interfaceClasses] : [deviceClass, ...interfaceClasses];
  const classes = CLASS_PRIORITY.filter((c) => all.includes(c));
  return { class: classes[0] ?? 'other', classes: classes.length > 0 ? classes : ['other'] };
}

/** The most privacy-sensitive class among `classes`; undefined for none. */
export function mostSensitive(classes: readonly DeviceClass[]): DeviceClass | undefined {
  return CLASS_PRIORITY.find((c) => classes.includes(c));
}

/** The class of a PCI function from its 24-bit class code (0xCCSSPP). */
export function classifyPci(classCode: number | undefined): DeviceClass {
  if (classCode === undefined) return 'other';
  const base = classCode >> 16;
  const sub = (classCode >> 8) & 0xff;
  switch (base) {
    case 0x01:
      return 'storage';
    case 0x02:
      return 'network';
    case 0x03:
      return 'display';
    case 0x04:
      // 00 video (capture cards, TV tuners), 01 audio, 02 telephony, 03 HD Audio; 80 "other" is left alone.
      return sub === 0x00 ? 'camera' : sub === 0x01 || sub === 0x02 || sub === 0x03 ? 'audio' : 'other';
    case 0x07:
      return sub === 0x03 ? 'network' : 'other'; // 03: modem
    case 0x09:
      return 'input';
    case 0x0d:
      // Wireless: 11 Bluetooth; 12 broadband, 20/21 802.11a/b, 40/41 cellular, 80 other wireless are networks.
      if (sub === 0x11) return 'bluetooth';
      return [0x12, 0x20, 0x21, 0x40, 0x41, 0x80].includes(sub) ? 'network' : 'other';
    default:
      return 'other';
  }
}
