/**
 * The kill switch engine: armed -> engaging -> engaged -> releasing -> armed, each state persisted before the
 * engine acts on it, so a crash mid-way is resumed by `recover()`. Engage cuts every planned VM in parallel;
 * concurrent triggers coalesce onto the operation in flight, in this process or (through the store) in another;
 * whatever fails, an engage ends `engaged`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../core/config.js';
import { VigilError, toVigilError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { VigilPaths } from '../core/paths.js';
import type { QmpClient } from '../qmp/client.js';
import { QmpGuard } from '../qmp/guard.js';
import type { AuditLog } from '../store/audit-log.js';
import type { StoreDb } from '../store/db.js';
import type { Inventory } from '../sysfs/types.js';
import type { VmDefinition } from '../vm/definition/schema.js';
import type { VmService } from '../vm/service.js';
import { heldKillswitchChannel, KILLSWITCH_PRINCIPAL, openKillswitchChannel } from './channel.js';
import { planVm, type Plan, type VmPlan } from './plan.js';
import { busyElsewhere, KillswitchRepo, type SwitchRecord } from './repo.js';
import type { SwitchReport, Trigger } from './report.js';
import { assertTransition, type KillswitchState } from './states.js';
import { hostDeviceHooks, type DeviceHooks } from './hooks.js';
import { blockedAttachGuard, type ReleaseAttachGuard } from './hotplug/blocked.js';
import { engageVm, liveQemu } from './vm-engage.js';
import { releaseVm } from './vm-release.js';

/** The engine's dependencies. */
export interface KillswitchEngineOptions {
  db: StoreDb;
  vms: VmService;
  audit: AuditLog;
  paths: VigilPaths;
  logger: Logger;
  /** The host inventory, for `class:` selectors on passthrough devices (optional: they count as `other`). */
  inventory?: () => Promise<Inventory | undefined>;
  /** The switch's name in the store (one switch per host today). */
  name?: string;
  /**
   * A monitor connection already open to a VM (vigild's supervisor holds one per VM), used instead of dialling
   * a new one at trigger time; undefined falls back to a fresh connection.
   */
  heldQmp?: (vmName: string) => QmpClient | undefined;
  // --- Optional extensions (guardian, hooks, hot-plug): absent, the engine behaves as before. ---
  /** Keeps only the VM plans for which it returns true (the guardian: `failsafe` VMs only). */
  planFilter?: (plan: VmPlan) => boolean;
  /** Per-device hooks; default: those of the host file `<config>/killswitch.yaml`, read at each operation. */
  hooks?: DeviceHooks;
  /** What release must not re-attach; default: the hot-plug watch's blocked devices (sysfs root `/`). */
  attachGuard?: ReleaseAttachGuard;
}

/** The switch as `status` reports it. */
export interface KillswitchStatus extends SwitchRecord {
  /** The operation this engine is running right now, if any. */
  inFlight: 'engage' | 'release' | null;
}

type Op = 'engage' | 'release';

/** How often a process waiting for another one's engage or release looks at the store. */
const CROSS_PROCESS_POLL_MS = 10;

/** Another process claimed the switch between our look and our claim: wait for it, then try again. */
class ClaimLost extends Error {}

/** One kill switch over the VMs of one store. */
export class KillswitchEngine {
  private readonly repo: KillswitchRepo;
  private readonly name: string;
  private inFlight: { op: Op; promise: Promise<SwitchReport> } | undefined;
  private readonly listeners = new Set<(status: KillswitchStatus) => void>();

  constructor(private readonly opts: KillswitchEngineOptions) {
    this.repo = new KillswitchRepo(opts.db);
    this.name = opts.name ?? 'default';
  }

  /** The persisted state, and what is in flight in this process. */
  status(): KillswitchStatus {
    return { ...this.repo.get(this.name), inFlight: this.inFlight?.op ?? null };
  }

  /**
   * The plan over the VMs defined now. One VM whose selectors no longer match its devices must not stop the
   * others from being cut: its plan falls back to every device (the secure reading), with the problem noted.
   */
  async plan(): Promise<Plan> {
    const inventory = this.opts.inventory ? await this.opts.inventory().catch(() => undefined) : undefined;
    const vms: VmPlan[] = [];
    for (const record of this.opts.vms.repo.list()) {
      let definition: VmDefinition;
      try {
        definition = this.opts.vms.get(record.name).definition;
      } catch (err) {
        this.opts.logger.error({ vm: record.name, err: String(err) }, 'kill switch: unreadable VM definition; not planned');
        continue;
      }
      try {
        const plan = planVm({ name: record.name, definition }, inventory);
        if (plan && (this.opts.planFilter?.(plan) ?? true)) vms.push(plan);
      } catch (err) {
        const section = definition.killswitch;
        if (!section) continue;
        const fallback = planVm({ name: record.name, definition: { ...definition, killswitch: { ...section, devices: 'all' } } }, inventory);
        if (fallback && (this.opts.planFilter?.(fallback) ?? true)) vms.push({ ...fallback, problem: `${toVigilError(err).message}; cutting every device instead` });
      }
    }
    return { vms };
  }

