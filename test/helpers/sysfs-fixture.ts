/**
 * Builds a sysfs tree the way the kernel lays it out, from a compact description (test/fixtures/sysfs/): device
 * directories under /sys/devices/pci<domain>:<bus>/..., USB devices nested under their controller, root hub and
 * hubs, and the kernel's relative symlinks (/sys/bus/{usb,pci}/devices/*, driver, subsystem, iommu_group,
 * /sys/kernel/iommu_groups/<n>/devices/*, the drivers' back links). Generated at test time rather than committed:
 * tests can then plug, unplug and break devices in a private copy, and no checkout has to keep symlinks and
 * colons in file names intact.
 *
 *   npx tsx test/helpers/sysfs-fixture.ts DIR    writes the desktop fixture to DIR (for `vigil devices ls --root DIR`)
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DESKTOP } from '../fixtures/sysfs/desktop.js';

/** A PCI function. Hex values are written without 0x (`8086`, `040300`). */
export interface PciFunctionSpec {
  address: string;
  /** The bridge it sits behind; its directory nests in the bridge's, as in /sys/devices. */
  parent?: string;
  vendor: string;
  device: string;
  class: string;
  subsystem?: [vendor: string, device: string];
  revision?: string;
  driver?: string;
  iommuGroup?: number;
  /** What its driver registered, as subdirectories: `net/enp0s31f6`, `sound/card0`. */
  objects?: string[];
}

/** One interface of a USB device. */
export interface UsbInterfaceSpec {
  /** `<configuration>.<interface>`: `1.0`. */
  id: string;
  class: string;
  subclass: string;
  protocol: string;
  driver?: string;
  /** What its driver registered: `video4linux/video0`, `sound/card1`, `net/wlan0`, `bluetooth/hci0`. */
  objects?: string[];
}

/** A USB device below a root hub. String descriptors a device lacks get no file, as on a real host. */
export interface UsbDeviceSpec {
  /** `<bus>-<port>`: `1-4.2` is port 2 of the hub at port 4 of bus 1. */
  name: string;
  devnum: number;
  vendor: string;
  product: string;
  bcdDevice?: string;
  /** bDeviceClass, bDeviceSubClass, bDeviceProtocol (default 00 00 00). */
  deviceClass?: [string, string, string];
  manufacturer?: string;
  productName?: string;
  serial?: string;
  /** Mbit/s as the `speed` attribute says it: 1.5, 12, 480, 5000. */
  speed?: string;
  interfaces: UsbInterfaceSpec[];
}

/** A USB bus: a root hub on a host controller (a PCI function of the description). */
export interface UsbBusSpec {
  bus: number;
  controller: string;
  superSpeed?: boolean;
  devices: UsbDeviceSpec[];
}

/** A whole host. */
export interface SysfsSpec {
  pci: PciFunctionSpec[];
  usb: UsbBusSpec[];
}

const KERNEL = '6.1.0-18-amd64';

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text.endsWith('\n') ? text : `${text}\n`);
}

/** A relative symlink at `from` to `to`, as sysfs has them (so the tree works under any root). */
function link(from: string, to: string): void {
  mkdirSync(dirname(from), { recursive: true });
  symlinkSync(relative(dirname(from), to), from);
}

function attrs(dir: string, values: Record<string, string | undefined>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, value] of Object.entries(values)) if (value !== undefined) write(join(dir, name), value);
}

function objects(dir: string, list: readonly string[] | undefined): void {
  for (const o of list ?? []) mkdirSync(join(dir, o), { recursive: true });
}

/** Binds `dir` (the device `name`) to `driver` of `bus`: the device's `driver` link and the driver's back link. */
function bind(root: string, bus: 'pci' | 'usb', dir: string, name: string, driver: string | undefined): void {
  link(join(dir, 'subsystem'), join(root, 'sys/bus', bus));
  if (driver === undefined) return;
  const driverDir = join(root, 'sys/bus', bus, 'drivers', driver);
  link(join(dir, 'driver'), driverDir);
  link(join(driverDir, name), dir);
}

function pciDir(root: string, spec: SysfsSpec, address: string): string {
  const chain: string[] = [];
  for (let a: string | undefined = address; a !== undefined; a = spec.pci.find((p) => p.address === a)?.parent) chain.unshift(a);
  return join(root, 'sys/devices', `pci${chain[0]!.slice(0, -5)}`, ...chain);
}

