/**
 * Hot-plug rules: which host devices, plugged while the switch is engaged, are blocked. They come from the VMs'
 * `killswitch:` sections (the host USB/PCI devices they cut, by vendor:product, port or address, and their
 * `class:` selectors) and from the host file's `hotplug.rules`. A section with `devices: all` contributes its host
 * devices, not every class: a new keyboard must stay usable on the host.
 */
import type { DeviceClass, HostDevice } from '../../sysfs/types.js';
import { withDefaultIds } from '../../vm/argv/ids.js';
import { fullPciAddress } from '../../vm/argv/nics.js';
import type { VmDefinition } from '../../vm/definition/schema.js';

/** One rule, with the text it was written as (recorded with each block). */
export type HotplugRule =
  | { kind: 'class'; class: DeviceClass; text: string }
  | { kind: 'usb-id'; vendorId: string; productId: string; text: string }
  | { kind: 'usb-port'; bus: number; port: string; text: string }
  | { kind: 'pci'; address: string; text: string };

const hex4 = (id: string): string => id.replace(/^0x/i, '').toLowerCase().padStart(4, '0');

/** Parses a rule as the host file writes it (`class:camera`, `046d:0825`, `port:1-4.2`, `pci:0000:03:00.0`). */
export function parseRule(text: string): HotplugRule | undefined {
  let m = /^class:([a-z]+)$/.exec(text);
  if (m) return { kind: 'class', class: m[1] as DeviceClass, text };
  m = /^([0-9a-f]{4}):([0-9a-f]{4})$/i.exec(text);
  if (m) return { kind: 'usb-id', vendorId: m[1]!.toLowerCase(), productId: m[2]!.toLowerCase(), text };
  m = /^port:(\d+)-(\d+(?:\.\d+)*)$/.exec(text);
  if (m) return { kind: 'usb-port', bus: Number(m[1]), port: m[2]!, text };
  m = /^pci:(.+)$/.exec(text);
  if (m) return { kind: 'pci', address: fullPciAddress(m[1]!), text };
  return undefined;
}

/** The rules of the VMs' sections plus `extra`, deduplicated. */
export function hotplugRules(vms: readonly { name: string; definition: VmDefinition }[], extra: readonly string[] = []): HotplugRule[] {
  const texts = new Set<string>(extra);
  for (const { definition } of vms) {
    const section = definition.killswitch;
    if (!section) continue;
    const def = withDefaultIds(definition);
    const selected = (id: string): boolean => section.devices === 'all' || section.devices.includes(id);
    for (const u of def.usb) {
      if (!selected(u.id)) continue;
      if (u.vendor !== undefined && u.product !== undefined) texts.add(`${hex4(u.vendor)}:${hex4(u.product)}`);
      else if (u.bus !== undefined && u.port !== undefined) texts.add(`port:${u.bus}-${u.port}`);
    }
    for (const p of def.pci) if (selected(p.id)) texts.add(`pci:${fullPciAddress(p.address)}`);
    if (section.devices !== 'all') for (const s of section.devices) if (s.startsWith('class:')) texts.add(s);
  }
  return [...texts].flatMap((t) => {
    const r = parseRule(t);
    return r ? [r] : [];
  });
}

/** The first rule `device` matches, if any. */
export function matchRule(rules: readonly HotplugRule[], device: HostDevice): HotplugRule | undefined {
  return rules.find((r) => {
    switch (r.kind) {
      case 'class':
        return device.kind === 'usb' ? device.classes.includes(r.class) : device.class === r.class;
      case 'usb-id':
        return device.kind === 'usb' && device.vendorId === r.vendorId && device.productId === r.productId;
      case 'usb-port':
        return device.kind === 'usb' && device.bus === r.bus && device.port === r.port;
      case 'pci':
        return device.kind === 'pci' && device.address === r.address;
    }
  });
}
