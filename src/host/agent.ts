/**
 * The host agent: runs the configured monitors (honeypots, canary files, the listening-port watch, FIM watch)
 * and turns what they see into alarms and actions. It does not know the daemon: vigild builds it from config and
 * hands it a HostActionSink (kill switch, pause, API restriction) and an event callback.
 */
import type { Logger } from '../core/log.js';
import type { VigilPaths } from '../core/paths.js';
import type { AuditLog } from '../store/audit-log.js';
import type { StoreDb } from '../store/db.js';
import type { HostConfig } from './config.js';
import { Fim } from './fim/fim.js';
import { fimRules, policyVms, type PolicyVmSource } from './fim/setup.js';
import { FimWatcher, type FimWatchReport } from './fim/watch.js';
import { Canary, type CanaryTrip } from './honeypot/canary.js';
import { Honeypot, type HoneypotConnection, type HoneypotHit } from './honeypot/honeypot.js';
import { ActionRunner, HOST_PRINCIPAL, newAlarm, type ActionOutcome, type HostActionSink, type HostAlarm, type HostEvent } from './lockdown/actions.js';
import { PortWatcher, type Listener } from './ports/audit.js';
import { toVigilError } from '../core/errors.js';

/** Paths of each kind carried in one FIM alarm (the counts are always complete). */
const FIM_ALARM_PATHS = 100;

/** What the agent is built from. */
export interface HostAgentOptions {
  config: HostConfig;
  paths: VigilPaths;
  db: StoreDb;
  audit: AuditLog;
  logger: Logger;
  sink: HostActionSink;
  /** The defined VMs (for FIM's default policy); read at each scan. */
  vms?: () => readonly PolicyVmSource[];
  /** The QEMU binary's absolute path, when found (FIM's default policy). */
  qemuBinary?: string | undefined;
  onEvent?: (event: HostEvent) => void;
}

/** What runs, for status pages. */
export interface HostAgentStatus {
  running: boolean;
  honeypots: { name: string; address: string; port: number }[];
  canaries: { name: string; path: string; exists: boolean }[];
  ports: { watching: boolean; listeners: number };
  fim: { watching: boolean; watches: number; error?: string };
  lockdowns: string[];
}