function addPciFunction(root: string, spec: SysfsSpec, p: PciFunctionSpec): void {
  const dir = pciDir(root, spec, p.address);
  const [sv, sd] = p.subsystem ?? ['0000', '0000'];
  const up = (s: string): string => s.toUpperCase();
  attrs(dir, {
    vendor: `0x${p.vendor}`,
    device: `0x${p.device}`,
    class: `0x${p.class}`,
    revision: `0x${p.revision ?? '00'}`,
    subsystem_vendor: `0x${sv}`,
    subsystem_device: `0x${sd}`,
    driver_override: '(null)',
    uevent: [
      ...(p.driver === undefined ? [] : [`DRIVER=${p.driver}`]),
      `PCI_CLASS=${up(p.class.replace(/^0+(?=.)/, ''))}`,
      `PCI_ID=${up(p.vendor)}:${up(p.device)}`,
      `PCI_SUBSYS_ID=${up(sv)}:${up(sd)}`,
      `PCI_SLOT_NAME=${p.address}`,
      `MODALIAS=pci:v0000${up(p.vendor)}d0000${up(p.device)}sv0000${up(sv)}sd0000${up(sd)}bc${up(p.class.slice(0, 2))}sc${up(p.class.slice(2, 4))}i${up(p.class.slice(4))}`,
    ].join('\n'),
  });
  objects(dir, p.objects);
  bind(root, 'pci', dir, p.address, p.driver);
  link(join(root, 'sys/bus/pci/devices', p.address), dir);
  if (p.iommuGroup !== undefined) {
    const group = join(root, 'sys/kernel/iommu_groups', String(p.iommuGroup));
    if (!existsSync(join(group, 'type'))) write(join(group, 'type'), 'DMA-FQ');
    link(join(dir, 'iommu_group'), group);
    link(join(group, 'devices', p.address), dir);
  }
}

const dec = (hex: string): number => parseInt(hex, 16);
const pad3 = (n: number): string => String(n).padStart(3, '0');
const trimHex = (hex: string): string => hex.replace(/^0+(?=.)/, '');

function addInterface(root: string, deviceDir: string, device: { name: string; vendor: string; product: string; bcd: string; cls: [string, string, string] }, i: UsbInterfaceSpec): void {
  const name = `${device.name}:${i.id}`;
  const dir = join(deviceDir, name);
  const number = i.id.split('.')[1]!;
  const up = (s: string): string => s.toUpperCase();
  attrs(dir, {
    bInterfaceClass: i.class,
    bInterfaceSubClass: i.subclass,
    bInterfaceProtocol: i.protocol,
    bInterfaceNumber: Number(number).toString(16).padStart(2, '0'),
    bAlternateSetting: ' 0',
    bNumEndpoints: '01',
    modalias: `usb:v${up(device.vendor)}p${up(device.product)}d${up(device.bcd)}dc${up(device.cls[0])}dsc${up(device.cls[1])}dp${up(device.cls[2])}ic${up(i.class)}isc${up(i.subclass)}ip${up(i.protocol)}in${Number(number).toString(16).padStart(2, '0').toUpperCase()}`,
    uevent: [
      'DEVTYPE=usb_interface',
      ...(i.driver === undefined ? [] : [`DRIVER=${i.driver}`]),
      `PRODUCT=${trimHex(device.vendor)}/${trimHex(device.product)}/${trimHex(device.bcd)}`,
      `TYPE=${device.cls.map(dec).join('/')}`,
      `INTERFACE=${[i.class, i.subclass, i.protocol].map(dec).join('/')}`,
    ].join('\n'),
  });
  objects(dir, i.objects);
  bind(root, 'usb', dir, name, i.driver);
  link(join(root, 'sys/bus/usb/devices', name), dir);
}

function addDevice(root: string, dir: string, bus: number, d: UsbDeviceSpec, port: string): void {
  const cls = d.deviceClass ?? ['00', '00', '00'];
  const bcd = d.bcdDevice ?? '0100';
  const speed = d.speed ?? '480';
  attrs(dir, {
    idVendor: d.vendor,
    idProduct: d.product,
    bcdDevice: bcd,
    bDeviceClass: cls[0],
    bDeviceSubClass: cls[1],
    bDeviceProtocol: cls[2],
    bNumConfigurations: '1',
    bConfigurationValue: '1',
    bNumInterfaces: String(d.interfaces.length).padStart(2, ' '),
    busnum: String(bus),
    devnum: String(d.devnum),
    devpath: port,
    speed,
    version: Number(speed) >= 5000 ? ' 3.20' : ' 2.00',
    manufacturer: d.manufacturer,
    product: d.productName,
    serial: d.serial,
    uevent: [
      'MAJOR=189',
      `MINOR=${(bus - 1) * 128 + d.devnum - 1}`,
      `DEVNAME=bus/usb/${pad3(bus)}/${pad3(d.devnum)}`,
      'DEVTYPE=usb_device',
      'DRIVER=usb',
      `PRODUCT=${trimHex(d.vendor)}/${trimHex(d.product)}/${trimHex(bcd)}`,
      `TYPE=${cls.map(dec).join('/')}`,
      `BUSNUM=${pad3(bus)}`,
      `DEVNUM=${pad3(d.devnum)}`,
    ].join('\n'),
  });
  bind(root, 'usb', dir, d.name, 'usb');
  link(join(root, 'sys/bus/usb/devices', d.name), dir);
  for (const i of d.interfaces) addInterface(root, dir, { name: d.name, vendor: d.vendor, product: d.product, bcd, cls }, i);
}

/**
 * Plugs a USB device into an existing tree: its directory goes inside its parent's (the hub at the port path's
 * prefix, or the root hub), found through /sys/bus/usb/devices as the kernel would.
 */
