/**
 * Prometheus metrics (prom-client): one series per VM, labelled `vm`, for state, uptime, QEMU CPU time and RSS,
 * disk I/O, tap NIC counters and health. Each scrape builds a fresh registry from what runs now, so a removed
 * VM leaves no stale series behind.
 */
import { Gauge, Registry } from 'prom-client';
import type { AuditLog } from '../../store/audit-log.js';
import type { VmService } from '../service.js';
import { VM_STATES } from '../states.js';
import type { HealthMonitor } from './health.js';
import { vmStats, type VmStats } from './stats.js';

/** Where the metrics come from. */
export interface MetricsSource {
  vms: VmService;
  health?: HealthMonitor | undefined;
  audit?: AuditLog | undefined;
  /** Per-VM monitor deadline during a scrape (default 1000 ms). */
  qmpTimeoutMs?: number;
}

let defaultSource: MetricsSource | undefined;

/** Sets what `renderMetrics()` without arguments reports (vigild calls this once). */
export function setMetricsSource(source: MetricsSource): void {
  defaultSource = source;
}

/** The Content-Type of the text `renderMetrics` returns. */
export const METRICS_CONTENT_TYPE = new Registry().contentType;

/** The Prometheus text exposition of every VM. */
export async function renderMetrics(source: MetricsSource | undefined = defaultSource): Promise<string> {
  if (source === undefined) throw new Error('renderMetrics: no metrics source set (call setMetricsSource first)');
  const registry = new Registry();
  const gauge = (name: string, help: string, labelNames: string[] = ['vm']): Gauge => new Gauge({ name, help, labelNames, registers: [registry] });
  const vms = source.vms.list();
  const stats = await Promise.all(
    vms.map((v): Promise<VmStats> =>
      vmStats(source.vms, v.name, { timeoutMs: source.qmpTimeoutMs ?? 1000 }).catch(() => ({ vm: v.name, state: v.state, pid: null, startedAt: null, uptimeSec: null, disks: [], nics: [], errors: ['gone'] })),
    ),
  );

  const byState = gauge('vigil_vms', 'VMs by state', ['state']);
  for (const s of VM_STATES) byState.set({ state: s }, vms.filter((v) => v.state === s).length);
  const info = gauge('vigil_vm_info', 'one series per VM with its state (value 1)', ['vm', 'state']);
  const up = gauge('vigil_vm_up', '1 when the VM runs (vCPUs not paused)');
  const qmpUp = gauge('vigil_vm_qmp_up', '1 when the monitor answered this scrape');
  const uptime = gauge('vigil_vm_uptime_seconds', 'seconds since QEMU started');
  const cpu = gauge('vigil_vm_cpu_seconds_total', 'CPU time of the QEMU process (user + system)');
  const rss = gauge('vigil_vm_memory_rss_bytes', 'resident memory of the QEMU process');
  const rdB = gauge('vigil_vm_disk_read_bytes_total', 'bytes read by the guest', ['vm', 'disk']);
  const wrB = gauge('vigil_vm_disk_write_bytes_total', 'bytes written by the guest', ['vm', 'disk']);
  const rdO = gauge('vigil_vm_disk_read_ops_total', 'read operations', ['vm', 'disk']);
  const wrO = gauge('vigil_vm_disk_write_ops_total', 'write operations', ['vm', 'disk']);
  const rx = gauge('vigil_vm_nic_receive_bytes_total', 'bytes the guest received (tap NICs only)', ['vm', 'nic']);
  const tx = gauge('vigil_vm_nic_transmit_bytes_total', 'bytes the guest sent (tap NICs only)', ['vm', 'nic']);
  const healthy = gauge('vigil_vm_healthy', '1 healthy, 0 unhealthy (only VMs the health monitor checked)');

  for (const s of stats) {
    const vm = { vm: s.vm };
    info.set({ vm: s.vm, state: s.state }, 1);
    up.set(vm, s.state === 'running' ? 1 : 0);
    if (s.state !== 'running' && s.state !== 'paused') continue;
    qmpUp.set(vm, s.qemuStatus !== undefined ? 1 : 0);
    if (s.uptimeSec !== null) uptime.set(vm, s.uptimeSec);
    if (s.process) {
      cpu.set(vm, s.process.cpuSeconds);
      rss.set(vm, s.process.rssBytes);
    }
    for (const d of s.disks) {
      const l = { vm: s.vm, disk: d.device || d.node };
      rdB.set(l, d.readBytes);
      wrB.set(l, d.writeBytes);
      rdO.set(l, d.readOps);
      wrO.set(l, d.writeOps);
    }
    for (const n of s.nics) {
      rx.set({ vm: s.vm, nic: n.id }, n.guestRxBytes);
      tx.set({ vm: s.vm, nic: n.id }, n.guestTxBytes);
    }
    const h = source.health?.status(s.vm);
    if (h) healthy.set(vm, h.healthy ? 1 : 0);
  }
  if (source.audit) gauge('vigil_audit_rows', 'rows in the audit log', []).set(source.audit.head().seq);
  return registry.metrics();
}
