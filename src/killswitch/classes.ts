/**
 * What class a VM's device falls in, for `class:` selectors. Host passthrough devices take the class the sysfs
 * inventory gives them (by vendor:product or PCI address); emulated devices are classed by their QEMU driver.
 */
import type { DeviceClass, Inventory } from '../sysfs/types.js';
import { fullPciAddress } from '../vm/argv/nics.js';
import type { UsbSpec } from '../vm/definition/schema.js';

const hex = (id: string): string => id.replace(/^0x/i, '').toLowerCase();

// Ordered: the first match wins, so a `usb-audio` is audio even though it is also a USB device.
const DRIVER_CLASSES: readonly (readonly [RegExp, DeviceClass])[] = [
  [/cam|uvc|video-capture/i, 'camera'],
  [/audio|hda|ac97|sb16|es1370|gus|adlib|cs4231|intel-hda/i, 'audio'],
  [/net|e1000|rtl8139|ne2k|pcnet|vmxnet|i825|eepro|tulip/i, 'network'],
  [/bt|bluetooth/i, 'bluetooth'],
  [/storage|blk|scsi|nvme|^ide-|sata|ahci|uas|sd-card|floppy/i, 'storage'],
  [/kbd|keyboard|mouse|tablet|input|wacom|braille|ccid/i, 'input'],
  [/vga|gpu|qxl|bochs|ramfb|cirrus|display/i, 'display'],
];

/** Drivers that are buses or controllers, never cut: removing one would take down what hangs off it. */
const INFRASTRUCTURE = /(root-port|bridge|xhci|ehci|uhci|ohci|usb-hub|pxb|ioh3420|x3130|virtio-serial|scsi-hba|lsi|megasas|-bus$)/i;

/** The class of an emulated device by its driver name. */
export function classOfDriver(driver: string): DeviceClass {
  if (/^(usb-storage|usb-uas)$/.test(driver)) return 'storage';
  for (const [pattern, cls] of DRIVER_CLASSES) if (pattern.test(driver)) return cls;
  return 'other';
}

/** True for controllers and buses, which the kill switch leaves in place. */
export function isInfrastructure(driver: string): boolean {
  return INFRASTRUCTURE.test(driver);
}

/** The class of a host USB device named by a definition; `other` when the host does not have it now. */
export function classOfHostUsb(spec: UsbSpec, inventory: Inventory | undefined): DeviceClass {
  const found = inventory?.usb.find((d) =>
    spec.vendor !== undefined && spec.product !== undefined
      ? d.vendorId === hex(spec.vendor) && d.productId === hex(spec.product)
      : d.bus === spec.bus && d.port === spec.port,
  );
  return found?.class ?? 'other';
}

/** The class of a host PCI function; `other` when the host does not have it now. */
export function classOfHostPci(address: string, inventory: Inventory | undefined): DeviceClass {
  const full = fullPciAddress(address);
  return inventory?.pci.find((d) => d.address === full)?.class ?? 'other';
}