  /** Cuts every planned device; concurrent calls share one engage. Resolves with its report once engaged. */
  engage(trigger: Trigger): Promise<SwitchReport> {
    return this.run('engage', trigger);
  }

  /** Restores what the engage cut; concurrent calls share one release. */
  release(trigger: Trigger): Promise<SwitchReport> {
    return this.run('release', trigger);
  }

  /** Engages when armed, releases when engaged (as the in-flight operation will leave it, if any). */
  toggle(trigger: Trigger): Promise<SwitchReport> {
    // What the switch will be once the operation under way (here or in another process) ends.
    const stored = this.repo.get(this.name).state;
    const effective: KillswitchState = this.inFlight ? (this.inFlight.op === 'engage' ? 'engaged' : 'armed') : stored === 'releasing' ? 'armed' : stored === 'engaging' ? 'engaged' : stored;
    return this.run(effective === 'armed' ? 'engage' : 'release', trigger);
  }

  /**
   * Finishes what a crash interrupted: `engaging` completes the engage; `releasing` engages again, because the
   * secure state is engaged and a half-done release cannot be trusted (release again to finish it).
   */
  async recover(): Promise<SwitchReport | undefined> {
    const record = this.repo.get(this.name);
    const state = record.state;
    // Another live process's operation is not interrupted: it is running, and finishes it itself.
    if ((state !== 'engaging' && state !== 'releasing') || busyElsewhere(record)) return undefined;
    this.opts.logger.warn({ state }, 'kill switch was interrupted; engaging');
    return this.engage({ source: 'recovery', detail: `found ${state} at start` });
  }

  private run(op: Op, trigger: Trigger): Promise<SwitchReport> {
    const current = this.inFlight;
    if (current?.op === op) return current.promise;
    const promise = (async () => {
      // The other operation finishes first: an engage pressed during a release waits, then cuts again.
      if (current) await current.promise.catch(() => undefined);
      return this.runAcrossProcesses(op, trigger);
    })();
    const entry = { op, promise };
    this.inFlight = entry;
    const clear = (): void => {
      if (this.inFlight === entry) this.inFlight = undefined;
    };
    promise.then(clear, clear);
    return promise;
  }

  /**
   * Runs `op` unless another process (vigild, another CLI) is running one on the same store: then it waits for
   * that one to finish and, when it was the same operation, shares its report instead of cutting twice.
   */
  private async runAcrossProcesses(op: Op, trigger: Trigger): Promise<SwitchReport> {
    for (;;) {
      const other = this.repo.get(this.name);
      if (!busyElsewhere(other)) {
        try {
          return op === 'engage' ? await this.doEngage(trigger) : await this.doRelease(trigger);
        } catch (err) {
          if (!(err instanceof ClaimLost)) throw err;
          continue;
        }
      }
      const otherOp: Op = other.state === 'engaging' ? 'engage' : 'release';
      this.opts.logger.info({ owner: other.owner, op: otherOp }, 'kill switch: another process is running an operation; waiting for it');
      const done = await this.waitWhileBusyElsewhere();
      if (otherOp === op && done.state === (op === 'engage' ? 'engaged' : 'armed') && done.report?.action === op) return done.report;
    }
  }

  private async waitWhileBusyElsewhere(): Promise<SwitchRecord> {
    for (;;) {
      const record = this.repo.get(this.name);
      if (!busyElsewhere(record)) return record;
      await sleep(CROSS_PROCESS_POLL_MS);
    }
  }

  /** Resolves once no engage or release of this process is in flight (vigild waits for it before stopping). */
  async idle(): Promise<void> {
    while (this.inFlight) await this.inFlight.promise.catch(() => undefined);
  }

