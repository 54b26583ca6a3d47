/**
 * Health checks of running VMs: the monitor must answer `query-status` within a timeout (a hung or
 * SIGSTOPped QEMU does not), and, where asked for, the guest must have shown it is alive (a ready line on the
 * serial console, or its boot_complete call). A VM found unhealthy several times in a row is marked so in its
 * history and, when its restart policy asks for restarts (on-failure, always), restarted.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Logger } from '../../core/log.js';
import type { QmpClient } from '../../qmp/client.js';
import type { VmService } from '../service.js';
import { procStats } from './proc.js';
import { internalQmp } from './stats.js';
import { snapshotBusyMarker } from '../snapshot/service.js';

/** A snapshot job's marker, fresh enough to be believed (a crashed snapshotter's stale one is not). */
function snapshotRunning(runtimeDir: string): boolean {
  try {
    return Date.now() - statSync(snapshotBusyMarker(runtimeDir)).mtimeMs < SNAPSHOT_MARKER_MAX_AGE_MS;
  } catch {
    return false;
  }
}

/** Longer than any snapshot of a VM Vigil runs takes to write. */
const SNAPSHOT_MARKER_MAX_AGE_MS = 60 * 60 * 1000;

/** The outcome of one check. */
export interface HealthStatus {
  healthy: boolean;
  checkedAt: string;
  /** The monitor answered query-status in time. */
  qmp: { ok: boolean; ms: number; status?: string; error?: string };
  /** ok: the guest showed life; pending: still in its boot grace; unknown: no signal configured. */
  guest: 'ok' | 'pending' | 'missing' | 'unknown';
  /** Why it is unhealthy. */
  reasons: string[];
  /** Unhealthy checks in a row. */
  failures: number;
}

/** Health check settings. */
export interface HealthOptions {
  /** Deadline of the monitor's answer (default 3000 ms). */
  qmpTimeoutMs?: number;
  /**
   * A monitor connection already open to the VM (vigild's supervisor holds one): asked instead of dialling, so a
   * check never competes with a user's session for the public monitor (QEMU serves one client per monitor).
   */
  heldQmp?: (vmName: string) => QmpClient | undefined;
  /** A serial console line that shows the guest is up (a regular expression); unset: only boot_complete counts. */
  readyPattern?: RegExp;
  /** Require a guest signal this long after the start (default: never require one). */
  guestGraceMs?: number;
  /** Unhealthy checks in a row before a restart (default 3). */
  failuresBeforeRestart?: number;
  /** Record health changes in the VM history and restart per policy (default true; a one-off look such as `vigil vm stats` does neither). */
  record?: boolean;
  logger?: Logger;
}

