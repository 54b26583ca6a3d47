/**
 * The tamper-evident audit log: append-only rows in SQLite, each carrying the SHA-256 of its content and of the
 * row before it. Changing, removing or inserting a row breaks the chain, and `verify()` says where.
 */
import { createHash } from 'node:crypto';
import { VigilError } from '../core/errors.js';
import type { Statement } from 'better-sqlite3';
import type { StoreDb } from './db.js';

/** The hash before the first row. */
export const GENESIS_HASH = '0'.repeat(64);

/** What a caller appends (the QMP guard's records have this shape). */
export interface AuditInput {
  time: Date;
  /** The subsystem that acted: `qmp` for guarded QMP commands. */
  kind?: string;
  vm: string;
  principal: string;
  command: string;
  args: Record<string, unknown>;
  class: string;
  outcome: string;
  reason: string;
  purpose?: string | undefined;
  error?: string | undefined;
  durationMs: number;
}

/** A stored row. */
export interface AuditRow {
  seq: number;
  time: string;
  kind: string;
  vm: string;
  principal: string;
  command: string;
  args: Record<string, unknown>;
  class: string;
  outcome: string;
  reason: string;
  purpose: string | null;
  error: string | null;
  durationMs: number;
  prevHash: string;
  hash: string;
}

/** Filters for queries; all optional, combined with AND. */
export interface AuditFilter {
  vm?: string | undefined;
  command?: string | undefined;
  class?: string | undefined;
  outcome?: string | undefined;
  principal?: string | undefined;
  kind?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /** Rows after this sequence number (for following the log). */
  afterSeq?: number | undefined;
  /** A regular expression matched (case-insensitively) against command, arguments, VM, principal, reason, error. */
  pattern?: string | undefined;
}

/** One break in the chain. */
export interface AuditProblem {
  seq: number;
  problem: 'changed' | 'removed' | 'chain-broken' | 'head-mismatch';
  detail: string;
}

/** The result of walking the whole chain. */
export interface AuditVerification {
  ok: boolean;
  rows: number;
  /** The hash of the newest row: record it elsewhere to detect a rewrite of the whole log. */
  head: string;
  problems: AuditProblem[];
}

interface DbRow {
  seq: number;
  time: string;
  kind: string;
  vm: string;
  principal: string;
  command: string;
  args: string;
  class: string;
  outcome: string;
  reason: string;
  purpose: string | null;
  error: string | null;
  duration_ms: number;
  prev_hash: string;
  hash: string;
}

/** The hash of a row: every stored column but the hash itself, in a fixed order. */
function rowHash(r: Omit<DbRow, 'hash'>): string {
  const material = JSON.stringify([
    r.seq, r.time, r.kind, r.vm, r.principal, r.command, r.args, r.class, r.outcome, r.reason, r.purpose, r.error, r.duration_ms, r.prev_hash,
  ]);
  return createHash('sha256').update(material).digest('hex');
}

