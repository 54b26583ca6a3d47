/**
 * The supervisor (run by vigild): adopts running QEMUs after a restart, watches each VM through its own monitor
 * socket, records exits, applies restart policies with exponential backoff, autostarts VMs in dependency order,
 * and rotates serial logs. QEMUs are daemonized, so none of this is needed for a VM to keep running.
 */
import { copyFileSync, existsSync, renameSync, statSync, truncateSync } from 'node:fs';
import type { Logger } from '../core/log.js';
import { QmpClient } from '../qmp/client.js';
import type { QmpEvent } from '../qmp/types.js';
import { HealthMonitor, type HealthOptions } from './monitoring/health.js';
import { isQemuOf, waitForExit } from './process.js';
import type { RestartPolicy } from './definition/schema.js';
import type { Vm, VmService } from './service.js';
import { isActive } from './states.js';

/** Supervisor settings. */
export interface SupervisorOptions {
  logger: Logger;
  /** How often to look for VMs started by other processes (the CLI) and to rotate logs (default 1000 ms). */
  scanIntervalMs?: number;
  /** Health checks of running VMs every `intervalMs` (unset: none); see monitoring/health.ts. */
  health?: HealthOptions & { intervalMs: number };
}

interface Watch {
  pid: number;
  client: QmpClient;
  /** The SHUTDOWN event's reason, if QEMU announced its exit. */
  shutdown: { guest: boolean; reason: string } | undefined;
}

/** The delay before restart number `attempt` (0-based). */
export function restartDelay(policy: RestartPolicy, attempt: number): number {
  return Math.min(policy.initialDelayMs * 2 ** attempt, policy.maxDelayMs);
}

