/** `vigil devices ls`: the host's USB and PCI devices, classified, with the VMs whose definitions name them. */
import { Command } from 'commander';
import { readInventory } from '../../sysfs/inventory.js';
import type { HostDevice } from '../../sysfs/types.js';
import { vmsNamingDevice } from '../../vm/host-devices.js';
import type { Vm } from '../../vm/service.js';
import { Vigil } from '../../vigil.js';
import { printJson } from '../output.js';

interface LsOpts {
  json?: boolean;
  root: string;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

const hex = (n: number | undefined, digits: number): string | undefined => (n === undefined ? undefined : `0x${n.toString(16).padStart(digits, '0')}`);

/** A device for --json: class codes as hex text (`0x040300`, `0x0e`), as lspci and lsusb print them. */
function jsonDevice(d: HostDevice, assignedTo: string[]): Record<string, unknown> {
  if (d.kind === 'pci') return { ...d, classCode: hex(d.classCode, 6), assignedTo };
  const interfaces = d.interfaces.map((i) => ({ ...i, classCode: hex(i.classCode, 2), subclass: hex(i.subclass, 2), protocol: hex(i.protocol, 2) }));
  return { ...d, deviceClass: hex(d.deviceClass, 2), interfaces, assignedTo };
}

function row(d: HostDevice, assigned: string[]): string[] {
  // The winning class first; a composite device's other classes after a "+", so a webcam reads camera+audio.
  const cls = d.kind === 'usb' ? [d.class, ...d.classes.filter((c) => c !== d.class)].join('+') : d.class;
  const ids = `${d.vendorId ?? '????'}:${(d.kind === 'usb' ? d.productId : d.deviceId) ?? '????'}`;
  const name = d.kind === 'usb' ? [d.manufacturer, d.product].filter((s) => s !== undefined).join(' ') : d.className;
  const driver = d.kind === 'usb' ? d.drivers.join(',') : d.driver;
  const vfio = d.kind === 'usb' ? '-' : d.iommuGroup === undefined ? d.vfio : `${d.iommuGroup} ${d.vfio}`;
  return [d.id, cls, ids, name || '-', driver || '-', vfio, assigned.join(',') || '-'];
}

/** Every defined VM, read from the store, which is closed again at once. */
function definedVms(): Vm[] {
  const vigil = Vigil.open();
  try {
    return vigil.list();
  } finally {
    vigil.close();
  }
}

/** Builds the `devices` command group. */
export function devicesCommand(): Command {
  const cmd = new Command('devices').description("the host's USB and PCI devices, classified for the kill switch");

  cmd
    .command('ls')
    .alias('list')
    .description('list host USB and PCI devices with their class, driver, IOMMU group / vfio readiness and the VMs that name them')
    .option('--json', 'print {"usb": [...], "pci": [...]} as JSON, each device with "assignedTo" (class codes as hex text)')
    .option('--root <dir>', 'read sysfs under this directory instead of / (a fixture tree, a chroot)', '/')
    .action(async (opts: LsOpts) => {
      const inventory = await readInventory(opts.root);
      const vms = definedVms();
      const assigned = (d: HostDevice): string[] => vmsNamingDevice(d, vms);
      if (opts.json) {
        printJson({ usb: inventory.usb.map((d) => jsonDevice(d, assigned(d))), pci: inventory.pci.map((d) => jsonDevice(d, assigned(d))) });
        return;
      }
      const devices = [...inventory.usb, ...inventory.pci];
      if (devices.length === 0) {
        process.stdout.write(`no USB or PCI devices under ${opts.root}\n`);
        return;
      }
      const rows = [['ID', 'CLASS', 'VENDOR:PRODUCT', 'NAME', 'DRIVER', 'IOMMU/VFIO', 'ASSIGNED TO'], ...devices.map((d) => row(d, assigned(d)))];
      process.stdout.write(table(rows) + '\n');
    });

  return cmd;
}
