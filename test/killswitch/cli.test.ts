/** `vigil killswitch` through the real CLI: status, engage, toggle, release, persisted across processes. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runVigil } from '../helpers/cli.js';

const home = mkdtempSync(join(tmpdir(), 'vigil-ks-cli-'));
const env = { VIGIL_HOME: home };
after(() => rmSync(home, { recursive: true, force: true }));

async function state(): Promise<string> {
  const r = await runVigil(['killswitch', 'status', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { state: string }).state;
}

test('engage, toggle and release persist between processes and are audited', async () => {
  let r = await runVigil(['killswitch', 'status'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /kill switch: armed \(never used\)/);
  r = await runVigil(['killswitch', 'engage'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^engage \(cli\)/);
  assert.equal(await state(), 'engaged');
  r = await runVigil(['killswitch', 'toggle', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { state: string; report: { action: string } }).report.action, 'release');
  assert.equal(await state(), 'armed');
  r = await runVigil(['killswitch', 'toggle'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await state(), 'engaged');
  r = await runVigil(['killswitch', 'release'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await state(), 'armed');
  r = await runVigil(['audit', 'grep', 'killswitch'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /killswitch engage/);
  assert.match(r.stdout, /killswitch release/);
});
