/**
 * `vigil killswitch validate`: every problem of the kill switch configuration at once, never only the first,
 * each with its severity, where it is (file:line:col), what is wrong and the fix. Besides the files' own
 * validity it checks what only the host can say: that each device is plugged in, that each VM's QMP socket
 * answers as QMP, and that no device is promised to two VMs (by the seed files or by Vigil's VM definitions).
 */
import { stat } from 'node:fs/promises';
import { isVigilError } from '../core/errors.js';
import { silentLogger } from '../core/log.js';
import { QmpClient } from '../qmp/client.js';
import { readInventory } from '../sysfs/inventory.js';
import type { HostDevice, Inventory } from '../sysfs/types.js';
import type { DefinedVm } from '../vm/host-devices.js';
import { vmsNamingDevice } from '../vm/host-devices.js';
import { readSeedConfig, type SeedConfigRead, type SeedDevice, type SeedVm } from './seed-config.js';

/** How long a QMP socket has to greet before it counts as "not speaking QMP". */
export const QMP_PROBE_TIMEOUT_MS = 1000;

/** What kind of problem; stable, for scripts and tests (the message is for people). */
export type ValidationCode =
  | 'config-invalid'
  | 'config-note'
  | 'unknown-vm'
  | 'unknown-device'
  | 'target-vm-mismatch'
  | 'duplicate-id'
  | 'duplicate-name'
  | 'duplicate-vm'
  | 'duplicate-device'
  | 'shared-qmp-socket'
  | 'device-two-vms'
  | 'device-absent'
  | 'inventory-unreadable'
  | 'qmp-missing'
  | 'qmp-not-socket'
  | 'qmp-refused'
  | 'qmp-denied'
  | 'qmp-not-qmp'
  | 'qmp-unreachable';

/** One finding. `file`/`line`/`col` are absent for findings that come from no file (the host inventory). */
export interface ValidationProblem {
  severity: 'error' | 'warning' | 'note';
  code: ValidationCode;
  file?: string;
  line?: number;
  col?: number;
  /** The field as a dotted path, when the finding is about one. */
  field?: string;
  message: string;
  fix: string;
}

/** The outcome of a validation: `ok` is true when there is no error (warnings and notes do not fail it). */
export interface ValidationReport {
  ok: boolean;
  configDir: string;
  problems: ValidationProblem[];
  /** How much was checked, for the summary line. */
  checked: { devices: number; vms: number; sockets: number };
}

/** What validate needs of Vigil: its VMs with their definitions (a `Vigil` fits). */
export interface VigilVmSource {
  list(): readonly DefinedVm[];
}

interface Place {
  file: string;
  line?: number;
  col?: number;
}

const at = (p: Place): string => (p.line === undefined ? p.file : `${p.file}:${p.line}:${p.col ?? 1}`);

function problem(severity: ValidationProblem['severity'], code: ValidationCode, place: Place | undefined, field: string | undefined, message: string, fix: string): ValidationProblem {
  return {
    severity,
    code,
    ...(place === undefined ? {} : { file: place.file }),
    ...(place?.line === undefined ? {} : { line: place.line }),
    ...(place?.col === undefined ? {} : { col: place.col }),
    ...(field === undefined ? {} : { field }),
    message,
    fix,
  };
}

/** How a device is found on the host, for messages: `USB 046d:0825`, `PCI 0000:00:1f.3`. */
function hostIdentity(d: SeedDevice): string | undefined {
  if (d.type === 'usb') return d.vendorId !== undefined && d.productId !== undefined ? `USB ${d.vendorId}:${d.productId}` : undefined;
  return d.address === undefined ? undefined : `PCI ${d.address}`;
}