export function plugUsbDevice(root: string, d: UsbDeviceSpec): void {
  const m = /^(\d+)-(\d+(?:\.\d+)*)$/.exec(d.name);
  if (!m) throw new Error(`not a USB device name: ${d.name}`);
  const port = m[2]!;
  const parentName = port.includes('.') ? `${m[1]!}-${port.slice(0, port.lastIndexOf('.'))}` : `usb${m[1]!}`;
  const parentLink = join(root, 'sys/bus/usb/devices', parentName);
  const parentDir = resolve(dirname(parentLink), readlinkSync(parentLink));
  addDevice(root, join(parentDir, d.name), Number(m[1]), d, port);
}

/** Unplugs a USB device: its directory (and those of the devices behind it) and every link to them go. */
export function unplugUsbDevice(root: string, name: string): void {
  const devices = join(root, 'sys/bus/usb/devices');
  const dir = resolve(devices, readlinkSync(join(devices, name)));
  const gone = (target: string): boolean => target === dir || target.startsWith(`${dir}/`);
  const usb = join(root, 'sys/bus/usb');
  for (const parent of [devices, ...listDrivers(usb)]) {
    for (const entry of safeList(parent)) {
      const p = join(parent, entry);
      try {
        if (gone(resolve(parent, readlinkSync(p)))) rmSync(p);
      } catch {
        // not a link (bind, unbind, new_id files)
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Rebinds PCI function `address` to `driver` (or unbinds it for undefined), as `driver_override` + `drivers_probe` would. */
export function bindPciDriver(root: string, address: string, driver: string | undefined): void {
  const linkPath = join(root, 'sys/bus/pci/devices', address);
  const dir = resolve(dirname(linkPath), readlinkSync(linkPath));
  const drivers = join(root, 'sys/bus/pci/drivers');
  for (const d of safeList(drivers)) rmSync(join(drivers, d, address), { force: true });
  rmSync(join(dir, 'driver'), { force: true });
  if (driver === undefined) return;
  const driverDir = join(drivers, driver);
  link(join(dir, 'driver'), driverDir);
  link(join(driverDir, address), dir);
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function listDrivers(usb: string): string[] {
  return safeList(join(usb, 'drivers')).map((d) => join(usb, 'drivers', d));
}

function addRootHub(root: string, spec: SysfsSpec, b: UsbBusSpec): void {
  const dir = join(pciDir(root, spec, b.controller), `usb${b.bus}`);
  const ss = b.superSpeed === true;
  attrs(dir, {
    idVendor: '1d6b',
    idProduct: ss ? '0003' : '0002',
    bcdDevice: '0601',
    bDeviceClass: '09',
    bDeviceSubClass: '00',
    bDeviceProtocol: ss ? '03' : '01',
    bNumConfigurations: '1',
    bConfigurationValue: '1',
    bNumInterfaces: ' 1',
    busnum: String(b.bus),
    devnum: '1',
    devpath: '0',
    speed: ss ? '5000' : '480',
    version: ss ? ' 3.00' : ' 2.00',
    manufacturer: `Linux ${KERNEL} xhci-hcd`,
    product: 'xHCI Host Controller',
    serial: b.controller,
  });
  bind(root, 'usb', dir, `usb${b.bus}`, 'usb');
  link(join(root, 'sys/bus/usb/devices', `usb${b.bus}`), dir);
  addInterface(root, dir, { name: `${b.bus}-0`, vendor: '1d6b', product: ss ? '0003' : '0002', bcd: '0601', cls: ['09', '00', ss ? '03' : '01'] }, { id: '1.0', class: '09', subclass: '00', protocol: '00', driver: 'hub' });
}

/** Writes the tree described by `spec` under `root` (which must be empty or absent). */
export function buildSysfs(root: string, spec: SysfsSpec): void {
  mkdirSync(join(root, 'sys/bus/pci/devices'), { recursive: true });
  mkdirSync(join(root, 'sys/bus/usb/devices'), { recursive: true });
  for (const p of spec.pci) addPciFunction(root, spec, p);
  for (const b of spec.usb) {
    addRootHub(root, spec, b);
    // Hubs before the devices behind them: a port path's prefix is always shorter.
    for (const d of [...b.devices].sort((x, y) => x.name.length - y.name.length)) plugUsbDevice(root, d);
  }
}

const made: string[] = [];
process.on('exit', () => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A private copy of a fixture host (the desktop by default) in a temporary directory, removed at exit; returns the root. */
export function sysfsFixture(spec: SysfsSpec = DESKTOP): string {
  const root = mkdtempSync(join(tmpdir(), 'vigil-sysfs-'));
  made.push(root);
  buildSysfs(root, spec);
  return root;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = process.argv[2];
  if (dir === undefined) {
    process.stderr.write('usage: npx tsx test/helpers/sysfs-fixture.ts DIR\n');
    process.exit(2);
  }
  buildSysfs(resolve(dir), DESKTOP);
  process.stdout.write(`wrote the desktop sysfs fixture to ${resolve(dir)}; try: vigil devices ls --root ${resolve(dir)}\n`);
}
