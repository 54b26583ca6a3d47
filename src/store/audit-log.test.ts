import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { isVigilError } from '../core/errors.js';
import { AuditLog, type AuditInput } from './audit-log.js';
import { openStore } from './db.js';

function entry(n: number, over: Partial<AuditInput> = {}): AuditInput {
  return {
    time: new Date(Date.UTC(2026, 10, 24, 12, 0, n)),
    vm: n % 2 === 0 ? 'web' : 'db',
    principal: 'alice',
    command: n % 3 === 0 ? 'stop' : 'query-status',
    args: { n },
    class: n % 3 === 0 ? 'privileged' : 'safe',
    outcome: 'ok',
    reason: 'test',
    durationMs: n + 0.1234567,
    ...over,
  };
}

function freshLog(rows = 10): { file: string; log: AuditLog; db: Database.Database } {
  const file = join(mkdtempSync(join(tmpdir(), 'vigil-audit-')), 'vigil.db');
  const db = openStore(file);
  const log = new AuditLog(db);
  for (let i = 1; i <= rows; i++) log.append(entry(i));
  return { file, log, db };
}

/** Opens the file behind Vigil's back, as an attacker with file access would, and drops the append-only triggers. */
function tamper(file: string, sql: string): void {
  const raw = new Database(file);
  raw.exec('DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;');
  raw.exec(sql);
  raw.close();
}

test('rows chain: each carries the hash of the one before, and a clean log verifies', () => {
  const { log, db } = freshLog(5);
  const rows = log.query();
  assert.equal(rows.length, 5);
  for (let i = 1; i < rows.length; i++) assert.equal(rows[i]!.prevHash, rows[i - 1]!.hash);
  const result = log.verify();
  assert.deepEqual(result, { ok: true, rows: 5, head: rows[4]!.hash, problems: [] });
  assert.deepEqual(log.head(), { seq: 5, hash: rows[4]!.hash });
  db.close();
});

test('the log is append-only through SQLite itself', () => {
  const { db } = freshLog(2);
  assert.throws(() => db.prepare("UPDATE audit_log SET outcome = 'refused' WHERE seq = 1").run(), /append-only/);
  assert.throws(() => db.prepare('DELETE FROM audit_log WHERE seq = 1').run(), /append-only/);
  db.close();
});

test('a changed row is found', () => {
  const { file, db } = freshLog(6);
  db.close();
  tamper(file, `UPDATE audit_log SET principal = 'mallory' WHERE seq = 3`);
  const log = new AuditLog(openStore(file));
  const result = log.verify();
  assert.equal(result.ok, false);
  assert.deepEqual(result.problems.map((p) => [p.seq, p.problem]), [[3, 'changed']]);
});

test('a changed row with a recomputed hash breaks the next link', () => {
  const { file, log: original, db } = freshLog(6);
  const row4 = original.query().find((r) => r.seq === 4)!;
  db.close();
  tamper(file, `UPDATE audit_log SET hash = '${'f'.repeat(64)}', outcome = 'refused' WHERE seq = 3`);
  const result = new AuditLog(openStore(file)).verify();
  assert.equal(result.ok, false);
  assert.ok(result.problems.some((p) => p.seq === 4 && p.problem === 'chain-broken'), JSON.stringify(result.problems));
  assert.notEqual(row4.prevHash, 'f'.repeat(64));
});

test('a removed row is found, in the middle and at the end', () => {
  const { file, db } = freshLog(6);
  db.close();
  tamper(file, 'DELETE FROM audit_log WHERE seq = 2');
  let result = new AuditLog(openStore(file)).verify();
  assert.deepEqual(result.problems.map((p) => [p.seq, p.problem]), [[2, 'removed']]);

  const second = freshLog(6);
  second.db.close();
  tamper(second.file, 'DELETE FROM audit_log WHERE seq = 6');
  result = new AuditLog(openStore(second.file)).verify();
  assert.deepEqual(result.problems.map((p) => p.problem), ['head-mismatch']);
});

test('filters, limits and regular-expression search', () => {
  const { log, db } = freshLog(12);
  assert.deepEqual(log.query({ vm: 'web' }).map((r) => r.seq), [2, 4, 6, 8, 10, 12]);
  assert.deepEqual(log.query({ command: 'stop' }, 2).map((r) => r.seq), [9, 12]);
  assert.deepEqual(log.query({ class: 'privileged', vm: 'db' }).map((r) => r.seq), [3, 9]);
  assert.deepEqual(log.query({ afterSeq: 10 }).map((r) => r.seq), [11, 12]);
  assert.deepEqual(log.query({ since: new Date(Date.UTC(2026, 10, 24, 12, 0, 11)) }).map((r) => r.seq), [11, 12]);
  assert.deepEqual(log.query({ pattern: '"n":1[01]' }).map((r) => r.seq), [10, 11]);
  assert.deepEqual(log.query({ pattern: 'STOP' }).length, 4, 'case-insensitive');
  assert.throws(() => log.query({ pattern: '(' }), (err) => isVigilError(err, 'VIGIL_INVALID_INPUT'));
  db.close();
});

test('two connections appending in turn keep one chain', () => {
  const { file, log, db } = freshLog(1);
  const other = new AuditLog(openStore(file));
  for (let i = 2; i <= 20; i++) (i % 2 === 0 ? other : log).append(entry(i));
  const result = log.verify();
  assert.equal(result.ok, true, JSON.stringify(result.problems));
  assert.equal(result.rows, 20);
  db.close();
});

test('an arguments object with bigints and a duration with many decimals round-trip under the hash', () => {
  const { log, db } = freshLog(0);
  log.append(entry(1, { args: { addr: 18446744073709551615n } }));
  assert.equal(log.verify().ok, true);
  assert.deepEqual(log.query()[0]!.args, { addr: '18446744073709551615' });
  db.close();
});
