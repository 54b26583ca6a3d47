import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventQueue } from './event-queue.js';
import { filterMatches } from './events.js';
import type { VmiEvent } from './types.js';

test('event queue: keeps every item in order, reports drain below half the mark, ends after the queued items', async () => {
  let ended = 0;
  const q = new EventQueue<number>(4, () => ended++);
  for (let i = 0; i < 10; i++) q.push(i);
  assert.equal(q.length, 10);
  let drained = false;
  const d = q.drained().then(() => (drained = true));
  const got: number[] = [];
  for (let i = 0; i < 7; i++) got.push((await q.next()).value as number);
  await Promise.resolve();
  assert.equal(drained, false, 'three left: above half of 4');
  got.push((await q.next()).value as number);
  await d;
  assert.equal(drained, true);
  q.end();
  assert.equal(ended, 1);
  for await (const v of q) got.push(v);
  assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  q.push(99);
  assert.equal(q.length, 0, 'nothing is queued after end');
});

test('event queue: a waiting consumer gets the next push; abort ends it', async () => {
  const ac = new AbortController();
  const q = new EventQueue<string>(10, () => undefined, ac.signal);
  const next = q.next();
  q.push('a');
  assert.deepEqual(await next, { value: 'a', done: false });
  const pending = q.next();
  ac.abort();
  assert.equal((await pending).done, true);
  assert.equal(q.closed, true);
});

test('event queue: many items pushed and consumed interleaved stay in order (compaction)', async () => {
  const q = new EventQueue<number>(1_000_000, () => undefined);
  const got: number[] = [];
  for (let i = 0; i < 5000; i++) {
    q.push(i);
    q.push(-i);
    got.push((await q.next()).value as number);
  }
  while (q.length > 0) got.push((await q.next()).value as number);
  const expected: number[] = [];
  for (let i = 0; i < 5000; i++) expected.push(i, -i);
  assert.deepEqual(got, expected);
});

test('filters: kind, vCPU and address, each optional, all must match', () => {
  const e: VmiEvent = { seq: 1, kind: 'breakpoint', vcpu: 1, rip: 0x10n, address: 0x10n, subscriptions: [], receivedAt: 0 };
  assert.ok(filterMatches({}, e));
  assert.ok(filterMatches({ kind: 'breakpoint' }, e));
  assert.ok(filterMatches({ kind: ['watchpoint', 'breakpoint'], vcpu: [0, 1], address: 0x10n }, e));
  assert.ok(!filterMatches({ kind: 'watchpoint' }, e));
  assert.ok(!filterMatches({ vcpu: 0 }, e));
  assert.ok(!filterMatches({ address: 0x11n }, e));
});