function toRow(r: DbRow): AuditRow {
  return {
    seq: r.seq,
    time: r.time,
    kind: r.kind,
    vm: r.vm,
    principal: r.principal,
    command: r.command,
    args: JSON.parse(r.args) as Record<string, unknown>,
    class: r.class,
    outcome: r.outcome,
    reason: r.reason,
    purpose: r.purpose,
    error: r.error,
    durationMs: r.duration_ms,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

function jsonArgs(args: Record<string, unknown>): string {
  return JSON.stringify(args, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** The audit log over an open store. */
export class AuditLog {
  private readonly insert: Statement<[DbRow]>;
  private readonly setHead: Statement<[number, string]>;
  private readonly getHead: Statement<[], { seq: number; hash: string }>;
  private readonly appendTx: (input: AuditInput) => AuditRow;
  private readonly listeners = new Set<(row: AuditRow) => void>();

  constructor(private readonly db: StoreDb) {
    db.function('regexp', { deterministic: true }, (pattern: unknown, value: unknown) => {
      return typeof pattern === 'string' && typeof value === 'string' && new RegExp(pattern, 'i').test(value) ? 1 : 0;
    });
    this.insert = db.prepare(
      `INSERT INTO audit_log (seq, time, kind, vm, principal, command, args, class, outcome, reason, purpose, error, duration_ms, prev_hash, hash)
       VALUES (@seq, @time, @kind, @vm, @principal, @command, @args, @class, @outcome, @reason, @purpose, @error, @duration_ms, @prev_hash, @hash)`,
    );
    this.setHead = db.prepare('INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash');
    this.getHead = db.prepare('SELECT seq, hash FROM audit_head WHERE id = 1');
    const tx = db.transaction((input: AuditInput): AuditRow => {
      const head = this.getHead.get();
      const base: Omit<DbRow, 'hash'> = {
        seq: (head?.seq ?? 0) + 1,
        time: input.time.toISOString(),
        kind: input.kind ?? 'qmp',
        vm: input.vm,
        principal: input.principal,
        command: input.command,
        args: jsonArgs(input.args),
        class: input.class,
        outcome: input.outcome,
        reason: input.reason,
        purpose: input.purpose ?? null,
        error: input.error ?? null,
        duration_ms: Math.round(input.durationMs * 1000) / 1000,
        prev_hash: head?.hash ?? GENESIS_HASH,
      };
      const row: DbRow = { ...base, hash: rowHash(base) };
      this.insert.run(row);
      this.setHead.run(row.seq, row.hash);
      return toRow(row);
    });
    // IMMEDIATE: take the write lock before reading the head, so two processes never chain onto the same row.
    this.appendTx = (input) => tx.immediate(input);
  }

  /** Appends one entry and returns the stored row. */
  append(input: AuditInput): AuditRow {
    let row: AuditRow;
    try {
      row = this.appendTx(input);
    } catch (err) {
      throw new VigilError('VIGIL_STORE', `cannot append to the audit log: ${(err as Error).message}`, { cause: err });
    }
    for (const l of [...this.listeners]) {
      try {
        l(row);
      } catch {
        // a listener's failure must not undo or hide the append
      }
    }
    return row;
  }

  /** Calls `listener` after every append made through this instance; returns the unsubscribe function. */
  onAppend(listener: (row: AuditRow) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The QMP guard's sink interface. */
  record(input: AuditInput): void {
    this.append(input);
  }

  /** Rows matching `filter`, oldest first; with `limit`, the newest `limit` of them. */
  query(filter: AuditFilter = {}, limit?: number): AuditRow[] {
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    const eq = (col: string, key: keyof AuditFilter, value: unknown): void => {
      if (value === undefined) return;
      where.push(`${col} = @${key}`);
      params[key] = value;
    };
    eq('vm', 'vm', filter.vm);
    eq('command', 'command', filter.command);
    eq('class', 'class', filter.class);
    eq('outcome', 'outcome', filter.outcome);
    eq('principal', 'principal', filter.principal);
    eq('kind', 'kind', filter.kind);
    if (filter.since) {
      where.push('time >= @since');
      params.since = filter.since.toISOString();
    }
    if (filter.until) {
      where.push('time < @until');
      params.until = filter.until.toISOString();
    }
    if (filter.afterSeq !== undefined) {
      where.push('seq > @afterSeq');
      params.afterSeq = filter.afterSeq;
    }
    if (filter.pattern !== undefined) {
      try {
        new RegExp(filter.pattern, 'i');
      } catch (err) {
        throw new VigilError('VIGIL_INVALID_INPUT', `pattern '${filter.pattern}' is not a valid regular expression: ${(err as Error).message}`, {
          cause: err,
          context: { field: 'pattern' },
        });
      }
      where.push(`regexp(@pattern, command || ' ' || args || ' ' || vm || ' ' || principal || ' ' || reason || ' ' || coalesce(error, '')) = 1`);
      params.pattern = filter.pattern;
    }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const sql =
      limit === undefined
        ? `SELECT * FROM audit_log ${clause} ORDER BY seq`
        : `SELECT * FROM (SELECT * FROM audit_log ${clause} ORDER BY seq DESC LIMIT ${Math.max(0, Math.floor(limit))}) ORDER BY seq`;
    return (this.db.prepare(sql).all(params) as DbRow[]).map(toRow);
  }

  /** The newest row's sequence number and hash (0 and the genesis hash when empty). */
  head(): { seq: number; hash: string } {
    return this.getHead.get() ?? { seq: 0, hash: GENESIS_HASH };
  }

  /** Walks the whole chain and reports every row that was changed, removed or inserted (up to `maxProblems`). */
  verify(maxProblems = 100): AuditVerification {
    const problems: AuditProblem[] = [];
    const add = (p: AuditProblem): void => {
      if (problems.length < maxProblems) problems.push(p);
    };
    let expectedSeq = 1;
    let prev = GENESIS_HASH;
    let rows = 0;
    for (const r of this.db.prepare('SELECT * FROM audit_log ORDER BY seq').iterate() as IterableIterator<DbRow>) {
      rows += 1;
      if (r.seq !== expectedSeq) {
        const missing = r.seq - expectedSeq;
        add({ seq: expectedSeq, problem: 'removed', detail: `${missing} row(s) missing before seq ${r.seq} (seq ${expectedSeq}..${r.seq - 1})` });
      } else if (r.prev_hash !== prev) {
        add({ seq: r.seq, problem: 'chain-broken', detail: `row ${r.seq} does not follow row ${r.seq - 1}: that row was changed or replaced` });
      }
      const { hash, ...rest } = r;
      if (rowHash(rest) !== hash) add({ seq: r.seq, problem: 'changed', detail: `row ${r.seq} does not match its hash: its content was changed` });
      prev = hash;
      expectedSeq = r.seq + 1;
    }
    const head = this.head();
    if (head.seq !== expectedSeq - 1 || head.hash !== prev) {
      add({
        seq: head.seq,
        problem: 'head-mismatch',
        detail: `the recorded head is row ${head.seq} but the log ends at row ${expectedSeq - 1}: rows were removed from the end or the head was rewritten`,
      });
    }
    return { ok: problems.length === 0, rows, head: prev, problems };
  }
}
