/** FIM watch mode on a real tree: inotify-driven reports within the debounce, each difference once, rescans. */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { Fim } from '../../src/host/fim/fim.js';
import { resolveRules } from '../../src/host/fim/policy.js';
import { FimWatcher, type FimWatchReport } from '../../src/host/fim/watch.js';
import { hostConfigSchema } from '../../src/host/config.js';
import { AuditLog } from '../../src/store/audit-log.js';
import { openStore } from '../../src/store/db.js';

const base = mkdtempSync(join(tmpdir(), 'vigil-fimwatch-'));
after(() => rmSync(base, { recursive: true, force: true }));

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 10000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('changes are reported from inotify events, once each; a full rescan finds nothing new', async () => {
  const tree = join(base, 'tree');
  mkdirSync(join(tree, 'deep', 'er'), { recursive: true });
  writeFileSync(join(tree, 'deep', 'er', 'x.conf'), 'x');
  writeFileSync(join(tree, 'y.conf'), 'y');
  const single = join(base, 'qemu-system-fake');
  writeFileSync(single, 'ELF');
  const db = openStore(join(base, 'vigil.db'));
  const cfg = hostConfigSchema.parse({ fim: { defaults: false, rules: [{ path: tree }, { path: single }] } });
  const rules = (): Promise<ReturnType<typeof resolveRules>> => Promise.resolve(resolveRules(cfg.fim.rules));
  const fim = new Fim({ db, audit: new AuditLog(db), logger: silentLogger, rules, concurrency: 4, principal: 't' });
  await fim.init();
  const reports: FimWatchReport[] = [];
  const watcher = new FimWatcher(fim, { rules, concurrency: 4, rescanMs: 800, debounceMs: 50, logger: silentLogger }, (r) => reports.push(r));
  const first = await watcher.start();
  assert.equal(first.bits, 0);
  try {
    await sleep(100); // the watches are set asynchronously after start's first scan
    const t0 = performance.now();
    writeFileSync(join(tree, 'deep', 'er', 'x.conf'), 'tampered');
    const r1 = await until('the change', () => reports.find((r) => r.changed.some((c) => c.path.endsWith('x.conf'))));
    process.stdout.write(`# change reported ${(performance.now() - t0).toFixed(0)} ms after the write (full: ${r1.full})\n`);
    writeFileSync(join(tree, 'deep', 'new.conf'), 'n');
    await until('the addition', () => reports.find((r) => r.added.some((a) => a.path.endsWith('new.conf'))));
    chmodSync(single, 0o777);
    const r3 = await until('the single file', () => reports.find((r) => r.changed.some((c) => c.path === single)));
    assert.deepEqual(r3.changed.find((c) => c.path === single)!.changes, [{ attribute: 'mode', old: '0644', new: '0777' }]);
    unlinkSync(join(tree, 'y.conf'));
    await until('the removal', () => reports.find((r) => r.removed.some((a) => a.path.endsWith('y.conf'))));
    // Two full rescans later nothing was reported again.
    const count = reports.length;
    await sleep(2000);
    const again = reports.slice(count).flatMap((r) => [...r.added, ...r.removed, ...r.changed]);
    assert.deepEqual(again, [], 'each difference is reported once');
    const all = reports.flatMap((r) => r.changed.map((c) => c.path));
    assert.equal(all.filter((p) => p.endsWith('x.conf')).length, 1);
  } finally {
    await watcher.stop();
    db.close();
  }
});
