/** Passthrough and emulated devices: vsock, host USB on an xhci controller, host PCI with vfio-pci, and `devices`. */
import type { PciSpec, UsbSpec, VmDefinition } from '../definition/schema.js';
import { keyval, type KeyvalPart } from './keyval.js';
import { fullPciAddress } from './nics.js';

type DeviceSpec = VmDefinition['devices'][number];

/** `046d` or `0x046D` as usb-host wants it: `0x046d`. */
export function usbHexId(value: string): string {
  return `0x${value.replace(/^0x/i, '').toLowerCase()}`;
}

/** The vhost-vsock device for guest CID `cid`. */
export function vsockArgs(cid: number): string[] {
  return ['-device', keyval('vhost-vsock-pci', [['id', 'vsock0'], ['guest-cid', cid]])];
}

/** A qemu-xhci controller (id `xhci`) and a usb-host device for each host USB device. */
export function usbArgs(usb: readonly (UsbSpec & { id: string })[]): string[] {
  if (usb.length === 0) return [];
  const args = ['-device', 'qemu-xhci,id=xhci'];
  for (const u of usb) {
    const match: KeyvalPart[] =
      u.vendor !== undefined && u.product !== undefined
        ? [['vendorid', usbHexId(u.vendor)], ['productid', usbHexId(u.product)]]
        : [['hostbus', u.bus], ['hostport', u.port]];
    args.push('-device', keyval('usb-host', [['id', u.id], ['bus', 'xhci.0'], ...match]));
  }
  return args;
}

/** A vfio-pci device for each host PCI function. */
export function pciArgs(pci: readonly (PciSpec & { id: string })[]): string[] {
  return pci.flatMap((p) => ['-device', keyval('vfio-pci', [['id', p.id], ['host', fullPciAddress(p.address)]])]);
}

/** Emulated devices, props in the order written (booleans as on/off). */
export function emulatedDeviceArgs(devices: readonly (DeviceSpec & { id: string })[]): string[] {
  return devices.flatMap((d) => ['-device', keyval(d.driver, [['id', d.id], ...Object.entries(d.props)])]);
}

/** True when the definition brings its own display adapter (so Vigil adds no VGA for VNC). */
export function hasDisplayAdapter(devices: readonly DeviceSpec[]): boolean {
  return devices.some((d) => /vga|virtio-gpu|qxl|bochs-display|ramfb|cirrus/i.test(d.driver));
}
