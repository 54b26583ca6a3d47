/**
 * A QMP channel with the guard in front: every command is classified, refused or run, and recorded in every
 * audit sink, whatever its outcome. This is what Vigil hands to anything acting on someone's behalf.
 */
import { VigilError, toVigilError } from '../core/errors.js';
import type { QmpClient } from './client.js';
import type { QmpAuditRecord, QmpAuditSink } from './audit-record.js';
import { queryQmpSchema } from './commands.js';
import { refusalError, type GuardContext, type GuardVerdict, type QmpGuard } from './guard.js';
import { redactArgs } from './redact.js';
import type { ExecuteOptions, QmpChannel, QmpEvent } from './types.js';

/** Per-command options of the guarded channel. */
export interface GuardedExecuteOptions extends ExecuteOptions {
  /** Run a dangerous command anyway (it is still audited). */
  allowDangerous?: boolean;
  /** What a memory dump is for; recorded with it. */
  purpose?: string;
}

/** Who acts, on which VM. */
export interface GuardedChannelOptions {
  guard: QmpGuard;
  principal: string;
  /** The VM's name (or the socket path) as recorded in the audit log. */
  vm: string;
  /** The VM's runtime directory, for the host-path rules. */
  runtimeDir?: string | undefined;
  sinks: readonly QmpAuditSink[];
  /** Refuse commands this QEMU's schema lacks (default true; the schema is fetched once). */
  checkSchema?: boolean;
}

/** The guard in front of a connected client. */
export class GuardedQmp implements QmpChannel {
  private schema: Promise<ReadonlySet<string>> | undefined;

  constructor(
    readonly client: QmpClient,
    private readonly opts: GuardedChannelOptions,
  ) {}

  /** The commands this QEMU accepts, from `query-qmp-schema` (fetched once per channel). */
  schemaCommands(): Promise<ReadonlySet<string>> {
    this.schema ??= queryQmpSchema(this.client).then(
      (entries) => new Set(entries.filter((e) => e['meta-type'] === 'command').map((e) => e.name)),
      (err: unknown) => {
        this.schema = undefined;
        throw err;
      },
    );
    return this.schema;
  }

  /** The guard's verdict for this command on this VM, without running it. */
  async verdict(command: string, args: Record<string, unknown> = {}, allowDangerous = false): Promise<GuardVerdict> {
    return this.opts.guard.check(command, args, { ...(await this.context()), allowDangerous });
  }

  /** Classifies, then refuses (VIGIL_GUARD_REFUSED) or runs the command; audits either way. */
  async execute<T = unknown>(command: string, args?: Record<string, unknown>, options: GuardedExecuteOptions = {}): Promise<T> {
    const time = new Date();
    const started = performance.now();
    const verdict = await this.verdict(command, args ?? {}, options.allowDangerous ?? false);
    const base = {
      time,
      vm: this.opts.vm,
      principal: this.opts.principal,
      command,
      args: redactArgs(command, args),
      class: verdict.class,
      reason: verdict.reason,
      purpose: verdict.class === 'memory-dump' ? (options.purpose ?? 'unspecified') : options.purpose,
    };
    if (!verdict.allowed) {
      const err = refusalError(verdict);
      this.audit({ ...base, outcome: 'refused', error: err.code, durationMs: performance.now() - started });
      throw err;
    }
    const { allowDangerous: _a, purpose: _p, ...execOptions } = options;
    let result: T;
    try {
      result = await this.client.execute<T>(command, args, execOptions);
    } catch (err) {
      const ve = toVigilError(err);
      const detail = typeof ve.context.qmpDesc === 'string' ? `${ve.code}: ${ve.context.qmpDesc}` : ve.code;
      this.audit({ ...base, outcome: 'failed', error: detail, durationMs: performance.now() - started });
      throw ve;
    }
    // Outside the try: a failed audit write is not a failed command. The caller learns that it did run.
    this.audit({ ...base, outcome: 'ok', durationMs: performance.now() - started }, true);
    return result;
  }

  /** Events pass through unguarded: they only report. */
  waitForEvent<D = Record<string, unknown>>(
    name: string,
    predicate?: (event: QmpEvent<D>) => boolean,
    timeoutMs?: number,
    signal?: AbortSignal,
  ): Promise<QmpEvent<D>> {
    return this.client.waitForEvent(name, predicate, timeoutMs, signal);
  }

  /** Subscribes to the VM's events. */
  onEvent(listener: (event: QmpEvent) => void, names?: readonly string[]): () => void {
    return this.client.onEvent(listener, names);
  }

  private async context(): Promise<GuardContext> {
    const schemaCommands = this.opts.checkSchema === false ? undefined : await this.schemaCommands();
    return { runtimeDir: this.opts.runtimeDir, schemaCommands };
  }

  private audit(record: QmpAuditRecord, executed = false): void {
    const failures: unknown[] = [];
    for (const sink of this.opts.sinks) {
      try {
        sink.record(record);
      } catch (err) {
        failures.push(err);
      }
    }
    // An action that cannot be audited must not pass silently.
    if (failures.length > 0) {
      const ran = executed ? ' (the command ran)' : '';
      throw new VigilError('VIGIL_STORE', `audit record for '${record.command}' could not be written${ran}`, {
        cause: failures[0],
        context: { command: record.command, executed },
      });
    }
  }
}