/** Names, ids and VMs: the checks that need only the two files. */
function crossCheck(devices: readonly SeedDevice[], vms: readonly SeedVm[], invalid: SeedConfigRead['invalidNames'], out: ValidationProblem[]): void {
  const vmByName = new Map<string, SeedVm>();
  for (const vm of vms) {
    const first = vmByName.get(vm.name);
    if (first !== undefined) out.push(problem('error', 'duplicate-vm', vm.at, 'name', `VM "${vm.name}" is defined twice (first at ${at(first.at)})`, 'merge the two entries into one, or rename one'));
    else vmByName.set(vm.name, vm);
  }
  const bySocket = new Map<string, SeedVm>();
  for (const vm of vmByName.values()) {
    const first = bySocket.get(vm.qmpSocket);
    if (first !== undefined) out.push(problem('error', 'shared-qmp-socket', vm.qmpSocketAt, 'qmp_socket', `VMs "${first.name}" and "${vm.name}" share the QMP socket ${vm.qmpSocket}`, 'give each VM the socket its own QEMU was started with (-qmp unix:PATH,server,nowait)'));
    else bySocket.set(vm.qmpSocket, vm);
  }

  const byId = new Map<string, SeedDevice>();
  const byName = new Map<string, SeedDevice>();
  const byHost = new Map<string, SeedDevice>();
  for (const d of devices) {
    if (d.id !== undefined) {
      const first = byId.get(d.id);
      if (first !== undefined) out.push(problem('error', 'duplicate-id', d.idAt, 'id', `id "${d.id}" is used twice (first by "${first.name}" at ${at(first.at)})`, 'give every device its own id'));
      else byId.set(d.id, d);
    }
    const firstName = byName.get(d.name);
    if (firstName !== undefined) out.push(problem('error', 'duplicate-name', d.nameAt, 'name', `device name "${d.name}" is used twice (first at ${at(firstName.at)}); vms.yaml could not tell them apart`, 'give every device its own name'));
    else byName.set(d.name, d);
    const host = hostIdentity(d);
    if (host === undefined) continue;
    const firstHost = byHost.get(host);
    if (firstHost === undefined) byHost.set(host, d);
    else if (firstHost.targetVm !== d.targetVm) {
      out.push(problem('error', 'device-two-vms', d.targetVmAt, 'target_vm', `${host} is assigned to two VMs: "${firstHost.targetVm}" ("${firstHost.name}" at ${at(firstHost.at)}) and "${d.targetVm}" ("${d.name}")`, 'a device can be passed to one VM only: keep one entry'));
    } else {
      out.push(problem('warning', 'duplicate-device', d.at, undefined, `${host} is listed twice ("${firstHost.name}" at ${at(firstHost.at)} and "${d.name}")`, 'remove one of the two entries'));
    }
  }

  for (const d of devices) {
    if (!vmByName.has(d.targetVm) && !invalid.vms.includes(d.targetVm)) {
      const known = [...vmByName.keys()];
      out.push(problem('error', 'unknown-vm', d.targetVmAt, 'target_vm', `device "${d.name}" targets VM "${d.targetVm}", which vms.yaml does not define`, known.length > 0 ? `use one of ${known.map((n) => `"${n}"`).join(', ')}, or add "${d.targetVm}" to vms.yaml with its qmp_socket` : `add "${d.targetVm}" to vms.yaml with its qmp_socket`));
    }
  }

  const listedIn = new Map<string, SeedVm>();
  for (const vm of vmByName.values()) {
    vm.devices.forEach((name, i) => {
      const place = vm.deviceAt[i] ?? vm.at;
      const device = byName.get(name);
      if (device === undefined) {
        if (invalid.devices.includes(name)) return;
        const known = [...byName.keys()];
        out.push(problem('error', 'unknown-device', place, `devices.${i}`, `VM "${vm.name}" lists device "${name}", which devices.yaml does not define`, known.length > 0 ? `use a device name from devices.yaml (${known.map((n) => `"${n}"`).join(', ')}), or add the device there` : 'add the device to devices.yaml'));
        return;
      }
      const other = listedIn.get(name);
      if (other !== undefined && other.name !== vm.name) {
        out.push(problem('error', 'device-two-vms', place, `devices.${i}`, `device "${name}" is listed by two VMs: "${other.name}" and "${vm.name}"`, 'a device can be passed to one VM only: remove it from one list'));
      }
      listedIn.set(name, vm);
      if (device.targetVm !== vm.name) {
        out.push(problem('warning', 'target-vm-mismatch', place, `devices.${i}`, `VM "${vm.name}" lists device "${name}", but its target_vm is "${device.targetVm}" (${at(device.targetVmAt)})`, `set target_vm: "${vm.name}" in devices.yaml, or move "${name}" to the devices of "${device.targetVm}"`));
      }
    });
  }
}

const describeUsb = (d: HostDevice): string => (d.kind === 'usb' ? `${d.vendorId ?? '????'}:${d.productId ?? '????'}${d.product === undefined ? '' : ` (${d.product})`} at usb ${d.bus}-${d.port}` : d.address);

