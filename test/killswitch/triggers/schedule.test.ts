/** The schedule trigger on real timers: expressions with a seconds field fire within a second or two. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { ScheduleTrigger } from '../../../src/killswitch/triggers/schedule.js';
import { memoryLogger, recorder } from './record.js';

test('an every-second engage fires on the second, again each second, and stops with stop()', async () => {
  const r = recorder();
  const t = new ScheduleTrigger({ engage: '* * * * * *', timezone: 'UTC', applyAtStart: true, callback: r.callback, logger: memoryLogger() });
  await t.start();
  let calls;
  try {
    const next = t.nextRuns().engage;
    assert.ok(next instanceof Date && next.getTime() - Date.now() <= 1000, `next run ${String(next)}`);
    calls = await r.waitFor(2, 4000);
  } finally {
    await t.stop();
  }
  assert.deepEqual(calls.map((c) => c.kind).slice(0, 2), ['engage', 'engage']);
  assert.equal(calls[0]?.trigger.source, 'schedule');
  assert.match(calls[0]?.trigger.detail ?? '', /cron \* \* \* \* \* \* \(UTC\)/);
  const gap = calls[1]!.at - calls[0].at;
  assert.ok(gap > 700 && gap < 1500, `one second apart, got ${gap.toFixed(0)} ms`);
  const n = r.calls.length;
  await sleep(1300);
  assert.equal(r.calls.length, n, 'nothing fires after stop()');
});

test('engage and release alternate on their own expressions', async () => {
  const r = recorder();
  // Engage on even seconds, release on odd ones.
  const t = new ScheduleTrigger({ engage: '*/2 * * * * *', release: '1-59/2 * * * * *', applyAtStart: false, callback: r.callback, logger: memoryLogger() });
  await t.start();
  try {
    await r.waitFor(3, 5000);
  } finally {
    await t.stop();
  }
  const kinds = r.calls.map((c) => c.kind);
  for (let i = 1; i < kinds.length; i++) assert.notEqual(kinds[i], kinds[i - 1], kinds.join());
});

test('started inside the engaged window, it engages at once; inside the released window, it does nothing', async () => {
  const night = { engage: '0 22 * * *', release: '0 7 * * *', timezone: 'Europe/Berlin' };
  // 23:30 in Berlin (UTC+1 in November): last engage 22:00 today, last release 07:00 today.
  const inside = recorder();
  const a = new ScheduleTrigger({ ...night, applyAtStart: true, callback: inside.callback, logger: memoryLogger(), now: () => new Date('2026-11-24T22:30:00Z') });
  await a.start();
  await a.stop();
  assert.equal(inside.calls.length, 1);
  assert.equal(inside.calls[0]?.kind, 'engage');
  assert.match(inside.calls[0]?.trigger.detail ?? '', /since 2026-11-24T21:00:00\.000Z/);

  // 12:00 in Berlin: the last was the 07:00 release; nothing is released at start either.
  const outside = recorder();
  const b = new ScheduleTrigger({ ...night, applyAtStart: true, callback: outside.callback, logger: memoryLogger(), now: () => new Date('2026-11-24T11:00:00Z') });
  await b.start();
  await b.stop();
  assert.equal(outside.calls.length, 0);

  const off = recorder();
  const c = new ScheduleTrigger({ ...night, applyAtStart: false, callback: off.callback, logger: memoryLogger(), now: () => new Date('2026-11-24T22:30:00Z') });
  await c.start();
  await c.stop();
  assert.equal(off.calls.length, 0, 'applyAtStart: false waits for the next scheduled time');
});
