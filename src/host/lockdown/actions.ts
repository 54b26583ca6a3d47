/**
 * Alarms and the actions they fire. Every alarm and every action outcome goes to the audit log and to the event
 * callback. Actions of one alarm run at once, so a slow webhook never delays the kill switch; a named lockdown is
 * a list of actions run the same way.
 */
import { randomUUID } from 'node:crypto';
import { VigilError, toVigilError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { Trigger } from '../../killswitch/report.js';
import type { AuditLog } from '../../store/audit-log.js';
import type { ActionSpec } from '../config.js';

/** The principal host-agent entries are audited under. */
export const HOST_PRINCIPAL = 'vigil:host';

/**
 * What the agent asks of the rest of Vigil. vigild implements it over its KillswitchEngine, its VM service and
 * its API server; the CLI implements the first two in-process.
 */
export interface HostActionSink {
  engageKillswitch(trigger: Trigger): Promise<unknown>;
  pauseAllVms(reason: string): Promise<unknown>;
  /** Stop serving the API except on the local Unix socket; absent where no API is served (the CLI). */
  restrictApiToLocalSocket?(reason: string): Promise<unknown>;
}

/** Where an alarm comes from. */
export type AlarmSource = 'honeypot' | 'canary' | 'fim' | 'ports' | 'lockdown';

/** Something a monitor saw. */
export interface HostAlarm {
  id: string;
  time: string;
  source: AlarmSource;
  /** The monitor's configured name (honeypot ssh-trap, canary keys, ...) or the lockdown's. */
  name: string;
  summary: string;
  detail: Record<string, unknown>;
}

/** What an action did. */
export interface ActionOutcome {
  alarmId: string;
  action: ActionSpec['type'];
  /** For a lockdown step: the lockdown's name. */
  lockdown?: string;
  outcome: 'ok' | 'failed' | 'unsupported';
  elapsedMs: number;
  error?: string;
  result?: unknown;
}

/** The event stream's items. */
export type HostEvent = { type: 'alarm'; alarm: HostAlarm } | { type: 'action'; outcome: ActionOutcome };

/** The runner's dependencies. */
export interface ActionRunnerOptions {
  sink: HostActionSink;
  audit?: AuditLog | undefined;
  logger: Logger;
  lockdowns: Record<string, ActionSpec[]>;
  onEvent?: ((event: HostEvent) => void) | undefined;
}

/** A new alarm with an id and the time now. */
export function newAlarm(source: AlarmSource, name: string, summary: string, detail: Record<string, unknown>): HostAlarm {
  return { id: randomUUID(), time: new Date().toISOString(), source, name, summary, detail };
}

/** Runs actions for alarms and lockdowns. */
export class ActionRunner {
  constructor(private readonly opts: ActionRunnerOptions) {}

  /** The configured lockdowns' names. */
  lockdownNames(): string[] {
    return Object.keys(this.opts.lockdowns);
  }

  /** Records the alarm, then runs its actions at once; resolves with every outcome. */
  async fire(alarm: HostAlarm, actions: readonly ActionSpec[]): Promise<ActionOutcome[]> {
    this.audit(`alarm ${alarm.source}`, { alarmId: alarm.id, name: alarm.name, ...alarm.detail }, 'alarm', alarm.summary, 0, undefined, new Date(alarm.time));
    this.emit({ type: 'alarm', alarm });
    const level = actions.some((a) => a.type !== 'log') ? 'warn' : 'info';
    this.opts.logger[level]({ alarm: alarm.source, name: alarm.name, detail: alarm.detail }, alarm.summary);
    const outcomes = await Promise.all(actions.map((a) => this.run(alarm, a, new Set())));
    return outcomes.flat();
  }

  /** Records a follow-up fact about an alarm (audit + event) without running actions: a honeypot's capture. */
  note(alarm: HostAlarm): void {
    this.audit(`alarm ${alarm.source}`, { alarmId: alarm.id, name: alarm.name, ...alarm.detail }, 'note', alarm.summary, 0, undefined, new Date(alarm.time));
    this.emit({ type: 'alarm', alarm });
  }

  /** Runs the named lockdown (`by` says who: cli, api, a monitor); throws VIGIL_NOT_FOUND for an unknown name. */
  async lockdown(name: string, by: { source: string; principal?: string; detail?: string }): Promise<{ alarm: HostAlarm; outcomes: ActionOutcome[] }> {
    const steps = this.opts.lockdowns[name];
    if (!steps) {
      const known = this.lockdownNames();
      throw new VigilError('VIGIL_NOT_FOUND', `no lockdown named '${name}' in config.yaml's host.lockdowns${known.length ? ` (known: ${known.join(', ')})` : ' (none is configured)'}`, {
        context: { lockdown: name },
      });
    }
    const alarm = newAlarm('lockdown', name, `lockdown ${name} by ${by.source}${by.principal ? ` (${by.principal})` : ''}`, { by });
    return { alarm, outcomes: await this.fire(alarm, [{ type: 'lockdown', name }]) };
  }

  private async run(alarm: HostAlarm, action: ActionSpec, seen: Set<string>, lockdown?: string): Promise<ActionOutcome[]> {
    if (action.type === 'lockdown') {
      const steps = this.opts.lockdowns[action.name];
      if (!steps || seen.has(action.name)) {
        const error = steps ? `lockdown ${action.name} includes itself` : `no lockdown named '${action.name}'`;
        return [this.done(alarm, action.type, lockdown, 0, undefined, error)];
      }
      const inner = new Set(seen).add(action.name);
      return (await Promise.all(steps.map((s) => this.run(alarm, s, inner, action.name)))).flat();
    }
    const t0 = performance.now();
    try {
      const result = await this.execute(alarm, action);
      if (result === UNSUPPORTED) return [this.done(alarm, action.type, lockdown, performance.now() - t0, undefined, undefined, true)];
      return [this.done(alarm, action.type, lockdown, performance.now() - t0, result)];
    } catch (err) {
      return [this.done(alarm, action.type, lockdown, performance.now() - t0, undefined, toVigilError(err).message)];
    }
  }

  private async execute(alarm: HostAlarm, action: Exclude<ActionSpec, { type: 'lockdown' }>): Promise<unknown> {
    const { sink } = this.opts;
    switch (action.type) {
      case 'log':
        return undefined;
      case 'killswitch': {
        const report = (await sink.engageKillswitch({ source: `host:${alarm.source}`, principal: HOST_PRINCIPAL, detail: `${alarm.name}: ${alarm.summary}` })) as
          | { elapsedMs?: number; vms?: { vmName: string; safe: boolean }[] }
          | undefined;
        return report?.vms ? { vms: report.vms.map((v) => ({ vm: v.vmName, safe: v.safe })), elapsedMs: report.elapsedMs } : undefined;
      }
      case 'pause-vms':
        return await sink.pauseAllVms(`host agent: ${alarm.summary}`);
      case 'api-local-only':
        if (!sink.restrictApiToLocalSocket) return UNSUPPORTED;
        return await sink.restrictApiToLocalSocket(`host agent: ${alarm.summary}`);
      case 'webhook': {
        const res = await fetch(action.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'vigil-host-agent', ...action.headers },
          body: JSON.stringify({ alarm }),
          signal: AbortSignal.timeout(action.timeoutMs),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (!res.ok) throw new Error(`webhook ${action.url} answered ${res.status}`);
        return { status: res.status };
      }
    }
  }

  private done(alarm: HostAlarm, action: ActionSpec['type'], lockdown: string | undefined, elapsedMs: number, result: unknown, error?: string, unsupported = false): ActionOutcome {
    const outcome: ActionOutcome = {
      alarmId: alarm.id,
      action,
      ...(lockdown ? { lockdown } : {}),
      outcome: unsupported ? 'unsupported' : error === undefined ? 'ok' : 'failed',
      elapsedMs,
      ...(error !== undefined ? { error } : {}),
      ...(result !== undefined ? { result } : {}),
    };
    const why = unsupported ? `${action} is not available in this process` : error ?? `${action} done`;
    this.audit(`action ${action}`, { alarmId: alarm.id, alarm: `${alarm.source} ${alarm.name}`, ...(lockdown ? { lockdown } : {}), ...(result !== undefined ? { result } : {}) }, outcome.outcome, why, elapsedMs, error);
    this.emit({ type: 'action', outcome });
    if (error !== undefined) this.opts.logger.error({ action, alarm: alarm.id, err: error }, 'host agent action failed');
    return outcome;
  }

  private audit(command: string, args: Record<string, unknown>, outcome: string, reason: string, durationMs: number, error?: string, time = new Date()): void {
    try {
      this.opts.audit?.append({ time, kind: 'host', vm: '-', principal: HOST_PRINCIPAL, command, args, class: 'host', outcome, reason, error, durationMs });
    } catch (err) {
      // The alarm must still act when the store cannot be written.
      this.opts.logger.error({ err: String(err) }, 'host agent: audit entry could not be written');
    }
  }

  private emit(event: HostEvent): void {
    try {
      this.opts.onEvent?.(event);
    } catch (err) {
      this.opts.logger.warn({ err: String(err) }, 'host agent: event listener failed');
    }
  }
}

const UNSUPPORTED = Symbol('unsupported');
