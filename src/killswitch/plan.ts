/**
 * The kill switch's plan: per VM, the devices to cut and how, the escalation and the deadline. Built from VM
 * definitions, so that re-attaching a device after release uses exactly the `-device` properties the argv builder
 * gave QEMU at boot (parsed back from the builder's own output). Recording them from QOM instead would mix in
 * defaults, read-only and link properties that device_add refuses, and a device that is already gone (after a
 * crash mid-engage) could no longer be read at all.
 */
import { VigilError } from '../core/errors.js';
import type { DeviceClass, Inventory } from '../sysfs/types.js';
import { emulatedDeviceArgs, pciArgs, usbArgs } from '../vm/argv/devices.js';
import { withDefaultIds } from '../vm/argv/ids.js';
import { parseKeyval } from '../vm/argv/keyval.js';
import type { VmDefinition } from '../vm/definition/schema.js';
import { classOfDriver, classOfHostPci, classOfHostUsb, isInfrastructure } from './classes.js';
import type { EscalationStep } from './section.js';

/** Where a device comes from: host USB or PCI passthrough, an emulated device, or an emulated NIC. */
export type PlannedKind = 'usb' | 'pci' | 'emulated' | 'nic';

/** One device to cut. */
export interface PlannedDevice {
  vmName: string;
  deviceId: string;
  kind: PlannedKind;
  class: DeviceClass;
  /** detach: device_del confirmed by DEVICE_DELETED; link-down: set_link false. */
  action: 'detach' | 'link-down';
  /**
   * detach: the device_add arguments that re-attach it with the same id and properties (values as on the command
   * line, which QMP's device_add parses the same way). link-down: `{ up }`, the link state to restore.
   */
  props: Record<string, string | boolean>;
}

/** What the kill switch does to one VM. */
export interface VmPlan {
  vmName: string;
  devices: PlannedDevice[];
  escalation: EscalationStep[];
  deadlineMs: number;
  failsafe: boolean;
  /** Why this plan is not the one configured (a selector that matched nothing: every device is cut instead). */
  problem?: string;
}

/** The whole plan: one entry per VM with a `killswitch` section. */
export interface Plan {
  vms: VmPlan[];
}

/** What the planner needs of a VM. */
export interface PlannableVm {
  name: string;
  definition: VmDefinition;
}

/** The device_add arguments in the last `-device` of `args`. */
function deviceProps(args: readonly string[]): Record<string, string> {
  const spec = args[args.length - 1];
  if (spec === undefined) throw new VigilError('VIGIL_INTERNAL', 'the argv builder produced no -device for a planned device');
  return Object.fromEntries(parseKeyval(spec, 'driver').map((e) => [e.key, e.value]));
}

/** Every device of one definition the kill switch could cut, before selection. */
function candidates(vmName: string, definition: VmDefinition, inventory: Inventory | undefined): PlannedDevice[] {
  const def = withDefaultIds(definition);
  const out: PlannedDevice[] = [];
  for (const u of def.usb) {
    out.push({ vmName, deviceId: u.id, kind: 'usb', class: classOfHostUsb(u, inventory), action: 'detach', props: deviceProps(usbArgs([u])) });
  }
  for (const p of def.pci) {
    out.push({ vmName, deviceId: p.id, kind: 'pci', class: classOfHostPci(p.address, inventory), action: 'detach', props: deviceProps(pciArgs([p])) });
  }
  for (const d of def.devices) {
    if (isInfrastructure(d.driver)) continue;
    out.push({ vmName, deviceId: d.id, kind: 'emulated', class: classOfDriver(d.driver), action: 'detach', props: deviceProps(emulatedDeviceArgs([d])) });
  }
  for (const n of def.nics) {
    if (n.type === 'vf') {
      // A VF's link belongs to the host's PF, not to QEMU: the whole function is detached instead.
      out.push({ vmName, deviceId: n.id, kind: 'pci', class: 'network', action: 'detach', props: deviceProps(pciArgs([{ id: n.id, address: n.address ?? '' }])) });
    } else {
      out.push({ vmName, deviceId: n.id, kind: 'nic', class: 'network', action: 'link-down', props: { up: n.link === 'up' } });
    }
  }
  return out;
}

/** The plan of one VM, or undefined when its definition has no `killswitch` section. */
export function planVm(vm: PlannableVm, inventory?: Inventory): VmPlan | undefined {
  const section = vm.definition.killswitch;
  if (section === undefined) return undefined;
  const all = candidates(vm.name, vm.definition, inventory);
  let devices = all;
  if (section.devices !== 'all') {
    const selectors = section.devices;
    const known = new Set(all.map((d) => d.deviceId));
    const unknown = selectors.filter((s) => !s.startsWith('class:') && !known.has(s));
    if (unknown.length > 0) {
      throw new VigilError('VIGIL_INVALID_INPUT', `VM '${vm.name}': killswitch.devices names ${unknown.map((u) => `'${u}'`).join(', ')}, which the VM does not have (ids of usb, pci, devices and nics entries, or class:<class>)`, {
        context: { vm: vm.name, field: 'killswitch.devices', unknown },
      });
    }
    devices = all.filter((d) => selectors.includes(d.deviceId) || selectors.includes(`class:${d.class}`));
  }
  return { vmName: vm.name, devices, escalation: [...section.escalation], deadlineMs: section.deadlineMs, failsafe: section.failsafe };
}

/** The plan over `vms`: every VM with a `killswitch` section, in the order given. */
export function buildPlan(vms: readonly PlannableVm[], inventory?: Inventory): Plan {
  return { vms: vms.map((vm) => planVm(vm, inventory)).filter((p): p is VmPlan => p !== undefined) };
}
