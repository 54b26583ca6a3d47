import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeFirer } from '../../../src/killswitch/triggers/fire.js';
import { memoryLogger, recorder } from './record.js';

test('repeats of one action inside the window are dropped; other actions and later repeats pass', () => {
  let now = 0;
  const r = recorder();
  const fire = makeFirer({ source: 'gpio', callback: r.callback, logger: memoryLogger(), debounceMs: 100, now: () => now });
  assert.equal(fire('toggle', 'a'), true);
  now = 50;
  assert.equal(fire('toggle', 'bounce'), false);
  assert.equal(fire('engage', 'b'), true);
  now = 150;
  assert.equal(fire('toggle', 'c'), true);
  assert.deepEqual(r.calls.map((c) => [c.kind, c.trigger.source, c.trigger.detail]), [
    ['toggle', 'gpio', 'a'],
    ['engage', 'gpio', 'b'],
    ['toggle', 'gpio', 'c'],
  ]);
});

test('a callback that throws or rejects is logged, never thrown at the event handler', async () => {
  const logger = memoryLogger();
  const throwing = makeFirer({ source: 'file', callback: () => { throw new Error('sync boom'); }, logger, debounceMs: 0 });
  assert.doesNotThrow(() => throwing('engage', 'x'));
  const rejecting = makeFirer({ source: 'file', callback: () => Promise.reject(new Error('async boom')), logger, debounceMs: 0 });
  assert.doesNotThrow(() => rejecting('release', 'y'));
  await new Promise((r) => setImmediate(r));
  const errors = logger.lines.filter((l) => l.level === 'error').map((l) => JSON.stringify(l.obj));
  assert.equal(errors.length, 2);
  assert.match(errors.join(), /sync boom/);
  assert.match(errors.join(), /async boom/);
});
