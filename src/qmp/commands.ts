/**
 * Typed wrappers for the QMP commands Vigil uses. Each takes a channel (the raw client, or the guard in front of
 * it), so the same call is audited when it runs on someone's behalf.
 */
import type { QmpChannel, QmpVersion } from './types.js';

/** `query-status`. */
export interface QmpStatusInfo {
  status: string;
  running: boolean;
  singlestep?: boolean;
}

/** One entry of `query-cpus-fast`. */
export interface QmpCpuInfoFast {
  'cpu-index': number;
  'qom-path': string;
  'thread-id': number;
  target: string;
  props?: Record<string, number>;
  [key: string]: unknown;
}

/** One entry of `query-memdev`. */
export interface QmpMemdev {
  id?: string;
  size: number | bigint;
  merge: boolean;
  dump: boolean;
  prealloc: boolean;
  share: boolean;
  policy: string;
  'host-nodes': number[];
  [key: string]: unknown;
}

/** One property of `qom-list`. */
export interface QmpObjectProperty {
  name: string;
  type: string;
  description?: string;
}

/** A PCI device as `query-pci` reports it (the fields Vigil reads; the rest is kept). */
export interface QmpPciDevice {
  bus: number;
  slot: number;
  function: number;
  class_info: { class: number; desc?: string };
  id: { vendor: number; device: number; subsystem?: number; 'subsystem-vendor'?: number };
  qdev_id: string;
  pci_bridge?: { bus: { number: number; secondary: number; subordinate: number }; devices?: QmpPciDevice[] };
  [key: string]: unknown;
}

/** One bus of `query-pci`. */
export interface QmpPciBus {
  bus: number;
  devices: QmpPciDevice[];
}

/** One entry of `query-qmp-schema` (SchemaInfo); only `name` and `meta-type` are relied on. */
export interface QmpSchemaEntry {
  name: string;
  'meta-type': string;
  [key: string]: unknown;
}

/** Properties of a device to hot-plug: `driver`, `id`, then driver-specific ones. */
export type DeviceAddArgs = { driver: string; id: string } & Record<string, unknown>;

/** The VM's run state. */
export function queryStatus(qmp: QmpChannel): Promise<QmpStatusInfo> {
  return qmp.execute<QmpStatusInfo>('query-status');
}

/** QEMU's version. */
export function queryVersion(qmp: QmpChannel): Promise<QmpVersion> {
  return qmp.execute<QmpVersion>('query-version');
}

/** Pauses every vCPU (emits STOP). */
export async function stop(qmp: QmpChannel): Promise<void> {
  await qmp.execute('stop');
}

/** Resumes the vCPUs (emits RESUME). */
export async function cont(qmp: QmpChannel): Promise<void> {
  await qmp.execute('cont');
}

/** Asks the guest to power off through ACPI (it may ignore the request). */
export async function systemPowerdown(qmp: QmpChannel): Promise<void> {
  await qmp.execute('system_powerdown');
}

/** Resets the machine at once, as the reset button would. */
export async function systemReset(qmp: QmpChannel): Promise<void> {
  await qmp.execute('system_reset');
}

/** Terminates QEMU; the connection closes right after the reply. */
export async function quit(qmp: QmpChannel): Promise<void> {
  await qmp.execute('quit');
}

/** Hot-plugs a device. */
export async function deviceAdd(qmp: QmpChannel, args: DeviceAddArgs): Promise<void> {
  await qmp.execute('device_add', args);
}

/** Sets a NIC's link up or down, as unplugging its cable would. */
export async function setLink(qmp: QmpChannel, name: string, up: boolean): Promise<void> {
  await qmp.execute('set_link', { name, up });
}

/** The PCI topology. */
export function queryPci(qmp: QmpChannel): Promise<QmpPciBus[]> {
  return qmp.execute<QmpPciBus[]>('query-pci');
}

/** The properties of a QOM object, e.g. `/machine/peripheral`. */
export function qomList(qmp: QmpChannel, path: string): Promise<QmpObjectProperty[]> {
  return qmp.execute<QmpObjectProperty[]>('qom-list', { path });
}

/** The vCPUs, without interrupting them. */
export function queryCpusFast(qmp: QmpChannel): Promise<QmpCpuInfoFast[]> {
  return qmp.execute<QmpCpuInfoFast[]>('query-cpus-fast');
}

/** The memory backends (size, share, ...). */
export function queryMemdev(qmp: QmpChannel): Promise<QmpMemdev[]> {
  return qmp.execute<QmpMemdev[]>('query-memdev');
}

/** The whole QMP schema of this QEMU (a large reply). */
export function queryQmpSchema(qmp: QmpChannel): Promise<QmpSchemaEntry[]> {
  return qmp.execute<QmpSchemaEntry[]>('query-qmp-schema');
}