/** Orders VMs for autostart: every VM after those in its `after` list, then by `order`, then by name. */
export function autostartOrder(vms: readonly Vm[]): { order: Vm[]; problems: string[] } {
  const byName = new Map(vms.map((v) => [v.name, v]));
  const problems: string[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const order: Vm[] = [];
  const visit = (vm: Vm, path: string[]): void => {
    if (done.has(vm.name)) return;
    if (visiting.has(vm.name)) {
      problems.push(`autostart cycle: ${[...path, vm.name].join(' -> ')}`);
      return;
    }
    visiting.add(vm.name);
    for (const dep of vm.definition.autostart.after) {
      const d = byName.get(dep);
      if (d) visit(d, [...path, vm.name]);
      else problems.push(`VM '${vm.name}' starts after '${dep}', which is not defined`);
    }
    visiting.delete(vm.name);
    done.add(vm.name);
    order.push(vm);
  };
  const sorted = [...vms].sort((a, b) => a.definition.autostart.order - b.definition.autostart.order || a.name.localeCompare(b.name));
  for (const vm of sorted) visit(vm, []);
  return { order, problems };
}

/** Watches and restarts the VMs of one service. */
export class VmSupervisor {
  private readonly watches = new Map<string, Watch>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  /** VMs whose restart limit was reached: left crashed until someone starts them. */
  private readonly gaveUp = new Set<string>();
  private readonly qmpListeners = new Set<(vm: string, event: QmpEvent) => void>();
  private scanTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly log: Logger;
  /** The health checks, when enabled in the options. */
  readonly health: HealthMonitor | undefined;

  constructor(
    private readonly service: VmService,
    private readonly opts: SupervisorOptions,
  ) {
    this.log = opts.logger.child({ mod: 'supervisor' });
    this.health = opts.health ? new HealthMonitor(service, { logger: this.log, ...opts.health }) : undefined;
  }

  /** Reconciles the store with what runs, then autostarts, then keeps watching. */
  async start(): Promise<{ adopted: string[]; crashed: string[]; autostarted: string[] }> {
    const result = await this.reconcile();
    const autostarted = await this.autostart();
    this.scanTimer = setInterval(() => void this.scan(), this.opts.scanIntervalMs ?? 1000);
    this.scanTimer.unref();
    if (this.opts.health) this.health?.start(this.opts.health.intervalMs);
    return { ...result, autostarted };
  }

  /** Stops watching (the VMs keep running). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.scanTimer);
    this.health?.stop();
    for (const t of this.restartTimers.values()) clearTimeout(t);
    this.restartTimers.clear();
    const clients = [...this.watches.values()].map((w) => w.client);
    this.watches.clear();
    await Promise.all(clients.map((c) => c.close()));
  }

  /** Calls `listener` with every QMP event of every watched VM; returns the unsubscribe function. */
  onQmpEvent(listener: (vm: string, event: QmpEvent) => void): () => void {
    this.qmpListeners.add(listener);
    return () => this.qmpListeners.delete(listener);
  }

  /**
   * The connected monitor client held for VM `name`, for callers that cannot afford a fresh connection and greeting
   * (the kill switch); undefined when the VM is not watched or its monitor is not connected.
   */
  heldClient(name: string): QmpClient | undefined {
    const watch = this.watches.get(name);
    return watch?.client.state === 'running' ? watch.client : undefined;
  }

  /** The VMs being watched. */
  watched(): string[] {
    return [...this.watches.keys()];
  }

  /** Adopts every live QEMU the store knows; marks the dead ones and applies their restart policies. */
  async reconcile(): Promise<{ adopted: string[]; crashed: string[] }> {
    const adopted: string[] = [];
    const crashed: string[] = [];
    for (const record of this.service.repo.list()) {
      if (!isActive(record.state as Vm['state'])) continue;
      if (record.pid !== null && isQemuOf(record.pid, record.name)) {
        // One unresponsive QEMU must not keep vigild from supervising the others: scan() retries it.
        try {
          await this.adopt(record.name, record.pid);
          adopted.push(record.name);
        } catch (err) {
          this.log.error({ vm: record.name, err: String(err) }, 'could not adopt the VM yet; will retry');
        }
      } else {
        this.service.markExited(record.name, record.state === 'stopping' ? 'stopped' : 'crashed', 'QEMU was gone when vigild started');
        crashed.push(record.name);
        this.applyRestartPolicy(record.name, 'crashed');
      }
    }
    this.log.info({ adopted, crashed }, 'reconciled');
    return { adopted, crashed };
  }

  /** Starts autostart VMs that are not running, each after the VMs it depends on. */
  async autostart(): Promise<string[]> {
    const candidates = this.service.list().filter((v) => v.definition.autostart.enabled);
    const { order, problems } = autostartOrder(candidates);
    for (const p of problems) this.log.error({ problem: p }, 'autostart problem');
    const started: string[] = [];
    for (const vm of order) {
      if (this.stopped) break;
      const current = this.service.get(vm.name);
      if (isActive(current.state)) continue;
      const blocked = vm.definition.autostart.after.filter((dep) => {
        const d = this.service.repo.get(dep);
        return !d || d.state !== 'running';
      });
      if (blocked.length > 0) {
        this.log.warn({ vm: vm.name, blocked }, 'not autostarting: VMs it depends on are not running');
        continue;
      }
      try {
        await this.service.startBySupervisor(vm.name, 'autostart');
        started.push(vm.name);
        await this.adoptIfRunning(vm.name);
      } catch (err) {
        this.log.error({ vm: vm.name, err: String(err) }, 'autostart failed');
      }
    }
    return started;
  }

  /** Picks up VMs started elsewhere (the CLI), drops watches of VMs that stopped, rotates logs. */
  async scan(): Promise<void> {
    if (this.stopped) return;
    for (const record of this.service.repo.list()) {
      if (record.state !== 'crashed') this.gaveUp.delete(record.name);
      // Crashes recorded by another process, or while vigild was down.
      if (record.state === 'crashed') this.applyRestartPolicy(record.name, 'crashed');
      if (isActive(record.state as Vm['state']) && record.state !== 'stopping' && !this.watches.has(record.name) && record.pid !== null) {
        if (isQemuOf(record.pid, record.name)) await this.adopt(record.name, record.pid).catch((err: unknown) => this.log.warn({ vm: record.name, err: String(err) }, 'adopt failed'));
      }
      if (record.state === 'running' || record.state === 'paused') this.rotateLog(record.name);
    }
  }

  private async adoptIfRunning(name: string): Promise<void> {
    const r = this.service.repo.get(name);
    if (r?.pid != null && !this.watches.has(name)) await this.adopt(name, r.pid);
  }

  /** Connects to the VM's monitor socket and follows it until QEMU exits. */
  private async adopt(name: string, pid: number): Promise<void> {
    if (this.watches.has(name)) return;
    const client = new QmpClient({ logger: this.log, connectTimeoutMs: 5000 });
    await client.connect({ path: this.service.files(name).monitorSocket });
    const watch: Watch = { pid, client, shutdown: undefined };
    this.watches.set(name, watch);
    client.onEvent((e) => {
      for (const l of [...this.qmpListeners]) l(name, e);
      if (e.event === 'SHUTDOWN') watch.shutdown = { guest: e.data.guest === true, reason: typeof e.data.reason === 'string' ? e.data.reason : 'unknown' };
      else if (e.event === 'STOP') this.service.markRunState(name, 'paused', 'QEMU reported STOP');
      else if (e.event === 'RESUME') this.service.markRunState(name, 'running', 'QEMU reported RESUME');
    });
    client.onStateChange((state) => {
      if (state === 'idle' && this.watches.get(name) === watch) void this.onMonitorClosed(name, watch);
    });
    const status = await client.execute<{ status: string }>('query-status');
    this.service.markRunState(name, status.status === 'paused' || status.status === 'prelaunch' ? 'paused' : 'running', `adopted QEMU ${pid} (${status.status})`, true);
    this.log.info({ vm: name, qemuPid: pid, status: status.status }, 'watching VM');
  }

  private async onMonitorClosed(name: string, watch: Watch): Promise<void> {
    this.watches.delete(name);
    if (this.stopped) return;
    // The monitor closes a moment before the process is gone.
    await waitForExit(watch.pid, 3000);
    const record = this.service.repo.get(name);
    if (!record || record.state === 'stopping') return; // the process stopping it records the outcome
    if (record.state === 'crashed') {
      // Another process (a CLI listing the VMs) noticed the dead QEMU first; the policy is still ours to apply.
      this.applyRestartPolicy(name, 'crashed');
      return;
    }
    if (!isActive(record.state as Vm['state']) || record.pid !== watch.pid) return;
    const s = watch.shutdown;
    const clean = s !== undefined && s.reason !== 'guest-panic';
    const to = clean ? 'stopped' : 'crashed';
    const reason = s ? `QEMU exited (${s.reason})` : 'QEMU died without a SHUTDOWN event (killed or crashed)';
    this.log.warn({ vm: name, qemuPid: watch.pid, to, reason }, 'VM exited');
    this.service.markExited(name, to, reason);
    this.applyRestartPolicy(name, to === 'crashed' ? 'crashed' : s?.guest ? 'guest-stopped' : 'host-stopped');
  }

  /** Schedules a restart if the VM's policy asks for one and its limit is not reached. */
  private applyRestartPolicy(name: string, exit: 'crashed' | 'guest-stopped' | 'host-stopped'): void {
    const record = this.service.record(name);
    if (!record || this.stopped || this.restartTimers.has(name) || this.gaveUp.has(name)) return;
    const vm = this.service.get(name);
    const policy = vm.definition.autostart.restart;
    const wanted = policy.policy === 'always' ? exit !== 'host-stopped' : policy.policy === 'on-failure' && exit === 'crashed';
    if (!wanted) return;
    const now = Date.now();
    const windowStart = record.restartWindowStart ? Date.parse(record.restartWindowStart) : now;
    const inWindow = now - windowStart < policy.windowMs;
    const count = inWindow ? record.restartCount : 0;
    if (count >= policy.limit) {
      this.gaveUp.add(name);
      this.log.error({ vm: name, restarts: count, windowMs: policy.windowMs }, 'restart limit reached; leaving the VM crashed');
      this.service.history.append(name, vm.state, vm.state, `restart limit reached (${count} in ${policy.windowMs} ms)`);
      return;
    }
    const delay = restartDelay(policy, count);
    this.service.repo.update(name, { restartCount: count + 1, restartWindowStart: new Date(inWindow ? windowStart : now).toISOString() });
    this.log.warn({ vm: name, attempt: count + 1, delayMs: delay }, 'restarting VM per its policy');
    clearTimeout(this.restartTimers.get(name));
    const scheduledFor = this.service.record(name)?.updatedAt;
    const timer = setTimeout(() => {
      this.restartTimers.delete(name);
      if (this.stopped) return;
      // Someone acted on the VM meanwhile (a stop acknowledging the crash, a manual start): leave it be.
      const now = this.service.record(name);
      if (!now || now.state !== 'crashed' || now.updatedAt !== scheduledFor) return;
      this.service
        .startBySupervisor(name, `restart ${count + 1} per policy ${policy.policy} after ${delay} ms`)
        .then(() => this.adoptIfRunning(name))
        .catch((err: unknown) => {
          this.log.error({ vm: name, err: String(err) }, 'restart failed');
          this.applyRestartPolicy(name, 'crashed');
        });
    }, delay);
    this.restartTimers.set(name, timer);
  }

  /** Copy-truncate rotation: QEMU appends (logappend=on), so it keeps writing at the new end. */
  private rotateLog(name: string): void {
    let vm: Vm;
    try {
      vm = this.service.get(name);
    } catch {
      return;
    }
    const { log, maxSize, keep } = vm.definition.serial;
    const file = this.service.files(name).serialLog;
    if (!log || !existsSync(file) || statSync(file).size <= maxSize * 1024 * 1024) return;
    for (let i = keep - 1; i >= 1; i--) if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
    if (keep > 0) copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    this.log.info({ vm: name }, 'rotated serial log');
  }
}
