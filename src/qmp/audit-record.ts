/**
 * What the guard records about each command, and where it sends it. The guard knows nothing of storage:
 * sinks (the SQLite audit log, the seed-004 text log) are handed in.
 */
import type { QmpClass } from './guard-table.js';

/** How a guarded command ended. */
export type AuditOutcome = 'ok' | 'failed' | 'refused';

/** One guarded command. */
export interface QmpAuditRecord {
  /** When the command was asked for. */
  time: Date;
  /** The VM's name, or the socket path when there is no VM name. */
  vm: string;
  /** Who asked: a user name, an API address, or `vigil:<subsystem>` for Vigil's own actions. */
  principal: string;
  command: string;
  /** Arguments with secrets redacted. */
  args: Record<string, unknown>;
  class: QmpClass | 'unknown';
  outcome: AuditOutcome;
  /** Why the guard classed it so. */
  reason: string;
  /** For memory dumps: what the dump is for. */
  purpose?: string | undefined;
  /** The error code (and QEMU's description) when the command failed. */
  error?: string | undefined;
  durationMs: number;
}

/** A destination for audit records; must not throw for a record it cannot keep without saying so. */
export interface QmpAuditSink {
  record(entry: QmpAuditRecord): void;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function localStamp(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The record in seed 004's (MAQET's) log line format, so existing greps keep working. */
export function formatAuditLine(r: QmpAuditRecord): string {
  const stamp = localStamp(r.time);
  const user = `user=${r.principal}`;
  if (r.outcome === 'refused') {
    return `${stamp} ERROR QMP blocked ${r.class}: ${r.vm} | ${r.command} | ${user} | reason=${r.reason}`;
  }
  const failed = r.outcome === 'failed' ? ` | error=${r.error ?? 'unknown'}` : '';
  switch (r.class) {
    case 'privileged':
      return `${stamp} WARNING QMP privileged: ${r.vm} | ${r.command} | ${user}${failed}`;
    case 'memory-dump':
      return `${stamp} INFO QMP memory dump: ${r.vm} | ${r.command} | ${user} | purpose=${r.purpose ?? 'unspecified'}${failed}`;
    case 'dangerous':
      return `${stamp} WARNING QMP dangerous (allowed): ${r.vm} | ${r.command} | ${user}${failed}`;
    default: {
      const params = `params=[${Object.keys(r.args).join(', ')}]`;
      return `${stamp} INFO QMP: ${r.vm} | ${r.command} | ${params} | ${user} | timestamp=${r.time.toISOString().slice(0, 19)}${failed}`;
    }
  }
}
