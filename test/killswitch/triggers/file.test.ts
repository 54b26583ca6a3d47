/** The file trigger against a real directory: fs.watch for speed, the periodic stat when watching cannot work. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { FileTrigger } from '../../../src/killswitch/triggers/file.js';
import { memoryLogger, recorder } from './record.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-file-trigger-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('create engages, remove releases, through fs.watch well before the poll', async () => {
  const path = join(dir, 'a', 'ks');
  mkdirSync(join(dir, 'a'));
  const r = recorder();
  // A poll of a minute: any reaction below that came from fs.watch.
  const t = new FileTrigger({ path, pollMs: 60000, callback: r.callback, logger: memoryLogger() });
  await t.start();
  try {
    assert.equal(r.calls.length, 0, 'an absent file at start does nothing (it must not release a CLI engage)');
    const t0 = performance.now();
    writeFileSync(path, '');
    const [engage] = await r.waitFor(1, 2000);
    assert.equal(engage?.kind, 'engage');
    assert.equal(engage?.trigger.source, 'file');
    assert.match(engage?.trigger.detail ?? '', /created/);
    process.stdout.write(`# create -> engage callback: ${(engage.at - t0).toFixed(1)} ms\n`);
    // Touching the file again is not a new transition.
    writeFileSync(path, 'again');
    await sleep(200);
    assert.equal(r.calls.length, 1);
    rmSync(path);
    const calls = await r.waitFor(2, 2000);
    assert.equal(calls[1]?.kind, 'release');
    assert.match(calls[1]?.trigger.detail ?? '', /removed/);
  } finally {
    await t.stop();
  }
  writeFileSync(path, '');
  await sleep(200);
  assert.equal(r.calls.length, 2, 'nothing fires after stop()');
});

test('a file present at start engages once', async () => {
  const path = join(dir, 'present');
  writeFileSync(path, '');
  const r = recorder();
  const t = new FileTrigger({ path, pollMs: 100, callback: r.callback, logger: memoryLogger() });
  await t.start();
  try {
    assert.equal(r.calls.length, 1, 'start() resolves after the first look');
    assert.match(r.calls[0]?.trigger.detail ?? '', /present at start/);
    await sleep(350);
    assert.equal(r.calls.length, 1, 'the poll does not repeat an unchanged state');
  } finally {
    await t.stop();
  }
});

test('the periodic stat catches what fs.watch cannot see: a directory that did not exist at start, then replaced', async () => {
  const parent = join(dir, 'later');
  const path = join(parent, 'ks');
  const r = recorder();
  const t = new FileTrigger({ path, pollMs: 100, callback: r.callback, logger: memoryLogger() });
  await t.start();
  try {
    assert.equal(t.watching, false);
    mkdirSync(parent);
    writeFileSync(path, '');
    assert.equal((await r.waitFor(1, 2000))[0]?.kind, 'engage');
    // The whole directory goes away (its watch dies with it) and comes back without the file.
    rmSync(parent, { recursive: true });
    assert.equal((await r.waitFor(2, 2000))[1]?.kind, 'release');
    mkdirSync(parent);
    await sleep(250);
    assert.equal(t.watching, true, 'the new directory is watched again');
    writeFileSync(path, '');
    assert.equal((await r.waitFor(3, 2000))[2]?.kind, 'engage');
  } finally {
    await t.stop();
  }
});

test('a failing switch is logged and the trigger keeps working', async () => {
  const path = join(dir, 'failing');
  const logger = memoryLogger();
  const r = recorder(() => Promise.reject(new Error('engine down')));
  const t = new FileTrigger({ path, pollMs: 100, callback: r.callback, logger });
  await t.start();
  try {
    writeFileSync(path, '');
    await r.waitFor(1);
    rmSync(path);
    await r.waitFor(2);
    await sleep(10);
    assert.equal(logger.lines.filter((l) => l.level === 'error' && JSON.stringify(l.obj).includes('engine down')).length, 2);
  } finally {
    await t.stop();
  }
});
