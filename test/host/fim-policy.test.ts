/**
 * The default FIM policy over a real store with a VM whose disk is a qcow2 overlay (made by qemu-img): the
 * backing chain is read from the qcow2 headers, a re-pointed backing file shows as one base removed and another
 * added, and image contents are only hashed when asked.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { hostConfigSchema } from '../../src/host/config.js';
import { Fim } from '../../src/host/fim/fim.js';
import { backingChain } from '../../src/host/fim/qcow2.js';
import { fimRules, policyVms } from '../../src/host/fim/setup.js';
import { Vigil } from '../../src/vigil.js';

const home = mkdtempSync(join(tmpdir(), 'vigil-fimpolicy-'));
after(() => rmSync(home, { recursive: true, force: true }));
const img = (...args: string[]): void => void execFileSync('qemu-img', args, { stdio: 'ignore' });

test('disk images and their backing chains are in the default policy; a re-pointed chain is reported', async () => {
  const base1 = join(home, 'base1.qcow2');
  const base2 = join(home, 'base2.qcow2');
  const mid = join(home, 'mid.qcow2');
  const top = join(home, 'top.qcow2');
  img('create', '-f', 'qcow2', base1, '16M');
  img('create', '-f', 'qcow2', base2, '16M');
  img('create', '-f', 'qcow2', '-F', 'qcow2', '-b', 'base1.qcow2', mid);
  img('create', '-f', 'qcow2', '-F', 'qcow2', '-b', mid, top);
  assert.deepEqual(await backingChain(top), [mid, base1], 'relative backing names resolve against the image');

  const vigil = Vigil.open({ home, logger: silentLogger, principal: 't' });
  try {
    writeFileSync(join(home, 'vm.yaml'), `name: vm1\nmemory: 64M\naccel: tcg\ndisks:\n  - file: ${top}\n`);
    vigil.add([join(home, 'vm.yaml')]);
    const cfg = hostConfigSchema.parse({}).fim;
    const rules = (): ReturnType<typeof fimRules> => fimRules(cfg, { paths: vigil.paths, vms: policyVms(vigil.list()) });
    const list = await rules();
    const byPath = new Map(list.map((r) => [r.path, r]));
    assert.deepEqual(byPath.get(top)?.attributes, ['mode', 'uid', 'gid', 'inode', 'target'], 'a writable image: identity only');
    assert.deepEqual(byPath.get(mid)?.attributes, ['mode', 'uid', 'gid', 'inode', 'target', 'size', 'mtime'], 'a base image must not change');
    assert.ok(byPath.get(base1)?.origin.includes('backing image'));
    assert.ok(byPath.has(join(home, 'vm.yaml')), 'the definition file');

    const fim = new Fim({ db: vigil.db, audit: vigil.audit, logger: silentLogger, rules, concurrency: 4, principal: 't' });
    await fim.init();
    assert.equal((await fim.check()).bits, 0);
    const baseline = await fim.verifiedBaseline();
    assert.equal(baseline.entries.get(top)?.sha256, null, 'image contents are not hashed by default');

    img('rebase', '-u', '-F', 'qcow2', '-b', base2, mid);
    const r = await fim.check();
    assert.deepEqual(r.added.map((a) => a.path), [base2]);
    assert.deepEqual(r.removed.map((a) => a.path), [base1]);
    assert.ok(r.changed.some((c) => c.path === mid), 'the rebased image itself changed (mtime)');

    const hashing = hostConfigSchema.parse({ fim: { hashImages: true } }).fim;
    const withHash = await fimRules(hashing, { paths: vigil.paths, vms: policyVms(vigil.list()) });
    assert.ok(withHash.find((x) => x.path === top)?.attributes.includes('sha256'));
  } finally {
    vigil.close();
  }
});
