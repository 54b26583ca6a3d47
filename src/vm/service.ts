/**
 * The VM lifecycle service: the one implementation of add, start, stop, pause, ... that the CLI, the API, the
 * daemon and the library all call. State lives in the store, so several processes (the CLI, vigild) can act on
 * the same VMs; every transition is persisted before it is acted on.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { VigilError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { VigilPaths } from '../core/paths.js';
import type { AuditLog } from '../store/audit-log.js';
import type { StoreDb } from '../store/db.js';
import { VmHistoryRepo, type VmStateChange } from '../store/vm-history-repo.js';
import { VmRepo, type VmRecord } from '../store/vm-repo.js';
import { postStartActions } from './argv/index.js';
import { applyHostNet } from './host-net/apply.js';
import { planHostNet } from './host-net/plan.js';
import { loadDefinitionFiles } from './definition/load.js';
import { vmDefinitionSchema, type VmDefinition } from './definition/schema.js';
import { launchVm, preflight } from './launcher.js';
import { openMonitor, type Monitor } from './monitor.js';
import { isQemuOf, waitForExit } from './process.js';
import { vmFiles, type VmFiles } from './runtime.js';
import { VM_STATES, canTransition, isActive, type VmState } from './states.js';

/** A VM as the service reports it. */
export interface Vm {
  name: string;
  state: VmState;
  pid: number | null;
  startedAt: string | null;
  definition: VmDefinition;
  sources: string[];
  /** A changed definition waits for a restart. */
  needsRestart: boolean;
  restartCount: number;
}

/** A state change, as emitted to listeners. */
export interface VmStateEvent {
  vm: string;
  from: VmState | null;
  to: VmState;
  reason: string;
  time: string;
}

/** Options of `stop`. */
export interface StopOptions {
  /** Skip the ACPI power-down request: quit at once (then SIGKILL if QEMU does not exit). */
  force?: boolean;
  /** How long the guest gets to power off after the request (default 30000 ms). */
  timeoutMs?: number;
}

/** What `apply` changed. */
export interface ApplyResult {
  vm: Vm;
  /** Top-level definition fields that differ. */
  changed: string[];
  /** The VM runs with the old definition until it is restarted. */
  needsRestart: boolean;
}

/** The service's dependencies. */
export interface VmServiceOptions {
  paths: VigilPaths;
  db: StoreDb;
  logger: Logger;
  /** Who acts (audited with every QMP command). */
  principal: string;
  qemuBinary?: string;
  /** What `accel: auto` means on this host. */
  hostAccel?: 'auto' | 'kvm' | 'tcg';
  /** The shared audit log (so its listeners see lifecycle QMP commands). */
  audit?: AuditLog;
  /** Throws when the definition would attach a host device that must not be (the kill switch's blocked devices). */
  attachCheck?: (name: string, definition: VmDefinition) => void;
}

const STOP_STEP_MS = 3000;
const STARTING_GRACE_MS = 120000;

// The repository hands out one parsed object per distinct definition text: validate each of them once.
const validated = new WeakMap<object, VmDefinition>();

function checkedDefinition(raw: unknown): VmDefinition {
  if (typeof raw !== 'object' || raw === null) return vmDefinitionSchema.parse(raw);
  let def = validated.get(raw);
  if (!def) {
    def = vmDefinitionSchema.parse(raw);
    validated.set(raw, def);
  }
  return def;
}

function toVm(r: VmRecord): Vm {
  const state = (VM_STATES as readonly string[]).includes(r.state) ? (r.state as VmState) : 'crashed';
  return {
    name: r.name,
    state,
    pid: r.pid,
    startedAt: r.startedAt,
    definition: checkedDefinition(r.definition),
    sources: r.sources,
    needsRestart: r.needsRestart,
    restartCount: r.restartCount,
  };
}

