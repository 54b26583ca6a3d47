/**
 * USB devices from `<root>/sys/bus/usb/devices`. That directory lists root hubs (`usb1`), devices (`1-4.2`: bus 1,
 * port 4 then port 2 of the hub there) and interfaces (`1-4.2:1.0`), each a symlink into `/sys/devices`; the
 * interfaces of a device are also subdirectories of its own directory, which is where they are read from.
 */
import { join } from 'node:path';
import { classFromKernelObjects, classifyUsb, classifyUsbDeviceClass, classifyUsbInterface } from './classify.js';
import { listDirectory, readAttribute, readDecimalAttribute, readHexAttribute, readIdAttribute, readLinkName } from './read.js';
import type { UsbDevice, UsbInterface } from './types.js';

/** Where the kernel lists USB devices, relative to the sysfs root's parent (`/`). */
export const USB_DEVICES_DIR = 'sys/bus/usb/devices';

const DEVICE_NAME = /^(\d+)-(\d+(?:\.\d+)*)$/;
const INTERFACE_NAME = /^\d+-\d+(?:\.\d+)*:(\d+)\.(\d+)$/;

/** Orders port paths numerically, so `1-2` comes before `1-10` and `1-4` before `1-4.2`. */
function comparePorts(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

async function readInterface(dir: string, name: string): Promise<UsbInterface | undefined> {
  const path = join(dir, name);
  const children = await listDirectory(path);
  if (children === undefined) return undefined; // unplugged while we read
  const [classCode, subclass, protocol, driver] = await Promise.all([
    readHexAttribute(join(path, 'bInterfaceClass')),
    readHexAttribute(join(path, 'bInterfaceSubClass')),
    readHexAttribute(join(path, 'bInterfaceProtocol')),
    readLinkName(join(path, 'driver')),
  ]);
  const byCode = classifyUsbInterface({ classCode, subclass, protocol });
  const cls = byCode === 'other' ? (classFromKernelObjects(children) ?? 'other') : byCode;
  return { name, classCode, subclass, protocol, driver, class: cls };
}

async function readDevice(dir: string, name: string, bus: number, port: string): Promise<UsbDevice | undefined> {
  const path = join(dir, name);
  const entries = await listDirectory(path);
  if (entries === undefined) return undefined; // unplugged while we read
  const attr = (a: string): string => join(path, a);
  const [vendorId, productId, manufacturer, product, serial, devnum, deviceClass, deviceSubclass, deviceProtocol] = await Promise.all([
    readIdAttribute(attr('idVendor')),
    readIdAttribute(attr('idProduct')),
    readAttribute(attr('manufacturer')),
    readAttribute(attr('product')),
    readAttribute(attr('serial')),
    readDecimalAttribute(attr('devnum')),
    readHexAttribute(attr('bDeviceClass')),
    readHexAttribute(attr('bDeviceSubClass')),
    readHexAttribute(attr('bDeviceProtocol')),
  ]);
  const interfaceNames = entries
    .filter((e) => e.startsWith(`${name}:`) && INTERFACE_NAME.test(e))
    .map((e) => ({ e, key: INTERFACE_NAME.exec(e)!.slice(1).map(Number) }))
    .sort((a, b) => comparePorts(a.key, b.key))
    .map((x) => x.e);
  const interfaces = (await Promise.all(interfaceNames.map((n) => readInterface(path, n)))).filter((i): i is UsbInterface => i !== undefined);
  const own = classifyUsbDeviceClass({ classCode: deviceClass, subclass: deviceSubclass, protocol: deviceProtocol });
  const { class: cls, classes } = classifyUsb(own, interfaces.map((i) => i.class));
  const drivers = [...new Set(interfaces.flatMap((i) => (i.driver === undefined ? [] : [i.driver])))];
  return { kind: 'usb', id: `usb:${name}`, bus, port, devnum, vendorId, productId, manufacturer, product, serial, deviceClass, interfaces, class: cls, classes, drivers };
}

/**
 * Every USB device under `root` (root hubs left out), ordered by bus and port; `[]` when the kernel has no USB
 * subsystem.
 */
export async function readUsbDevices(root: string): Promise<UsbDevice[]> {
  const dir = join(root, USB_DEVICES_DIR);
  const names = (await listDirectory(dir)) ?? [];
  const found = names.flatMap((name) => {
    const m = DEVICE_NAME.exec(name);
    return m ? [{ name, bus: Number(m[1]), port: m[2]! }] : [];
  });
  found.sort((a, b) => a.bus - b.bus || comparePorts(a.port.split('.').map(Number), b.port.split('.').map(Number)));
  const devices = await Promise.all(found.map((f) => readDevice(dir, f.name, f.bus, f.port)));
  return devices.filter((d): d is UsbDevice => d !== undefined);
}
