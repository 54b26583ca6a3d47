/**
 * `vigil vmi` without a running VM: bad input is refused before any VM is touched (exit 3, the field named),
 * an unknown verb is named, a VM that is not running is reported; both word orders reach the same verb. The
 * verbs against a real guest are in vmi-guest.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runVigil } from '../helpers/cli.js';

describe('vigil vmi (no VM)', () => {
  const home = mkdtempSync(join(tmpdir(), 'vigil-vmi-cli-'));
  after(() => rmSync(home, { recursive: true, force: true }));
  const env = { VIGIL_HOME: home };

  it('refuses a malformed address in either word order, naming the field', async () => {
    for (const args of [['vmi', 'web', 'read', '0xzz', '16'], ['vmi', 'read', 'web', '0xzz', '16']]) {
      const r = await runVigil(args, env);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /addr '0xzz' is not a number.*VIGIL_INVALID_INPUT/);
    }
    const big = await runVigil(['vmi', 'web', 'read', '0x1000', '99999999999'], env);
    assert.equal(big.code, 3);
    assert.match(big.stderr, /len 99999999999 is too large/);
    const hex = await runVigil(['vmi', 'web', 'search', 'abc', '--hex'], env);
    assert.equal(hex.code, 3);
    assert.match(hex.stderr, /--hex pattern 'abc'/);
  });

  it('names an unknown verb and lists the verbs', async () => {
    const r = await runVigil(['vmi', 'web', 'frobnicate'], env);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /'frobnicate' is not a vmi verb: use one of read, translate, search, dump, map/);
  });

  it('reports a VM that is not running', async () => {
    const r = await runVigil(['vmi', 'web', 'translate', '0xffffffff81000000'], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /VM 'web' is not running.*VIGIL_VM_STATE/);
  });
});