  /** Calls `listener` after every persisted state change (engaging, engaged, releasing, armed). */
  onChange(listener: (status: KillswitchStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private store(state: KillswitchState, trigger: Trigger, report: SwitchReport | null): void {
    this.repo.put(this.name, state, trigger, report);
    this.notify();
  }

  private notify(): void {
    const status = this.status();
    for (const l of [...this.listeners]) {
      try {
        l(status);
      } catch (err) {
        this.opts.logger.warn({ err: String(err) }, 'kill switch listener failed');
      }
    }
  }

  /** Starts an operation: persists `to` as this process's, or throws ClaimLost when another process got there first. */
  private claim(from: KillswitchState, to: 'engaging' | 'releasing', trigger: Trigger, report: SwitchReport | null): void {
    assertTransition(from, to);
    if (!this.repo.claim(this.name, to, trigger, report).claimed) throw new ClaimLost();
    this.notify();
  }

  private vmContext(vmName: string, guard: QmpGuard): {
    livePid: () => number | undefined;
    wasRunning: () => boolean | undefined;
    open: (timeoutMs: number) => ReturnType<typeof openKillswitchChannel>;
  } {
    const { vms, paths, audit, logger } = this.opts;
    const live = (): { pid: number; running: boolean } | undefined => {
      try {
        const vm = vms.get(vmName);
        const pid = vm.state === 'running' || vm.state === 'paused' ? liveQemu(vm.pid, vmName) : undefined;
        return pid === undefined ? undefined : { pid, running: vm.state === 'running' };
      } catch {
        return undefined;
      }
    };
    return {
      livePid: () => live()?.pid,
      wasRunning: () => live()?.running,
      open: async (timeoutMs) => {
        const deps = { paths, audit, logger, guard };
        const held = this.opts.heldQmp?.(vmName);
        return held ? heldKillswitchChannel(vmName, vms.files(vmName), held, deps) : openKillswitchChannel(vmName, vms.files(vmName), deps, timeoutMs);
      },
    };
  }

  /** The device hooks for one operation (the host file is read once per operation). */
  private hooks(trigger: Trigger): DeviceHooks {
    return this.opts.hooks ?? hostDeviceHooks(this.opts.paths, this.opts.logger, trigger.source);
  }

  /** The QMP guard with the configured rules, read once per operation rather than once per VM. */
  private guard(): QmpGuard {
    try {
      return new QmpGuard(loadConfig(this.opts.paths).qmp.rules);
    } catch (err) {
      // A config.yaml broken while vigild runs must not stop a cut: the built-in rules (no overrides) still allow it.
      this.opts.logger.error({ err: toVigilError(err).message }, 'kill switch: config.yaml unreadable; using the built-in QMP rules');
      return new QmpGuard([]);
    }
  }

  private async doEngage(trigger: Trigger): Promise<SwitchReport> {
    const before = this.repo.get(this.name);
    // What an earlier, interrupted or repeated, engage knew: which VMs it paused.
    const previous = before.report?.action === 'engage' ? before.report : undefined;
    const startedAt = new Date();
    const t0 = performance.now();
    const report: SwitchReport = { action: 'engage', trigger, startedAt: startedAt.toISOString(), elapsedMs: 0, plan: { vms: [] }, vms: [] };
    // Persisted before anything is cut: a crash from here on is finished by recover().
    this.claim(before.state, 'engaging', trigger, previous ?? report);
    try {
      report.plan = await this.plan();
      const guard = this.guard();
      const hooks = this.hooks(trigger);
      report.vms = await Promise.all(
        report.plan.vms.map(async (vmPlan) => {
          const ctx = this.vmContext(vmPlan.vmName, guard);
          const outcome = await engageVm(vmPlan, {
            ...ctx,
            markPaused: (reason) => this.record(() => this.opts.vms.markRunState(vmPlan.vmName, 'paused', reason)),
            markStopped: (reason) => this.record(() => this.opts.vms.markExited(vmPlan.vmName, 'stopped', reason)),
            hooks,
          });
          const paused = outcome.escalated.some((e) => e.ok && e.step === 'pause') && outcome.wasRunning === true;
          const before = previous?.vms.find((v) => v.vmName === vmPlan.vmName)?.pausedByKillswitch === true;
          return { ...outcome, pausedByKillswitch: paused || (before && outcome.wasRunning !== true) };
        }),
      );
    } catch (err) {
      // Planning failed (a bad definition, the store): nothing new was cut, but the switch still reports engaged.
      report.error = toVigilError(err).message;
      this.opts.logger.error({ err: report.error }, 'kill switch engage failed');
      // What an earlier engage cut is still cut: keep it, or a later release would forget to restore it.
      if (previous && report.vms.length === 0) {
        report.vms = previous.vms;
        report.plan = previous.plan;
      }
    }
    report.elapsedMs = performance.now() - t0;
    this.store('engaged', trigger, report);
    this.auditReport(report, startedAt);
    return report;
  }

  private async doRelease(trigger: Trigger): Promise<SwitchReport> {
    let before = this.repo.get(this.name);
    if (before.state === 'armed') return before.report ?? { action: 'release', trigger, startedAt: new Date().toISOString(), elapsedMs: 0, plan: { vms: [] }, vms: [] };
    // Interrupted by a crash: make sure everything is cut before undoing it, so release starts from a known state.
    if (before.state !== 'engaged') {
      await this.doEngage({ source: 'recovery', detail: `found ${before.state} before a release` });
      before = this.repo.get(this.name);
    }
    const engaged = before.report;
    if (engaged?.action !== 'engage') throw new VigilError('VIGIL_INTERNAL', 'kill switch is engaged but its engage report is missing');
    const startedAt = new Date();
    const t0 = performance.now();
    // The engage report stays in the row while releasing: recover() needs it to engage again after a crash.
    this.claim(before.state, 'releasing', trigger, engaged);
    const unrestored: string[] = [];
    const report: SwitchReport = { action: 'release', trigger, startedAt: startedAt.toISOString(), elapsedMs: 0, plan: engaged.plan, vms: [], unrestored };
    try {
      const guard = this.guard();
      const hooks = this.hooks(trigger);
      const attachGuard = this.opts.attachGuard ?? blockedAttachGuard(this.opts.paths, this.opts.logger);
      attachGuard.beforeRelease();
      report.vms = await Promise.all(
        engaged.vms.map((vmOutcome) =>
          releaseVm(
            vmOutcome,
            { ...this.vmContext(vmOutcome.vmName, guard), markRunning: (reason) => this.record(() => this.opts.vms.markRunState(vmOutcome.vmName, 'running', reason)), hooks, refusal: (d) => attachGuard.refusal(d) },
            unrestored,
          ),
        ),
      );
    } catch (err) {
      // Not expected (releaseVm reports rather than throws); if it happens, fall back to the secure state.
      this.store('engaged', trigger, engaged);
      throw err;
    }
    report.elapsedMs = performance.now() - t0;
    this.store('armed', trigger, report);
    this.auditReport(report, startedAt);
    return report;
  }

  /** Records a VM state change the kill switch caused; bookkeeping that fails must not count as a failed cut. */
  private record(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.logger.warn({ err: String(err) }, 'kill switch could not record a VM state change');
    }
  }

  private auditReport(report: SwitchReport, time: Date): void {
    const devices = report.vms.flatMap((v) =>
      v.devices.map((d) => ({ vm: v.vmName, id: d.device.deviceId, kind: d.device.kind, action: d.device.action, outcome: d.outcome, ms: Math.round(d.elapsedMs * 10) / 10, ...(d.error ? { error: d.error } : {}) })),
    );
    const vms = report.vms.map((v) => ({
      vm: v.vmName,
      safe: v.safe,
      ms: Math.round(v.elapsedMs * 10) / 10,
      ...(v.notRunning ? { notRunning: true } : {}),
      ...(v.escalated.length > 0 ? { escalated: v.escalated } : {}),
      ...(v.resumed ? { resumed: true } : {}),
      ...(v.error ? { error: v.error } : {}),
    }));
    // Hook runs with their exit status and output, in the same entry as the cut they accompanied.
    const hooks = report.vms.flatMap((v) => v.hooks ?? []).map((r) => ({ ...r, ms: Math.round(r.ms * 10) / 10 }));
    const ok = report.action === 'engage' ? report.error === undefined && report.vms.every((v) => v.safe) : (report.unrestored ?? []).length === 0;
    try {
      this.opts.audit.append({
        time,
        kind: 'killswitch',
        vm: report.vms.map((v) => v.vmName).join(',') || '-',
        principal: report.trigger.principal ?? KILLSWITCH_PRINCIPAL,
        command: `killswitch ${report.action}`,
        args: { trigger: report.trigger, devices, vms, ...(report.unrestored?.length ? { unrestored: report.unrestored } : {}), ...(hooks.length > 0 ? { hooks } : {}) },
        class: 'killswitch',
        outcome: ok ? 'ok' : 'partial',
        reason: `${report.action} by ${report.trigger.source}: ${report.vms.length} VM(s), ${devices.length} device(s)`,
        error: report.error,
        durationMs: report.elapsedMs,
      });
    } catch (err) {
      // The switch's state is already persisted; a failed audit write must not undo or hide the cut.
      this.opts.logger.error({ err: String(err) }, 'kill switch audit entry could not be written');
    }
  }
}