/** Runs health checks and keeps the latest status of every VM. */
export class HealthMonitor {
  private readonly statuses = new Map<string, HealthStatus>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly vms: VmService,
    private readonly opts: HealthOptions = {},
  ) {}

  /** The latest status of a VM (undefined: not checked yet or not running). */
  status(name: string): HealthStatus | undefined {
    return this.statuses.get(name);
  }

  /** Checks every running VM every `intervalMs`. */
  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = true;
      void this.checkAll().finally(() => {
        this.running = false;
      });
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the periodic checks. */
  stop(): void {
    clearInterval(this.timer);
  }

  /** Checks every running or paused VM once (in parallel) and acts on the unhealthy ones. */
  async checkAll(): Promise<Map<string, HealthStatus>> {
    const live = this.vms.list().filter((v) => v.state === 'running' || v.state === 'paused');
    for (const name of this.statuses.keys()) if (!live.some((v) => v.name === name)) this.statuses.delete(name);
    await Promise.all(live.map((v) => this.check(v.name).catch(() => undefined)));
    return new Map(this.statuses);
  }

  /** Checks one VM, records the result, and restarts it if it stayed unhealthy and its policy says so. */
  async check(name: string): Promise<HealthStatus> {
    const vm = this.vms.get(name);
    const timeoutMs = this.opts.qmpTimeoutMs ?? 3000;
    const reasons: string[] = [];
    const started = Date.now();
    const qmp: HealthStatus['qmp'] = { ok: false, ms: 0 };
    let client: QmpClient | undefined;
    const held = this.opts.heldQmp?.(vm.name);
    try {
      client = held ?? (await internalQmp(this.vms, vm.name, timeoutMs));
      qmp.status = (await client.execute<{ status: string }>('query-status', undefined, { timeoutMs })).status;
      qmp.ok = true;
    } catch (err) {
      qmp.error = (err as Error).message;
      // A snapshot job holds QEMU's main loop for as long as it takes to write the guest's memory: busy, not hung.
      if (snapshotRunning(this.vms.files(vm.name).runtimeDir)) qmp.error += ' (a snapshot job runs: not counted)';
      else reasons.push(`the monitor did not answer within ${timeoutMs} ms (${(err as Error).message})`);
    } finally {
      qmp.ms = Date.now() - started;
      if (client !== held) await client?.close().catch(() => undefined);
    }
    if (vm.pid !== null && procStats(vm.pid)?.state === 'T') reasons.push('the QEMU process is stopped by a signal (SIGSTOP)');
    const guest = this.guestLiveness(vm.name, vm.startedAt);
    if (guest === 'missing') reasons.push(`the guest gave no sign of life within ${this.opts.guestGraceMs} ms of its start`);
    const previous = this.statuses.get(vm.name);
    const healthy = reasons.length === 0;
    const status: HealthStatus = { healthy, checkedAt: new Date().toISOString(), qmp, guest, reasons, failures: healthy ? 0 : (previous?.failures ?? 0) + 1 };
    this.statuses.set(vm.name, status);
    if (this.opts.record === false) return status;
    if (!healthy && (previous === undefined || previous.healthy)) {
      this.vms.history.append(vm.name, vm.state, vm.state, `unhealthy: ${reasons.join('; ')}`);
      this.opts.logger?.warn({ vm: vm.name, reasons }, 'VM unhealthy');
    } else if (healthy && previous !== undefined && !previous.healthy) {
      this.vms.history.append(vm.name, vm.state, vm.state, 'healthy again');
    }
    if (!healthy && status.failures === (this.opts.failuresBeforeRestart ?? 3)) await this.restartIfPolicy(vm.name, reasons);
    return status;
  }

  private guestLiveness(name: string, startedAt: string | null): HealthStatus['guest'] {
    const since = startedAt ? Date.parse(startedAt) : 0;
    const booted = this.vms.history.list(name, 200).some((c) => c.reason === 'guest reported boot complete' && Date.parse(c.time) >= since);
    if (booted) return 'ok';
    const pattern = this.opts.readyPattern;
    if (pattern) {
      const log = this.vms.files(name).serialLog;
      if (existsSync(log) && pattern.test(readFileSync(log, 'utf8'))) return 'ok';
    }
    if (this.opts.guestGraceMs === undefined) return 'unknown';
    return Date.now() - since < this.opts.guestGraceMs ? 'pending' : 'missing';
  }

  private async restartIfPolicy(name: string, reasons: string[]): Promise<void> {
    const vm = this.vms.get(name);
    const policy = vm.definition.autostart.restart.policy;
    if (policy !== 'on-failure' && policy !== 'always') return;
    this.opts.logger?.warn({ vm: name, reasons }, 'restarting unhealthy VM per its restart policy');
    this.vms.history.append(name, vm.state, vm.state, `restarting: unhealthy (${reasons.join('; ')}), restart policy ${policy}`);
    try {
      await this.vms.restart(name, { force: true });
      this.statuses.delete(name);
    } catch (err) {
      this.opts.logger?.error({ vm: name, err: String(err) }, 'restart of unhealthy VM failed');
    }
  }
}
