import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../core/log.js';
import { EventHub } from './event-hub.js';

const ev = (name: string): Parameters<EventHub['dispatch']>[0] => ({ event: name, data: {}, timestamp: { seconds: 0, microseconds: 0 } });

test('overlapping next() calls each get an event in order, and all settle when the hub ends', async () => {
  const hub = new EventHub(silentLogger);
  const stream = hub.stream();
  const a = stream.next();
  const b = stream.next();
  const c = stream.next();
  hub.dispatch(ev('ONE'));
  hub.dispatch(ev('TWO'));
  hub.end();
  const got = await Promise.all([a, b, c]);
  assert.deepEqual(got.map((r) => (r.done ? 'done' : r.value.event)), ['ONE', 'TWO', 'done']);
});

test('a bounded stream drops the oldest events', async () => {
  const hub = new EventHub(silentLogger);
  const stream = hub.stream({ limit: 2 });
  for (const n of ['A', 'B', 'C']) hub.dispatch(ev(n));
  hub.end();
  const names: string[] = [];
  for await (const e of stream) names.push(e.event);
  assert.deepEqual(names, ['B', 'C']);
});
