/** Canary files on a real directory: created when absent, a removal and a re-creation each trip once. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { Canary, type CanaryTrip } from '../../src/host/honeypot/canary.js';
import { printable } from '../../src/host/honeypot/honeypot.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-canary-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('a canary is created 0600, and trips on removal and on re-creation, once each', async () => {
  const path = join(dir, 'wallet.dat');
  const trips: CanaryTrip[] = [];
  const canary = new Canary({ name: 'wallet', path, content: 'seed words', pollSec: 3600 }, (t) => trips.push(t));
  const state = await canary.start();
  try {
    assert.equal(readFileSync(path, 'utf8'), 'seed words');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.ok(state.exists && state.sha256?.length === 64);
    unlinkSync(path);
    const removed = await until('the removal', () => trips.find((t) => t.kind === 'removed'));
    assert.equal(removed.before.sha256, state.sha256);
    assert.deepEqual(removed.after, { exists: false });
    writeFileSync(path, 'replaced');
    await until('the re-creation', () => trips.find((t) => t.kind === 'created'));
    await sleep(200);
    await canary.check();
    assert.deepEqual(trips.map((t) => t.kind), ['removed', 'created'], 'each new state trips once');
  } finally {
    canary.stop();
  }
});

test('captured bytes are escaped for terminals and logs', () => {
  assert.equal(printable(Buffer.from('GET / HTTP/1.1\r\n\x1b[2J\\\x00\xff', 'latin1')), 'GET / HTTP/1.1\\r\\n\\x1b[2J\\\\\\x00\\xff');
});