/** The host device a seed entry names, or a problem saying it is absent with what the host has instead. */
function findOnHost(d: SeedDevice, inventory: Inventory, out: ValidationProblem[]): HostDevice | undefined {
  if (d.type === 'usb') {
    if (d.vendorId === undefined || d.productId === undefined) return undefined;
    const found = inventory.usb.find((u) => u.vendorId === d.vendorId && u.productId === d.productId);
    if (found !== undefined) return found;
    const sameVendor = inventory.usb.filter((u) => u.vendorId === d.vendorId);
    const hint =
      sameVendor.length > 0
        ? `this host has from vendor ${d.vendorId}: ${sameVendor.map(describeUsb).join(', ')}; if one of these is "${d.name}", set vendor_id/product_id to it`
        : `run lsusb to find it (ID vendor:product), and set vendor_id/product_id`;
    out.push(problem('error', 'device-absent', d.at, undefined, `device "${d.name}" (USB ${d.vendorId}:${d.productId}) is not plugged into this host`, `plug it in, or correct the ids: ${hint}`));
    return undefined;
  }
  if (d.address === undefined) return undefined;
  const found = inventory.pci.find((p) => p.address === d.address);
  if (found !== undefined) return found;
  const sameClass = inventory.pci.filter((p) => p.class === (d.class === 'video' ? 'camera' : d.class));
  const hint = sameClass.length > 0 ? `${d.class} PCI functions on this host: ${sameClass.map((p) => `${p.address.slice(5)} (${p.className ?? 'unknown class'})`).join(', ')}` : 'run lspci to find its address';
  out.push(problem('error', 'device-absent', d.idAt, 'id', `device "${d.name}" (PCI ${d.address}) does not exist on this host`, `correct id: ${hint}`));
  return undefined;
}

/** Devices promised to a VM by the seed files and to another by a Vigil VM definition. */
function checkVigilOwners(d: SeedDevice, host: HostDevice, vigilVms: readonly DefinedVm[], out: ValidationProblem[]): void {
  // A Vigil VM with the seed's target name is taken to be the same VM: it owning the device is no conflict.
  const others = vmsNamingDevice(host, vigilVms).filter((name) => name !== d.targetVm);
  if (others.length === 0) return;
  out.push(
    problem(
      'error',
      'device-two-vms',
      d.targetVmAt,
      'target_vm',
      `device "${d.name}" (${hostIdentity(d) ?? host.id}) targets "${d.targetVm}" but Vigil's definition of ${others.map((n) => `"${n}"`).join(', ')} passes it through too`,
      `remove it from the usb/pci list of ${others.join(', ')} (vigil apply), or set target_vm to ${others.length === 1 ? `"${others[0]!}"` : 'one of them'}`,
    ),
  );
}

/** The outcome of probing one QMP socket. */
type Probe = { ok: true } | { ok: false; code: Extract<ValidationCode, `qmp-${string}`>; message: string; fix: string };

const startHint = (path: string): string => `start the VM with -qmp unix:${path},server,nowait, or correct qmp_socket`;

/** Connects to `path` as QMP within `timeoutMs` and tells apart: no file, not a socket, refused, denied, not QMP. */
export async function probeQmpSocket(path: string, timeoutMs = QMP_PROBE_TIMEOUT_MS): Promise<Probe> {
  try {
    const st = await stat(path);
    if (!st.isSocket()) return { ok: false, code: 'qmp-not-socket', message: `${path} exists but is not a socket`, fix: `point qmp_socket at the socket QEMU creates (${startHint(path)})` };
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT' || errno === 'ENOTDIR') return { ok: false, code: 'qmp-missing', message: `QMP socket ${path} does not exist (is the VM running?)`, fix: startHint(path) };
    if (errno === 'EACCES') return { ok: false, code: 'qmp-denied', message: `QMP socket ${path} cannot be reached: permission denied`, fix: 'run validate as the user that owns the VM (or root)' };
    return { ok: false, code: 'qmp-unreachable', message: `QMP socket ${path}: ${(err as Error).message}`, fix: startHint(path) };
  }
  const client = new QmpClient({ connectTimeoutMs: timeoutMs, logger: silentLogger });
  try {
    await client.connect({ path });
    return { ok: true };
  } catch (err) {
    const errno = isVigilError(err) ? err.context.errno : undefined;
    const detail = err instanceof Error ? err.message : String(err);
    if (errno === 'ECONNREFUSED') return { ok: false, code: 'qmp-refused', message: `QMP socket ${path} refuses connections: a stale socket whose QEMU has exited`, fix: 'start the VM again (QEMU recreates the socket), or remove the stale file and correct qmp_socket' };
    if (errno === 'EACCES') return { ok: false, code: 'qmp-denied', message: `QMP socket ${path} refuses us: permission denied`, fix: 'run validate as the user that owns the VM (or root)' };
    if (isVigilError(err, 'VIGIL_QMP_TIMEOUT') || isVigilError(err, 'VIGIL_QMP_PROTOCOL') || isVigilError(err, 'VIGIL_QMP_CONNECT')) {
      const why = isVigilError(err, 'VIGIL_QMP_TIMEOUT') ? `no QMP greeting within ${timeoutMs} ms` : detail;
      return {
        ok: false,
        code: 'qmp-not-qmp',
        message: `${path} accepts connections but does not speak QMP (${why})`,
        fix: 'point qmp_socket at the -qmp socket, not a serial/monitor/other socket; if it is the right one, another client may hold the monitor (QEMU serves one at a time)',
      };
    }
    return { ok: false, code: 'qmp-unreachable', message: `QMP socket ${path}: ${detail}`, fix: startHint(path) };
  } finally {
    await client.close().catch(() => undefined);
  }
}

