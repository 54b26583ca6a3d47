/**
 * The GPIO trigger's child-process path. This machine has no GPIO chip and cannot load gpio-sim or gpio-mockup
 * (a kernel without module support), so the real gpiomon cannot report an edge here. A stand-in `gpiomon`, placed
 * first in PATH, prints what libgpiod 1.6's gpiomon prints (its documented event line) for lines the test writes
 * into a FIFO, and records the arguments it was given.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { GpioTrigger } from '../../../src/killswitch/triggers/gpio.js';
import { mkfifo, openWriter } from './fifo.js';
import { memoryLogger, recorder } from './record.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-gpio-'));
const bin = join(dir, 'bin');
const fifo = join(dir, 'edges');
const argsFile = join(dir, 'args');
const savedPath = process.env.PATH;

// Each "edge" the test writes ("R 17" / "F 17") becomes one v1 event line; EOF on the FIFO ends the process, as
// a gpiomon that lost its chip would.
const STAND_IN = `#!/bin/sh
if [ "$1" = "--version" ]; then echo "gpiomon (libgpiod) v1.6.3"; exit 0; fi
echo "$*" >> "${argsFile}"
while read -r edge offset; do
  if [ "$edge" = R ]; then name=" RISING EDGE"; else name="FALLING EDGE"; fi
  printf 'event: %s offset: %s timestamp: [%8d.%09d]\\n' "$name" "$offset" 1700000000 123456789
done < "${fifo}"
echo "gpiomon: error waiting for events: No such device" >&2
exit 1
`;

before(() => {
  mkdirSync(bin);
  writeFileSync(join(bin, 'gpiomon'), STAND_IN);
  chmodSync(join(bin, 'gpiomon'), 0o755);
  mkfifo(fifo);
  process.env.PATH = `${bin}${delimiter}${savedPath ?? ''}`;
});

after(() => {
  process.env.PATH = savedPath;
  rmSync(dir, { recursive: true, force: true });
});

test('rising engages, falling releases, other lines are ignored; gpiomon is restarted when it exits', async () => {
  const logger = memoryLogger();
  const r = recorder();
  const t = new GpioTrigger({ chip: 'gpiochip0', line: 17, rising: 'engage', falling: 'release', activeLow: true, bias: 'pull-up', debounceMs: 0, command: 'gpiomon', restartMs: 100, callback: r.callback, logger });
  await t.start();
  try {
    let w = await openWriter(fifo);
    assert.equal(readFileSync(argsFile, 'utf8').trim(), '-b -l -B pull-up gpiochip0 17');
    await w.write('R 17\nF 4\n');
    await r.waitFor(1);
    await w.write('F 17\n');
    const calls = await r.waitFor(2);
    assert.deepEqual(calls.map((c) => c.kind), ['engage', 'release']);
    assert.equal(calls[0]?.trigger.source, 'gpio');
    assert.equal(calls[0]?.trigger.detail, 'rising edge on gpiochip0 line 17 at 1700000000.123456789');
    const firstPid = t.pid;
    // gpiomon exits (the FIFO's writer closes): logged with its stderr, and started again.
    await w.close();
    w = await openWriter(fifo);
    assert.notEqual(t.pid, firstPid);
    const exitLog = logger.lines.find((l) => l.level === 'error' && l.msg?.includes('gpiomon exited'));
    assert.match(JSON.stringify(exitLog?.obj), /No such device/);
    await w.write('R 17\n');
    await r.waitFor(3);
    assert.equal(r.calls.length, 3, 'the F 4 line (another offset) fired nothing');
    await w.close();
  } finally {
    await t.stop();
  }
  assert.equal(t.pid, undefined);
});

test('a bouncing contact toggles once within the debounce window', async () => {
  const r = recorder();
  const t = new GpioTrigger({ chip: '0', line: 5, rising: 'toggle', falling: 'none', activeLow: false, debounceMs: 300, command: 'gpiomon', restartMs: 100, callback: r.callback, logger: memoryLogger() });
  await t.start();
  try {
    const w = await openWriter(fifo);
    assert.match(readFileSync(argsFile, 'utf8').trim().split('\n').at(-1) ?? '', /^-b -r 0 5$/);
    await w.write('R 5\nF 5\nR 5\nF 5\nR 5\n');
    await r.waitFor(1);
    await sleep(150);
    assert.equal(r.calls.length, 1);
    await sleep(250);
    await w.write('R 5\n');
    await r.waitFor(2);
    await w.close();
  } finally {
    await t.stop();
  }
});

test('a missing gpiomon is reported with the package to install, and retried', async () => {
  const logger = memoryLogger();
  const t = new GpioTrigger({ chip: 'gpiochip0', line: 1, rising: 'engage', falling: 'none', activeLow: false, debounceMs: 0, command: join(dir, 'no-such-gpiomon'), restartMs: 50, callback: recorder().callback, logger });
  await t.start();
  await sleep(200);
  await t.stop();
  const errors = logger.lines.filter((l) => l.level === 'error' && l.msg?.includes('gpiomon exited'));
  assert.ok(errors.length >= 2, `retried: ${errors.length}`);
  assert.match(JSON.stringify(errors[0]?.obj), /apt-get install gpiod/);
});

test('a bouncing switch thrown to ON ends engaged: only the last edge, once settled, acts', async () => {
  const r = recorder();
  const t = new GpioTrigger({ chip: '0', line: 6, rising: 'engage', falling: 'release', activeLow: false, debounceMs: 200, command: 'gpiomon', restartMs: 100, callback: r.callback, logger: memoryLogger() });
  await t.start();
  try {
    const w = await openWriter(fifo);
    await w.write('R 6\nF 6\nR 6\nF 6\nR 6\n');
    await r.waitFor(1);
    await sleep(300);
    assert.deepEqual(r.calls.map((c) => c.kind), ['engage'], 'not engage then release');
    await w.close();
  } finally {
    await t.stop();
  }
});
