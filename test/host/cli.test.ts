/**
 * `vigil fim` and `vigil host` as a user runs them (a child process, a throwaway VIGIL_HOME): the exit statuses
 * (0 clean, 16 + bitmask on a difference, 7 on a tampered baseline, 8 without one), the JSON report, the port
 * audit finding a listener of this test with its pid.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { runVigil } from '../helpers/cli.js';

const home = mkdtempSync(join(tmpdir(), 'vigil-fimcli-'));
const tree = join(home, 'tree');
const env = { VIGIL_HOME: home };
after(() => rmSync(home, { recursive: true, force: true }));

mkdirSync(join(home, 'config'), { recursive: true });
mkdirSync(tree);
writeFileSync(join(tree, 'a'), 'a');
writeFileSync(join(tree, 'b'), 'b');
writeFileSync(join(home, 'config', 'config.yaml'), `host:\n  fim:\n    defaults: false\n    rules:\n      - path: ${tree}\n  lockdowns:\n    quiet:\n      - type: log\n`);

test('fim: no baseline (8), init, clean check (0), a difference (16 + bitmask), --json, tampered (7)', async () => {
  let r = await runVigil(['fim', 'check'], env);
  assert.equal(r.code, 8, r.stderr);
  assert.match(r.stderr, /run `vigil fim init` first \[VIGIL_FIM_NO_BASELINE\]/);
  r = await runVigil(['fim', 'init'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /baseline generation 1: 3 paths, 2 hashed/);
  r = await runVigil(['fim', 'check'], env);
  assert.equal(r.code, 0, r.stdout + r.stderr);

  writeFileSync(join(tree, 'c'), 'new');
  r = await runVigil(['fim', 'check'], env);
  assert.equal(r.code, 16 + 1, r.stdout);
  writeFileSync(join(tree, 'a'), 'changed');
  unlinkSync(join(tree, 'b'));
  r = await runVigil(['fim', 'check', '--json'], env);
  assert.equal(r.code, 16 + 1 + 2 + 4, r.stderr);
  const report = JSON.parse(r.stdout) as { added: { path: string }[]; removed: { path: string }[]; changed: { path: string; changes: { attribute: string; old: unknown; new: unknown }[] }[]; bits: number };
  assert.equal(report.bits, 7);
  assert.deepEqual(report.added.map((a) => a.path), [join(tree, 'c')]);
  assert.deepEqual(report.removed.map((a) => a.path), [join(tree, 'b')]);
  assert.deepEqual(report.changed.map((c) => c.path), [join(tree, 'a')]);
  assert.deepEqual(report.changed[0]!.changes.find((c) => c.attribute === 'size'), { attribute: 'size', old: 1, new: 7 });

  r = await runVigil(['fim', 'update'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /baseline generation 2 recorded/);
  r = await runVigil(['fim', 'check'], env);
  assert.equal(r.code, 0, r.stdout);

  const db = new Database(join(home, 'data', 'vigil.db'));
  db.exec('DROP TRIGGER fim_entries_no_update');
  db.prepare("UPDATE fim_entries SET mode = '0777' WHERE path = ?").run(join(tree, 'a'));
  db.close();
  r = await runVigil(['fim', 'check'], env);
  assert.equal(r.code, 7, r.stdout + r.stderr);
  assert.match(r.stderr, /tampered with/);
  assert.match(r.stderr, /\[VIGIL_FIM_TAMPERED\]/);
});

test('host ports --json finds this test\'s listener with its pid', async () => {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const port = (server.address() as AddressInfo).port;
    const r = await runVigil(['host', 'ports', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { proto: string; port: number; address: string; processes: { pid: number }[]; allowed: boolean }[];
    const mine = list.find((l) => l.proto === 'tcp' && l.port === port);
    assert.ok(mine, `port ${port} not listed`);
    assert.equal(mine.address, '127.0.0.1');
    assert.deepEqual(mine.processes.map((p) => p.pid), [process.pid]);
    assert.equal(mine.allowed, false);
  } finally {
    server.close();
  }
});

test('host lockdown: a configured one runs; an unknown one exits 8', async () => {
  let r = await runVigil(['host', 'lockdown', 'quiet', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { outcomes: { action: string; outcome: string }[] };
  assert.deepEqual(out.outcomes.map((o) => [o.action, o.outcome]), [['log', 'ok']]);
  r = await runVigil(['host', 'lockdown', 'nope'], env);
  assert.equal(r.code, 8);
  assert.match(r.stderr, /no lockdown named 'nope'.*known: quiet/);
});