const SEVERITY_RANK = { error: 0, warning: 1, note: 2 } as const;

/**
 * Validates the kill switch configuration in `configDir` (devices.yaml + vms.yaml) against the files' rules, the
 * host inventory under `sysfsRoot` (default `/`), the VMs' QMP sockets and, when given, Vigil's own VM
 * definitions. Never throws for a configuration problem: everything found is in the report.
 */
export async function validateKillswitch(opts: { configDir: string; sysfsRoot?: string; vigil?: VigilVmSource }): Promise<ValidationReport> {
  const { config, problems: fileProblems, invalidNames } = readSeedConfig(opts.configDir);
  const out: ValidationProblem[] = fileProblems.map((p) =>
    problem(p.severity === 'note' ? 'note' : 'error', p.severity === 'note' ? 'config-note' : 'config-invalid', p, p.path === '' ? undefined : p.path, p.message, p.fix),
  );
  crossCheck(config.devices, config.vms, invalidNames, out);

  const sockets = [...new Map(config.vms.map((vm) => [vm.qmpSocket, vm])).values()];
  const [inventory, probes] = await Promise.all([
    readInventory(opts.sysfsRoot ?? '/').then(
      (inv) => inv,
      (err: unknown) => {
        out.push(problem('error', 'inventory-unreadable', undefined, undefined, `cannot read the host device inventory: ${err instanceof Error ? err.message : String(err)}`, 'run on the host with /sys mounted (device presence was not checked)'));
        return undefined;
      },
    ),
    Promise.all(sockets.map(async (vm) => ({ vm, probe: await probeQmpSocket(vm.qmpSocket) }))),
  ]);

  for (const { vm, probe } of probes) {
    if (!probe.ok) out.push(problem('error', probe.code, vm.qmpSocketAt, 'qmp_socket', `VM "${vm.name}": ${probe.message}`, probe.fix));
  }
  if (inventory !== undefined) {
    const vigilVms = opts.vigil?.list() ?? [];
    for (const d of config.devices) {
      const host = findOnHost(d, inventory, out);
      if (host !== undefined) checkVigilOwners(d, host, vigilVms, out);
    }
  }

  const order = [config.files.devices, config.files.vms];
  const rank = (f: string | undefined): number => (f === undefined ? order.length : order.indexOf(f) < 0 ? order.length : order.indexOf(f));
  out.sort((a, b) => rank(a.file) - rank(b.file) || (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0) || SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]);
  return {
    ok: out.every((p) => p.severity !== 'error'),
    configDir: opts.configDir,
    problems: out,
    checked: { devices: config.devices.length, vms: config.vms.length, sockets: sockets.length },
  };
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The report as a linter prints it: `file:line:col: severity: message [code]`, the fix indented below, then a summary. */
export function formatReport(report: ValidationReport): string {
  const lines: string[] = [];
  for (const p of report.problems) {
    const where = p.file === undefined ? 'host' : p.line === undefined ? p.file : `${p.file}:${p.line}:${p.col ?? 1}`;
    const field = p.field === undefined ? '' : `${p.field}: `;
    lines.push(`${where}: ${p.severity}: ${field}${p.message} [${p.code}]`);
    lines.push(...p.fix.split('\n').map((l, i) => (i === 0 ? `  fix: ${l}` : `       ${l}`)));
  }
  const count = (s: ValidationProblem['severity']): number => report.problems.filter((p) => p.severity === s).length;
  const { devices, vms, sockets } = report.checked;
  const checked = `checked ${plural(devices, 'device')}, ${plural(vms, 'VM')}, ${plural(sockets, 'QMP socket')}`;
  lines.push(
    report.problems.length === 0
      ? `${report.configDir}: kill switch configuration OK (${checked})`
      : `${report.ok ? 'OK with' : 'FAILED:'} ${plural(count('error'), 'error')}, ${plural(count('warning'), 'warning')}, ${plural(count('note'), 'note')} (${checked})`,
  );
  return lines.join('\n');
}
