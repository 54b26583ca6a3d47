/**
 * `vigil killswitch test`: what seed 000's `killswitch test` checks, on this host, now: IOMMU and the VFIO modules
 * (needed only when a planned VM passes a PCI device through), every planned VM's QMP reachable, every host
 * device a plan names plugged in, and the switch itself not stuck half-way. Each failure comes with its fix.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readInventory } from '../sysfs/inventory.js';
import type { Inventory } from '../sysfs/types.js';
import { definitionNamesDevice } from '../vm/host-devices.js';
import type { VmDefinition } from '../vm/definition/schema.js';
import type { VmFiles } from '../vm/runtime.js';
import type { Plan } from './plan.js';
import type { KillswitchState } from './states.js';
import { probeQmpSocket } from './validate.js';

/** One check's outcome; `fix` is set on every failure and warning. */
export interface SelfTestCheck {
  name: string;
  status: 'pass' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

/** The whole self-test: `ok` when nothing failed (warnings do not fail it). */
export interface SelfTestReport {
  ok: boolean;
  checks: SelfTestCheck[];
}

/** What the self-test reads; a `Vigil` and a `KillswitchEngine` supply it. */
export interface SelfTestInput {
  plan: Plan;
  state: KillswitchState;
  /** The VM's definition, run state and files. */
  vm(name: string): { definition: VmDefinition; state: string; files: VmFiles };
  /** The sysfs root (default `/`; tests use a fixture tree). */
  sysfsRoot?: string;
}

const VFIO_MODULES = ['vfio', 'vfio_pci', 'vfio_iommu_type1'];

function iommuGroups(root: string): number {
  try {
    return readdirSync(join(root, 'sys/kernel/iommu_groups')).length;
  } catch {
    return 0;
  }
}

/** Checks the host, the VMs and the switch as the kill switch would use them; never throws for what it finds. */
export async function selfTest(input: SelfTestInput): Promise<SelfTestReport> {
  const root = input.sysfsRoot ?? '/';
  const checks: SelfTestCheck[] = [];
  const vms = input.plan.vms.map((p) => ({ plan: p, ...input.vm(p.vmName) }));
  const pciUsers = vms.filter((v) => v.definition.pci.length > 0 || v.definition.nics.some((n) => n.type === 'vf')).map((v) => v.plan.vmName);
  // Without a PCI passthrough in any plan, IOMMU and VFIO are only worth a warning: nothing here needs them.
  const pciSeverity = pciUsers.length > 0 ? 'fail' : 'warn';
  const need = pciUsers.length > 0 ? ` (needed by ${pciUsers.join(', ')})` : ' (no planned VM passes a PCI device through yet)';

  checks.push({ name: 'kill switch configured', status: vms.length > 0 ? 'pass' : 'warn', detail: `${vms.length} VM(s) with a killswitch section`, ...(vms.length > 0 ? {} : { fix: 'add a killswitch: section to the VMs to protect (docs/KILLSWITCH.md), then vigil vm apply' }) });

  const groups = iommuGroups(root);
  checks.push(
    groups > 0
      ? { name: 'IOMMU', status: 'pass', detail: `${groups} IOMMU group(s)` }
      : { name: 'IOMMU', status: pciSeverity, detail: `no IOMMU groups in /sys/kernel/iommu_groups${need}`, fix: 'enable VT-d/AMD-Vi in the firmware and boot with intel_iommu=on (or amd_iommu=on) iommu=pt' },
  );
  const missing = VFIO_MODULES.filter((m) => !existsSync(join(root, 'sys/module', m)));
  checks.push(
    missing.length === 0
      ? { name: 'VFIO modules', status: 'pass', detail: VFIO_MODULES.join(', ') }
      : { name: 'VFIO modules', status: pciSeverity, detail: `not loaded: ${missing.join(', ')}${need}`, fix: `modprobe ${missing.join(' ')} (and list them in /etc/modules-load.d/vfio.conf)` },
  );

  let inventory: Inventory | undefined;
  try {
    inventory = await readInventory(root);
  } catch (err) {
    checks.push({ name: 'host devices', status: 'fail', detail: `cannot read the device inventory: ${(err as Error).message}`, fix: 'run as root, or check that /sys is mounted' });
  }

  await Promise.all(
    vms.map(async (v) => {
      const name = `VM ${v.plan.vmName}`;
      if (v.plan.problem) checks.push({ name: `${name}: plan`, status: 'warn', detail: v.plan.problem, fix: 'correct the devices of its killswitch section so that each selector matches a device' });
      if (inventory) {
        const devices = [...inventory.usb, ...inventory.pci];
        const named = [
          ...v.definition.usb.map((u) => ({ what: u.vendor !== undefined ? `USB ${u.vendor}:${u.product ?? '?'}` : `USB bus ${u.bus ?? '?'} port ${u.port ?? '?'}`, def: { usb: [u], pci: [], nics: [] } })),
          ...v.definition.pci.map((p) => ({ what: `PCI ${p.address}`, def: { usb: [], pci: [p], nics: [] } })),
        ];
        for (const n of named) {
          checks.push(
            devices.some((d) => definitionNamesDevice(n.def, d))
              ? { name: `${name}: ${n.what}`, status: 'pass', detail: 'present on the host' }
              : { name: `${name}: ${n.what}`, status: 'fail', detail: 'not present on the host', fix: 'plug it in, or correct the usb/pci entry of the definition (vigil devices ls lists what is present)' },
          );
        }
      }
      if (v.state !== 'running' && v.state !== 'paused') {
        checks.push({ name: `${name}: QMP`, status: 'warn', detail: `${v.state}: nothing to cut until it runs`, fix: `vigil vm start ${v.plan.vmName} (its devices are planned and will be cut once it runs)` });
        return;
      }
      // vigild holds the second monitor, so the public one answers; without vigild either does.
      const probes = [await probeQmpSocket(v.files.qmpSocket)];
      if (!probes[0]!.ok) probes.push(await probeQmpSocket(v.files.monitorSocket));
      const first = probes[0]!;
      checks.push(
        probes.some((p) => p.ok)
          ? { name: `${name}: QMP`, status: 'pass', detail: `answers (${v.plan.devices.length} device(s) planned, deadline ${v.plan.deadlineMs} ms)` }
          : { name: `${name}: QMP`, status: 'fail', detail: first.ok ? 'no answer' : first.message, fix: first.ok ? `vigil vm show ${v.plan.vmName}` : first.fix },
      );
    }),
  );

  const stuck = input.state === 'engaging' || input.state === 'releasing';
  checks.push(
    stuck
      ? { name: 'switch state', status: 'fail', detail: `${input.state}: an operation was interrupted or is running`, fix: 'run vigil killswitch engage (it finishes an interrupted one), then release if wanted' }
      : { name: 'switch state', status: 'pass', detail: input.state },
  );
  checks.sort((a, b) => Number(a.name.startsWith('VM ')) - Number(b.name.startsWith('VM ')) || a.name.localeCompare(b.name));
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}

/** The report as people read it: failures and warnings with their fix; passes only with `verbose`. */
export function formatSelfTest(report: SelfTestReport, verbose: boolean): string {
  const mark = { pass: 'ok  ', warn: 'warn', fail: 'FAIL' } as const;
  const lines: string[] = [];
  for (const c of report.checks) {
    if (c.status === 'pass' && !verbose) continue;
    lines.push(`${mark[c.status]}  ${c.name}: ${c.detail}`);
    if (c.fix) lines.push(`      fix: ${c.fix}`);
  }
  const count = (s: SelfTestCheck['status']): number => report.checks.filter((c) => c.status === s).length;
  lines.push(`${report.ok ? 'kill switch test passed' : 'kill switch test FAILED'}: ${count('pass')} ok, ${count('warn')} warning(s), ${count('fail')} failure(s)`);
  return lines.join('\n');
}
