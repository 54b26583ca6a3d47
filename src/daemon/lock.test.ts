import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isVigilError } from '../core/errors.js';
import { takeDaemonLock } from './lock.js';

test('one vigild per home: a live owner is refused, a stale lock is taken over', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'vigil-lock-')), 'vigild.pid');
  const release = takeDaemonLock(path);
  assert.equal(readFileSync(path, 'utf8').trim(), String(process.pid));
  release();
  assert.equal(existsSync(path), false);

  writeFileSync(path, '1\n'); // pid 1 is alive: another vigild
  assert.throws(() => takeDaemonLock(path), (err) => isVigilError(err, 'VIGIL_DAEMON') && /already running \(pid 1/.test(err.message));

  writeFileSync(path, '999999999\n'); // no such process: stale
  const again = takeDaemonLock(path);
  assert.equal(readFileSync(path, 'utf8').trim(), String(process.pid));
  again();
});