/** The host agent. */
export class HostAgent {
  readonly fim: Fim;
  private readonly runner: ActionRunner;
  private readonly listeners = new Set<(e: HostEvent) => void>();
  private honeypots: Honeypot[] = [];
  private canaries: { canary: Canary; exists: boolean }[] = [];
  private ports: PortWatcher | undefined;
  private portCount = 0;
  private fimWatcher: FimWatcher | undefined;
  private fimError: string | undefined;
  private running = false;
  /** Actions still in flight (stop waits for them). */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly opts: HostAgentOptions) {
    if (opts.onEvent) this.listeners.add(opts.onEvent);
    this.runner = new ActionRunner({
      sink: opts.sink,
      audit: opts.audit,
      logger: opts.logger,
      lockdowns: opts.config.lockdowns,
      onEvent: (e) => this.emit(e),
    });
    this.fim = new Fim({
      db: opts.db,
      audit: opts.audit,
      logger: opts.logger,
      rules: () => this.rules(),
      concurrency: opts.config.fim.concurrency,
      principal: HOST_PRINCIPAL,
    });
  }

  /** Subscribes to alarms and action outcomes; returns the unsubscribe function. */
  onEvent(listener: (e: HostEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts every configured monitor; a honeypot that cannot bind fails the start (and stops what started). */
  async start(): Promise<HostAgentStatus> {
    if (this.running) return this.status();
    const { config, logger } = this.opts;
    try {
      for (const h of config.honeypots) {
        const pot = new Honeypot(h, { onConnect: (c) => this.honeypotConnect(c), onCapture: (hit) => this.honeypotCapture(hit) });
        this.honeypots.push(pot);
        await pot.start();
      }
      for (const c of config.canaries) {
        const canary = new Canary(c, (trip) => this.canaryTrip(trip));
        const entry = { canary, exists: false };
        this.canaries.push(entry);
        entry.exists = (await canary.start()).exists;
      }
      if (config.ports.watch) {
        this.ports = new PortWatcher({ allow: () => this.allowlist(), intervalMs: config.ports.intervalSec * 1000 }, (fresh) => this.newListeners(fresh));
        this.portCount = (await this.ports.start()).length;
      }
      if (config.fim.watch) await this.startFimWatch();
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.running = true;
    logger.info({ honeypots: this.status().honeypots, canaries: this.canaries.length, ports: !!this.ports, fim: !!this.fimWatcher }, 'host agent started');
    return this.status();
  }

  /** Stops every monitor and waits for actions in flight. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.honeypots.map((h) => h.stop()));
    this.honeypots = [];
    for (const c of this.canaries) c.canary.stop();
    this.canaries = [];
    this.ports?.stop();
    this.ports = undefined;
    await this.fimWatcher?.stop();
    this.fimWatcher = undefined;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Runs a named lockdown now (CLI, API). */
  lockdown(name: string, by: { source: string; principal?: string; detail?: string }): Promise<{ alarm: HostAlarm; outcomes: ActionOutcome[] }> {
    return this.track(this.runner.lockdown(name, by));
  }

  /** The configured lockdowns. */
  lockdownNames(): string[] {
    return this.runner.lockdownNames();
  }

  /** What runs now. */
  status(): HostAgentStatus {
    return {
      running: this.running,
      honeypots: this.honeypots.flatMap((h) => {
        const a = h.address();
        return a ? [{ name: h.options.name, address: a.address, port: a.port }] : [];
      }),
      canaries: this.canaries.map((c) => ({ name: c.canary.options.name, path: c.canary.options.path, exists: c.exists })),
      ports: { watching: this.ports !== undefined, listeners: this.portCount },
      fim: { watching: this.fimWatcher !== undefined, watches: this.fimWatcher?.watchedCount() ?? 0, ...(this.fimError ? { error: this.fimError } : {}) },
      lockdowns: this.lockdownNames(),
    };
  }

  private rules(): ReturnType<typeof fimRules> {
    return fimRules(this.opts.config.fim, { paths: this.opts.paths, qemuBinary: this.opts.qemuBinary, vms: policyVms(this.opts.vms?.() ?? []) });
  }

  /** The configured allowlist plus the agent's own honeypots (they listen on purpose). */
  /** The listening-port allowlist as the port watch applies it: the configured entries and the agent's own honeypots. */
  allowlist(): string[] {
    return [...this.opts.config.ports.allow, ...this.status().honeypots.map((h) => `tcp:${h.port}`)];
  }

  private async startFimWatch(): Promise<void> {
    const watcher = new FimWatcher(
      this.fim,
      { rules: () => this.rules(), concurrency: this.opts.config.fim.concurrency, rescanMs: this.opts.config.fim.rescanSec * 1000, logger: this.opts.logger },
      (report) => this.fimReport(report),
    );
    try {
      await watcher.start();
      this.fimWatcher = watcher;
    } catch (err) {
      const ve = toVigilError(err);
      this.fimError = ve.message;
      if (ve.code === 'VIGIL_FIM_TAMPERED') {
        this.fire(newAlarm('fim', 'baseline', 'the file integrity baseline was tampered with', { problems: ve.context.problems }), this.opts.config.fim.actions);
      } else this.opts.logger.warn({ err: this.fimError }, 'host agent: FIM watch not started');
    }
  }

  private honeypotConnect(c: HoneypotConnection): void {
    const cfg = this.opts.config.honeypots.find((h) => h.name === c.honeypot);
    const alarm = newAlarm('honeypot', c.honeypot, `connection to honeypot ${c.honeypot} from ${c.peer.address}:${c.peer.port}`, { ...c });
    this.fire(alarm, cfg?.actions ?? [{ type: 'log' }]);
  }

  private honeypotCapture(hit: HoneypotHit): void {
    this.runner.note(newAlarm('honeypot', hit.honeypot, `honeypot ${hit.honeypot}: ${hit.bytes} byte(s) from ${hit.peer.address}:${hit.peer.port}`, { ...hit, phase: 'capture' }));
  }

  private canaryTrip(trip: CanaryTrip): void {
    const cfg = this.opts.config.canaries.find((c) => c.name === trip.canary);
    const entry = this.canaries.find((c) => c.canary.options.name === trip.canary);
    if (entry) entry.exists = trip.after.exists;
    this.fire(newAlarm('canary', trip.canary, `canary ${trip.canary} ${trip.kind}: ${trip.path}`, { ...trip }), cfg?.actions ?? [{ type: 'log' }]);
  }

  private newListeners(fresh: Listener[]): void {
    this.portCount += fresh.length;
    const unexpected = fresh.filter((l) => !l.allowed);
    if (unexpected.length === 0) return;
    const text = unexpected.map((l) => `${l.proto}${l.family === 6 ? '6' : ''} ${l.address}:${l.port} (${l.processes.map((p) => `${p.name}[${p.pid}]`).join(', ') || `uid ${l.uid}`})`);
    this.fire(newAlarm('ports', 'listeners', `new listening socket(s): ${text.join('; ')}`, { listeners: unexpected }), this.opts.config.ports.actions);
  }

  private fimReport(r: FimWatchReport): void {
    const summary = `file integrity: ${r.added.length} added, ${r.removed.length} removed, ${r.changed.length} changed${r.full ? ' (full rescan)' : ''}`;
    // Bounded: a mass change (a package upgrade) must not write 50,000 paths into every audit row and webhook.
    const cap = <T>(xs: T[]): T[] => xs.slice(0, FIM_ALARM_PATHS);
    const detail = { counts: { added: r.added.length, removed: r.removed.length, changed: r.changed.length }, added: cap(r.added), removed: cap(r.removed), changed: cap(r.changed), full: r.full };
    this.fire(newAlarm('fim', 'watch', summary, detail), this.opts.config.fim.actions);
  }

  private fire(alarm: HostAlarm, actions: Parameters<ActionRunner['fire']>[1]): void {
    void this.track(this.runner.fire(alarm, actions));
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    const done = (): void => void this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  private emit(e: HostEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch (err) {
        this.opts.logger.warn({ err: String(err) }, 'host agent: event listener failed');
      }
    }
  }
}
