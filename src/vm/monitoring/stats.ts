/**
 * A running VM's numbers: state and uptime from the store, CPU time and RSS of its QEMU from /proc, disk I/O from
 * `query-blockstats`, NIC counters from the host side of tap interfaces (QEMU's QMP has no per-NIC byte counters
 * for its own network backends, so user-mode NICs report none).
 */
import { readFileSync } from 'node:fs';
import { QmpClient } from '../../qmp/client.js';
import type { Vm, VmService } from '../service.js';
import type { HealthStatus } from './health.js';
import { procStats, type ProcStats } from './proc.js';

/** Disk counters of one guest device. */
export interface DiskStats {
  device: string;
  node: string;
  readBytes: number;
  writeBytes: number;
  readOps: number;
  writeOps: number;
  flushOps: number;
}

/** Host-side counters of one NIC's tap (rx: what the guest sent, from the host's point of view reversed). */
export interface NicStats {
  id: string;
  ifname: string;
  /** Bytes the guest received. */
  guestRxBytes: number;
  /** Bytes the guest sent. */
  guestTxBytes: number;
}

/** Everything `vigil vm stats` shows. */
export interface VmStats {
  vm: string;
  state: Vm['state'];
  pid: number | null;
  startedAt: string | null;
  uptimeSec: number | null;
  /** QEMU's own run state (`query-status`), when its monitor answered. */
  qemuStatus?: string;
  process?: ProcStats;
  disks: DiskStats[];
  nics: NicStats[];
  /** Why some numbers are missing (monitor busy or hung). */
  errors: string[];
  health?: HealthStatus;
}

interface BlockStatsEntry {
  device?: string;
  qdev?: string;
  'node-name'?: string;
  stats: { rd_bytes: number; wr_bytes: number; rd_operations: number; wr_operations: number; flush_operations: number };
}

/**
 * Opens a raw QMP connection for Vigil's own read-only queries (no guard, no audit rows for every scrape):
 * the CLI's socket first, the second monitor when the first is held by someone else.
 */
export async function internalQmp(vms: VmService, name: string, timeoutMs: number): Promise<QmpClient> {
  const files = vms.files(name);
  let lastErr: unknown;
  for (const path of [files.qmpSocket, files.monitorSocket]) {
    const client = new QmpClient({ connectTimeoutMs: timeoutMs, commandTimeoutMs: timeoutMs });
    try {
      await client.connect({ path });
      return client;
    } catch (err) {
      lastErr = err;
      await client.close().catch(() => undefined);
    }
  }
  throw lastErr;
}

function nicCounters(vm: Vm): NicStats[] {
  const out: NicStats[] = [];
  vm.definition.nics.forEach((nic, i) => {
    if (nic.type !== 'tap' || nic.ifname === undefined) return;
    try {
      const read = (f: string): number => Number(readFileSync(`/sys/class/net/${nic.ifname}/statistics/${f}`, 'utf8').trim());
      // The tap's tx is what the host sent into the guest.
      out.push({ id: nic.id ?? `net${i}`, ifname: nic.ifname, guestRxBytes: read('tx_bytes'), guestTxBytes: read('rx_bytes') });
    } catch {
      // The tap is gone or not ours to read.
    }
  });
  return out;
}

/** The stats of one VM; the monitor is asked with `timeoutMs` and its silence is reported, not thrown. */
export async function vmStats(vms: VmService, name: string, options: { timeoutMs?: number; qmp?: boolean } = {}): Promise<VmStats> {
  const vm = vms.get(name);
  const running = vm.state === 'running' || vm.state === 'paused';
  const stats: VmStats = {
    vm: vm.name,
    state: vm.state,
    pid: vm.pid,
    startedAt: vm.startedAt,
    uptimeSec: running && vm.startedAt ? Math.max(0, (Date.now() - Date.parse(vm.startedAt)) / 1000) : null,
    disks: [],
    nics: running ? nicCounters(vm) : [],
    errors: [],
  };
  if (!running || vm.pid === null) return stats;
  const proc = procStats(vm.pid);
  if (proc) stats.process = proc;
  if (options.qmp === false) return stats;
  let client: QmpClient | undefined;
  try {
    client = await internalQmp(vms, vm.name, options.timeoutMs ?? 2000);
    stats.qemuStatus = (await client.execute<{ status: string }>('query-status')).status;
    const blocks = await client.execute<BlockStatsEntry[]>('query-blockstats');
    stats.disks = blocks.map((b) => ({
      // qdev is the QOM path /machine/peripheral/<id>/virtio-backend: the id is what the definition calls the disk.
      device: /^\/machine\/peripheral\/([^/]+)/.exec(b.qdev ?? '')?.[1] ?? (b.device || b.qdev || ''),
      node: b['node-name'] ?? '',
      readBytes: b.stats.rd_bytes,
      writeBytes: b.stats.wr_bytes,
      readOps: b.stats.rd_operations,
      writeOps: b.stats.wr_operations,
      flushOps: b.stats.flush_operations,
    }));
  } catch (err) {
    stats.errors.push(`monitor: ${(err as Error).message}`);
  } finally {
    await client?.close().catch(() => undefined);
  }
  return stats;
}
