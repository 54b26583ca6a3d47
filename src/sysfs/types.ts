/**
 * What the host device inventory reports. Attributes the kernel did not expose (a device without a serial
 * string, a PCI function without a driver) are `undefined`, never guessed.
 */

/**
 * What a device can do to its user's privacy, from the most sensitive to the least; a composite device takes the
 * first of its classes in this order (`CLASS_PRIORITY`).
 */
export type DeviceClass = 'camera' | 'audio' | 'network' | 'bluetooth' | 'storage' | 'input' | 'display' | 'other';

/**
 * Whether QEMU can take a PCI function through vfio-pci right now:
 * - `ready`: bound to a vfio-pci driver, and every other device in its IOMMU group is harmless (see `vfioBlockers`);
 * - `bind-needed`: the group is clean, but this function is still driverless or on a host driver: bind it to vfio-pci;
 * - `group-busy`: another device in the IOMMU group is held by a host driver (listed in `vfioBlockers`); the
 *   kernel refuses the whole group until those are unbound too;
 * - `no-iommu`: the function has no IOMMU group (IOMMU off: boot with intel_iommu=on or amd_iommu=on).
 */
export type VfioState = 'ready' | 'bind-needed' | 'group-busy' | 'no-iommu';

/** One interface of a USB device (`1-1:1.0`), where the class codes that matter live. */
export interface UsbInterface {
  /** The sysfs name, `<bus>-<port>:<config>.<interface>`. */
  name: string;
  classCode: number | undefined;
  subclass: number | undefined;
  protocol: number | undefined;
  /** The bound driver (uvcvideo, snd-usb-audio, usbhid...). */
  driver: string | undefined;
  class: DeviceClass;
}

/** A USB device plugged into the host (root hubs are left out: nothing can be passed through at a root hub). */
export interface UsbDevice {
  kind: 'usb';
  /** `usb:<bus>-<port>`, stable while the device stays in the same port. */
  id: string;
  bus: number;
  /** The port path below the root hub, `1` or `4.2` (QEMU's usb-host `hostport`). */
  port: string;
  /** The address on the bus; it changes at every replug. */
  devnum: number | undefined;
  /** Four lower-case hex digits, `046d`. */
  vendorId: string | undefined;
  productId: string | undefined;
  manufacturer: string | undefined;
  product: string | undefined;
  serial: string | undefined;
  /** bDeviceClass; 0x00 and 0xef mean the interfaces say what the device is. */
  deviceClass: number | undefined;
  interfaces: UsbInterface[];
  /** The most privacy-sensitive of `classes`. */
  class: DeviceClass;
  /** Every class the device and its interfaces declare, most sensitive first. */
  classes: DeviceClass[];
  /** The drivers bound to its interfaces, deduplicated, in interface order. */
  drivers: string[];
}

/** A member of a PCI function's IOMMU group that stops the group from being handed to vfio. */
export interface VfioBlocker {
  address: string;
  driver: string;
}

/** A PCI function of the host. */
export interface PciDevice {
  kind: 'pci';
  /** `pci:<domain:bus:slot.function>`, e.g. `pci:0000:00:1f.3`. */
  id: string;
  address: string;
  /** Four lower-case hex digits, `8086`. */
  vendorId: string | undefined;
  deviceId: string | undefined;
  subsystemVendorId: string | undefined;
  subsystemDeviceId: string | undefined;
  /** The 24-bit class code 0xCCSSPP (class, subclass, programming interface). */
  classCode: number | undefined;
  /** What the class code means, as lspci names it ("Audio device"); PCI has no name strings in sysfs. */
  className: string | undefined;
  driver: string | undefined;
  iommuGroup: number | undefined;
  vfio: VfioState;
  /** Other members of the IOMMU group bound to host drivers (empty unless `vfio` is `group-busy`). */
  vfioBlockers: VfioBlocker[];
  class: DeviceClass;
}

/** Every USB device and PCI function of the host. */
export interface Inventory {
  usb: UsbDevice[];
  pci: PciDevice[];
}

/** Any device of the inventory. */
export type HostDevice = UsbDevice | PciDevice;
