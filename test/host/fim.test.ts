/**
 * FIM against a real tree and a real SQLite store: the exact diff for a changed file, a new file, a removed file,
 * a chmod and a retargeted symlink; a baseline changed row by row, or rewritten whole with fresh hashes, is
 * refused as tampered.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, test } from 'node:test';
import { isVigilError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { hostConfigSchema } from '../../src/host/config.js';
import { formatNs } from '../../src/host/fim/entry.js';
import { Fim } from '../../src/host/fim/fim.js';
import { resolveRules } from '../../src/host/fim/policy.js';
import { formatDiff } from '../../src/host/fim/report.js';
import { AuditLog } from '../../src/store/audit-log.js';
import { openStore, type StoreDb } from '../../src/store/db.js';
import { FimRepo } from '../../src/store/fim-repo.js';

const dirs: string[] = [];
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

let root: string;
let db: StoreDb;
let audit: AuditLog;
let fim: Fim;

beforeEach(() => {
  const base = mkdtempSync(join(tmpdir(), 'vigil-fim-'));
  dirs.push(base);
  root = join(base, 'tree');
  mkdirSync(join(root, 'etc', 'sub'), { recursive: true });
  mkdirSync(join(root, 'cache'));
  writeFileSync(join(root, 'etc', 'a.conf'), 'alpha\n');
  writeFileSync(join(root, 'etc', 'b.conf'), 'bravo\n');
  writeFileSync(join(root, 'etc', 'sub', 'c.conf'), 'charlie\n');
  writeFileSync(join(root, 'cache', 'noise'), 'x');
  writeFileSync(join(root, 'etc', 'one'), '1');
  writeFileSync(join(root, 'etc', 'two'), '2');
  symlinkSync('one', join(root, 'etc', 'link'));
  chmodSync(join(root, 'etc', 'a.conf'), 0o644);
  db = openStore(join(base, 'vigil.db'));
  audit = new AuditLog(db);
  const config = hostConfigSchema.parse({ fim: { defaults: false, rules: [{ path: root, exclude: ['cache/**'] }] } });
  fim = new Fim({ db, audit, logger: silentLogger, rules: () => Promise.resolve(resolveRules(config.fim.rules)), concurrency: 4, principal: 'tester' });
});

test('an unchanged tree checks clean; init twice is refused', async () => {
  const init = await fim.init();
  assert.equal(init.entries, 10, 'root, etc, sub, cache dir, 6 objects under etc');
  const check = await fim.check();
  assert.equal(check.bits, 0, formatDiff(check));
  await assert.rejects(fim.init(), (e) => isVigilError(e, 'VIGIL_FIM_NO_BASELINE'));
  writeFileSync(join(root, 'cache', 'noise'), 'excluded: never reported');
  assert.equal((await fim.check()).bits, 0);
});

test('the exact diff: a changed file, a new file, a removed file, a chmod, a retargeted symlink', async () => {
  await fim.init();
  const aConf = join(root, 'etc', 'a.conf');
  const before = statSync(aConf, { bigint: true });
  writeFileSync(aConf, 'ALPHA, changed\n');
  writeFileSync(join(root, 'etc', 'sub', 'new.conf'), 'new\n');
  unlinkSync(join(root, 'etc', 'b.conf'));
  chmodSync(join(root, 'etc', 'sub', 'c.conf'), 0o4755);
  unlinkSync(join(root, 'etc', 'link'));
  symlinkSync('two', join(root, 'etc', 'link'));

  const r = await fim.check();
  assert.equal(r.bits, 1 | 2 | 4);
  assert.deepEqual(r.added.map((a) => [a.path, a.type, a.sha256]), [[join(root, 'etc', 'sub', 'new.conf'), 'file', sha('new\n')]]);
  assert.deepEqual(r.removed.map((x) => [x.path, x.type]), [[join(root, 'etc', 'b.conf'), 'file']]);
  const changed = Object.fromEntries(r.changed.map((c) => [c.path.slice(root.length), Object.fromEntries(c.changes.map((ch) => [ch.attribute, [ch.old, ch.new]]))]));
  const after = statSync(aConf, { bigint: true });
  assert.deepEqual(changed['/etc/a.conf'], {
    sha256: [sha('alpha\n'), sha('ALPHA, changed\n')],
    size: [6, 15],
    ...(after.mtimeNs !== before.mtimeNs ? { mtime: [formatNs(before.mtimeNs.toString()), formatNs(after.mtimeNs.toString())] } : {}),
  });
  assert.deepEqual(changed['/etc/sub/c.conf'], { mode: ['0644', '4755'] }, 'a chmod changes the mode only');
  assert.deepEqual(changed['/etc/link']?.target, ['one', 'two'], 'the retargeted symlink');
  // The directories whose entries changed are not reported for that: their added/removed paths say it.
  assert.equal(changed['/etc'], undefined);
  assert.equal(changed['/etc/sub'], undefined);
  const text = formatDiff(r);
  assert.match(text, /changed: .*\/etc\/sub\/c\.conf\n {2}mode: 0644 -> 4755/);
  assert.match(text, /target: one -> two/);
  assert.match(text, /1 added, 1 removed, \d+ changed/);
  // update accepts it; the next check is clean.
  const u = await fim.update();
  assert.equal(u.baseline.generation, 2);
  assert.equal((await fim.check()).bits, 0);
});

test('a baseline row changed in the store is detected', async () => {
  await fim.init();
  // An attacker with write access to the store drops the guard trigger and blesses a modified file.
  db.exec('DROP TRIGGER fim_entries_no_update');
  db.prepare("UPDATE fim_entries SET sha256 = ? WHERE path = ?").run('f'.repeat(64), join(root, 'etc', 'a.conf'));
  await assert.rejects(fim.check(), (e) => {
    assert.ok(isVigilError(e, 'VIGIL_FIM_TAMPERED'), String(e));
    assert.match(e.message, /a\.conf\) does not match its hash: it was changed/);
    return true;
  });
});

test('a row removed from the baseline is detected', async () => {
  await fim.init();
  db.prepare('DELETE FROM fim_entries WHERE path = ?').run(join(root, 'etc', 'b.conf'));
  await assert.rejects(fim.check(), (e) => isVigilError(e, 'VIGIL_FIM_TAMPERED') && /were removed/.test(e.message));
});

test('a baseline rewritten whole with valid hashes is detected through the audit log', async () => {
  await fim.init();
  writeFileSync(join(root, 'etc', 'a.conf'), 'trojan\n');
  // A consistent new generation written straight into the store, bypassing Vigil (and so the audit log).
  const scanned = await fim.scan();
  await new FimRepo(db).append(scanned.entries.values(), { reason: 'init', principal: 'attacker' });
  await assert.rejects(fim.check(), (e) => isVigilError(e, 'VIGIL_FIM_TAMPERED') && /the baseline was replaced/.test(e.message));
  // The audit log itself still verifies: the evidence is intact.
  assert.ok(audit.verify().ok);
});