/** The lifecycle of every VM in one store. */
export class VmService {
  readonly repo: VmRepo;
  readonly history: VmHistoryRepo;
  private readonly listeners = new Set<(e: VmStateEvent) => void>();
  private readonly busy = new Set<string>();
  private readonly actor = new AsyncLocalStorage<string>();

  constructor(private readonly opts: VmServiceOptions) {
    this.repo = new VmRepo(opts.db);
    this.history = new VmHistoryRepo(opts.db);
  }

  /** Calls `listener` on every state change made through this service; returns the unsubscribe function. */
  onStateChange(listener: (e: VmStateEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once no lifecycle operation of this service is in flight (vigild waits before exiting). */
  async drain(timeoutMs = 60000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.busy.size > 0 && Date.now() < deadline) await sleep(50);
  }

  /** Runs `fn` on behalf of `principal`: the QMP commands it causes are audited under that name (API callers). */
  runAs<T>(principal: string, fn: () => T): T {
    return this.actor.run(principal, fn);
  }

  /** Who the current operation acts for. */
  get principal(): string {
    return this.actor.getStore() ?? this.opts.principal;
  }

  /** The paths of a VM's files. */
  files(name: string): VmFiles {
    return vmFiles(this.opts.paths, name);
  }

  /** Defines VMs from YAML files (several files for one VM are deep-merged, later wins). */
  add(files: string[]): Vm {
    const { definition, files: sources } = loadDefinitionFiles(files);
    return this.define(definition, sources);
  }

  /**
   * Defines a VM from an already validated definition. `alongside` runs in the same transaction, after the
   * insert and before anyone is told (the API grants its creator Owner there, so the creator sees the event).
   */
  define(definition: VmDefinition, sources: string[] = [], alongside?: (name: string) => void): Vm {
    this.opts.db.transaction(() => {
      if (!this.repo.insert(definition.name, definition, sources)) {
        throw new VigilError('VIGIL_VM_EXISTS', `a VM named '${definition.name}' already exists; use 'vigil vm apply' to change it or pick another name`, {
          context: { vm: definition.name },
        });
      }
      alongside?.(definition.name);
    })();
    this.history.append(definition.name, null, 'defined', `defined from ${sources.join(', ') || 'the API'}`);
    this.emit({ vm: definition.name, from: null, to: 'defined', reason: 'defined', time: new Date().toISOString() });
    return this.get(definition.name);
  }

  /** Every VM, with states checked against the processes that really run. */
  list(): Vm[] {
    return this.repo.list().map((r) => this.refresh(toVm(r)));
  }

  /** One VM (VIGIL_NOT_FOUND if unknown). */
  get(name: string): Vm {
    const r = this.repo.get(name);
    if (!r) {
      throw new VigilError('VIGIL_NOT_FOUND', `no VM named '${name}'; 'vigil vm ls' lists the defined VMs`, { context: { vm: name } });
    }
    return this.refresh(toVm(r));
  }

  /** The VM's recent state changes. */
  stateHistory(name: string, limit = 50): VmStateChange[] {
    this.get(name);
    return this.history.list(name, limit);
  }

  /** Starts a VM and resolves once QEMU reports it running. */
  async start(name: string): Promise<Vm> {
    return this.exclusive(name, async () => {
      const vm = this.get(name);
      if (isActive(vm.state)) {
        throw new VigilError('VIGIL_VM_STATE', `VM '${name}' is already ${vm.state}`, { context: { vm: name, state: vm.state } });
      }
      return this.startNow(vm, 'start requested');
    });
  }

  /**
   * Stops a VM: an ACPI power-down request, then `quit` after the timeout, then SIGKILL; each step is recorded.
   */
  async stop(name: string, options: StopOptions = {}): Promise<Vm> {
    return this.exclusive(name, () => this.stopNow(name, options));
  }

  /** Stops (if running) and starts again; picks up a changed definition. */
  async restart(name: string, options: StopOptions = {}): Promise<Vm> {
    return this.exclusive(name, async () => {
      const vm = this.get(name);
      if (isActive(vm.state)) await this.stopNow(name, options);
      return this.startNow(this.get(name), 'restart requested');
    });
  }

  /** Pauses the vCPUs. */
  async pause(name: string): Promise<Vm> {
    return this.exclusive(name, async () => {
      const vm = this.requireState(name, ['running'], 'pause');
      await this.withMonitor(vm.name, (m) => m.qmp.execute('stop'));
      this.transition(name, 'paused', 'paused on request');
      return this.get(name);
    });
  }

  /** Resumes paused vCPUs. */
  async resume(name: string): Promise<Vm> {
    return this.exclusive(name, async () => {
      const vm = this.requireState(name, ['paused'], 'resume');
      await this.withMonitor(vm.name, (m) => m.qmp.execute('cont'));
      this.transition(name, 'running', 'resumed on request');
      return this.get(name);
    });
  }

  /** Resets the machine (as the reset button would); the VM keeps running. */
  async reset(name: string): Promise<Vm> {
    return this.exclusive(name, async () => {
      const vm = this.requireState(name, ['running', 'paused'], 'reset');
      await this.withMonitor(vm.name, (m) => m.qmp.execute('system_reset'));
      this.history.append(name, vm.state, vm.state, 'reset on request');
      return this.get(name);
    });
  }

  /** Forgets a VM (it must be stopped, or `force` stops it first); `purge` also deletes its logs and state files. */
  async remove(name: string, options: { purge?: boolean; force?: boolean } = {}): Promise<void> {
    await this.exclusive(name, async () => {
      const vm = this.get(name);
      if (isActive(vm.state)) {
        if (!options.force) {
          throw new VigilError('VIGIL_VM_STATE', `VM '${name}' is ${vm.state}; stop it first or pass --force`, { context: { vm: name, state: vm.state } });
        }
        await this.stopNow(name, { force: true });
      }
      this.repo.remove(name);
      const files = this.files(name);
      rmSync(files.runtimeDir, { recursive: true, force: true });
      if (options.purge) rmSync(files.stateDir, { recursive: true, force: true });
      this.emit({ vm: name, from: vm.state, to: 'stopped', reason: 'removed', time: new Date().toISOString() });
    });
  }

  /** Replaces a VM's definition from files (the name must match); says whether a restart is needed. */
  apply(files: string[]): ApplyResult {
    const { definition, files: sources } = loadDefinitionFiles(files);
    return this.applyDefinition(definition, sources);
  }

  /** Replaces a VM's definition; a running VM keeps the old one until restarted. */
  applyDefinition(definition: VmDefinition, sources: string[] = []): ApplyResult {
    const vm = this.get(definition.name);
    const changed = Object.keys({ ...vm.definition, ...definition }).filter(
      (k) => JSON.stringify((vm.definition as Record<string, unknown>)[k]) !== JSON.stringify((definition as Record<string, unknown>)[k]),
    );
    // Only autostart settings, tags and the description take effect without a restart.
    const live = new Set(['autostart', 'tags', 'description']);
    const needsRestart = isActive(vm.state) && changed.some((k) => !live.has(k));
    this.repo.update(definition.name, { definition, sources, needsRestart: vm.needsRestart || needsRestart });
    if (changed.length > 0) this.history.append(definition.name, vm.state, vm.state, `definition applied: ${changed.join(', ')} changed`);
    return { vm: this.get(definition.name), changed, needsRestart };
  }

  /** The last `lines` lines of the serial console log. */
  logs(name: string, lines = 100): string {
    const file = this.files(this.get(name).name).serialLog;
    if (!existsSync(file)) return '';
    const text = readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n');
  }

  /** Records that a VM's QEMU is gone (watchers and reconciliation call this). */
  markExited(name: string, to: 'stopped' | 'crashed', reason: string): void {
    const r = this.repo.get(name);
    if (!r || !isActive(r.state as VmState)) return;
    this.transition(name, to, reason);
    this.repo.update(name, { pid: null });
    this.cleanupRuntime(name);
  }

  /**
   * Records a run-state change QEMU reported (a guest pausing itself, a RESUME from another client). With
   * `adopting`, a VM left in starting or stopping by an interrupted operation is taken over as well.
   */
  markRunState(name: string, to: 'running' | 'paused', reason: string, adopting = false): void {
    const r = this.repo.get(name);
    if (!r || this.busy.has(name) || r.state === to) return;
    const stale = Date.now() - Date.parse(r.updatedAt) >= STARTING_GRACE_MS;
    if (r.state === 'running' || r.state === 'paused' || (adopting && stale && (r.state === 'starting' || r.state === 'stopping'))) {
      this.transition(name, to, reason);
    }
  }

  /** Records a guest's boot_complete call; the token is the VM's per-boot secret. Undefined when none matches. */
  bootCompleted(token: string): Vm | undefined {
    const r = this.repo.list().find((v) => v.bootId === token && (v.state === 'running' || v.state === 'paused'));
    if (!r) return undefined;
    this.history.append(r.name, r.state, r.state, 'guest reported boot complete');
    this.emit({ vm: r.name, from: r.state as VmState, to: r.state as VmState, reason: 'boot complete', time: new Date().toISOString() });
    return this.get(r.name);
  }

  /** Starts a VM on Vigil's own account (autostart, restart policy): same path, no busy-check races. */
  async startBySupervisor(name: string, reason: string): Promise<Vm> {
    return this.exclusive(name, async () => {
      const vm = this.get(name);
      if (isActive(vm.state)) return vm;
      return this.startNow(vm, reason);
    });
  }

  /** The store record of a VM (restart bookkeeping). */
  record(name: string): VmRecord | undefined {
    return this.repo.get(name);
  }

  private async startNow(vm: Vm, reason: string): Promise<Vm> {
    const name = vm.name;
    const previous = vm.state;
    const files = this.files(name);
    // Checked before the state changes: a missing disk or a busy socket leaves the VM exactly as it was.
    this.opts.attachCheck?.(name, vm.definition);
    const binary = await preflight(vm.definition, files, this.opts.qemuBinary);
    // Host network checks too: a host that cannot put a NIC in its VLAN refuses the start, with the fix.
    const hostNet = planHostNet(vm.definition);
    this.transition(name, 'starting', reason);
    let pid: number | undefined;
    try {
      const launched = await launchVm(vm.definition, files, binary, { logger: this.opts.logger, ...(this.opts.hostAccel ? { hostAccel: this.opts.hostAccel } : {}) });
      pid = launched.pid;
      this.repo.update(name, { pid, bootId: launched.bootId, startedAt: new Date().toISOString(), needsRestart: false });
      // Still paused (-S): the guest sees no packet before its NICs are in their VLANs.
      await applyHostNet(hostNet, launched.macs, this.opts.logger);
      await this.withMonitor(name, async (m) => {
        for (const action of postStartActions(vm.definition)) await m.qmp.execute(action.command, action.args);
        await m.qmp.execute('cont');
      });
      this.transition(name, 'running', `QEMU ${pid} running`);
      return this.get(name);
    } catch (err) {
      // Nothing half-started: kill what was launched, clear the runtime files, return to the previous state.
      if (pid !== undefined && isQemuOf(pid, name)) {
        process.kill(pid, 'SIGKILL');
        await waitForExit(pid, 5000);
      }
      this.repo.update(name, { pid: null });
      this.cleanupRuntime(name);
      this.transition(name, previous === 'crashed' ? 'crashed' : previous === 'defined' ? 'defined' : 'stopped', `start failed: ${(err as Error).message}`);
      throw err;
    }
  }

  private async stopNow(name: string, options: StopOptions): Promise<Vm> {
    const vm = this.get(name);
    if (vm.state === 'crashed') {
      // Stopping a crashed VM acknowledges the crash: it stays down and no restart policy applies.
      this.transition(name, 'stopped', 'crash acknowledged by stop');
      return this.get(name);
    }
    if (!isActive(vm.state)) {
      throw new VigilError('VIGIL_VM_STATE', `VM '${name}' is not running (it is ${vm.state})`, { context: { vm: name, state: vm.state } });
    }
    if (vm.pid === null || !isQemuOf(vm.pid, name)) {
      // An interrupted start or stop left no live QEMU behind: record the VM as stopped.
      this.transition(name, 'stopping', 'stop requested');
      return this.finishStop(name, 'no QEMU process was left');
    }
    const pid = vm.pid;
    const previous = vm.state;
    this.transition(name, 'stopping', options.force ? 'forced stop requested' : 'stop requested');
    const log = this.opts.logger.child({ vm: name, qemuPid: pid });
    const steps: string[] = [];
    const gone = (ms: number): Promise<boolean> => waitForExit(pid, ms);
    if (!options.force) {
      const timeoutMs = options.timeoutMs ?? 30000;
      try {
        await this.withMonitor(name, (m) => m.qmp.execute('system_powerdown'));
      } catch (err) {
        // The request never reached the guest: escalating to a power cut would not be what was asked for.
        this.transition(name, previous === 'paused' ? 'paused' : 'running', `stop abandoned: ${(err as Error).message}`);
        throw err;
      }
      steps.push('system_powerdown');
      log.info({ timeoutMs }, 'asked the guest to power off');
      if (await gone(timeoutMs)) return this.finishStop(name, `guest powered off (${steps.join(', ')})`);
    }
    try {
      await this.withMonitor(name, (m) => m.qmp.execute('quit'));
      steps.push('quit');
      log.info('sent quit');
      if (await gone(STOP_STEP_MS)) return this.finishStop(name, `QEMU quit (${steps.join(', ')})`);
    } catch (err) {
      log.warn({ err: String(err) }, 'quit could not be delivered');
    }
    // Only a process that is still this VM's QEMU is signalled: a recycled pid must never be.
    if (isQemuOf(pid, name)) {
      process.kill(pid, 'SIGTERM');
      steps.push('SIGTERM');
      if (await gone(STOP_STEP_MS)) return this.finishStop(name, `QEMU terminated (${steps.join(', ')})`);
    }
    if (isQemuOf(pid, name)) {
      process.kill(pid, 'SIGKILL');
      steps.push('SIGKILL');
      log.warn('QEMU ignored quit and SIGTERM; sent SIGKILL');
      await gone(STOP_STEP_MS);
    }
    return this.finishStop(name, `QEMU killed (${steps.join(', ')})`);
  }

  private finishStop(name: string, reason: string): Vm {
    this.transition(name, 'stopped', reason);
    this.repo.update(name, { pid: null });
    this.cleanupRuntime(name);
    return this.get(name);
  }

  private requireState(name: string, states: VmState[], verb: string): Vm {
    const vm = this.get(name);
    if (!states.includes(vm.state)) {
      throw new VigilError('VIGIL_VM_STATE', `cannot ${verb} VM '${name}': it is ${vm.state} (needs ${states.join(' or ')})`, {
        context: { vm: name, state: vm.state },
      });
    }
    return vm;
  }

  /** A VM whose record says it runs but whose QEMU is gone is reported (and recorded) as crashed. */
  private refresh(vm: Vm): Vm {
    if (!isActive(vm.state) || this.busy.has(vm.name)) return vm;
    if (vm.pid !== null && isQemuOf(vm.pid, vm.name)) return vm;
    // Another process may be starting it right now and not have recorded the pid yet.
    const record = this.repo.get(vm.name);
    if (vm.state === 'starting' && vm.pid === null && record && Date.now() - Date.parse(record.updatedAt) < STARTING_GRACE_MS) return vm;
    // A process stopping it records the outcome itself, with the steps it took.
    if (vm.state === 'stopping' && record && Date.now() - Date.parse(record.updatedAt) < STARTING_GRACE_MS) return vm;
    this.markExited(vm.name, vm.state === 'stopping' ? 'stopped' : 'crashed', 'QEMU process is gone');
    const r = this.repo.get(vm.name);
    return r ? toVm(r) : vm;
  }

  /**
   * A guarded session with the VM. QEMU serves one client per monitor: if someone holds qmp.sock (a `vigil qmp
   * events`), the second monitor is tried (it is free unless vigild holds it).
   */
  private async withMonitor<T>(name: string, fn: (m: Monitor) => Promise<T>): Promise<T> {
    const files = this.files(name);
    const open = (socket: string, connectTimeoutMs: number): Promise<Monitor> =>
      openMonitor(socket, {
        paths: this.opts.paths,
        store: this.opts.db,
        logger: this.opts.logger,
        principal: this.principal,
        connectTimeoutMs,
        ...(this.opts.audit ? { audit: this.opts.audit } : {}),
      });
    let monitor: Monitor;
    try {
      monitor = await open(files.qmpSocket, 3000);
    } catch (err) {
      if (!(err instanceof VigilError && (err.code === 'VIGIL_QMP_TIMEOUT' || err.code === 'VIGIL_QMP_CONNECT'))) throw err;
      monitor = await open(files.monitorSocket, 3000).catch(() => {
        throw new VigilError('VIGIL_QMP_CONNECT', `VM '${name}': both monitors are busy or unreachable (is a 'vigil qmp ... events' attached?)`, { cause: err, context: { vm: name } });
      });
    }
    try {
      return await fn(monitor);
    } finally {
      await monitor.close();
    }
  }

  private transition(name: string, to: VmState, reason: string): void {
    const r = this.repo.get(name);
    if (!r) return;
    const from = r.state as VmState;
    // Another process may have recorded the same outcome first (a `vm ls` noticing the exit): nothing to do.
    if (from === to && (to === 'stopped' || to === 'crashed')) return;
    if (!canTransition(from, to)) {
      throw new VigilError('VIGIL_VM_STATE', `VM '${name}' cannot go from ${from} to ${to}`, { context: { vm: name, from, to } });
    }
    this.opts.db.transaction(() => {
      this.repo.update(name, { state: to });
      this.history.append(name, from, to, reason);
    })();
    this.opts.logger.info({ vm: name, from, to, reason }, 'VM state changed');
    this.emit({ vm: name, from, to, reason, time: new Date().toISOString() });
  }

  private emit(event: VmStateEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch (err) {
        this.opts.logger.error({ err: String(err) }, 'state listener threw');
      }
    }
  }

  private cleanupRuntime(name: string): void {
    rmSync(this.files(name).runtimeDir, { recursive: true, force: true });
  }

  /** One lifecycle operation per VM at a time in this process. */
  private async exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (this.busy.has(name)) {
      throw new VigilError('VIGIL_VM_STATE', `VM '${name}' is busy with another operation; try again when it finishes`, { context: { vm: name } });
    }
    this.busy.add(name);
    try {
      return await fn();
    } finally {
      this.busy.delete(name);
    }
  }
}

/** Waits until `predicate` holds for the VM or `timeoutMs` passes (tests, demos). */
export async function waitForVm(service: VmService, name: string, predicate: (vm: Vm) => boolean, timeoutMs: number): Promise<Vm> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const vm = service.get(name);
    if (predicate(vm)) return vm;
    if (Date.now() > deadline) {
      throw new VigilError('VIGIL_QMP_TIMEOUT', `VM '${name}' did not reach the expected state within ${timeoutMs} ms (it is ${vm.state})`, { context: { vm: name } });
    }
    await sleep(50);
  }
}
