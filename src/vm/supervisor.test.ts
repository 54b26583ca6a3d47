import assert from 'node:assert/strict';
import { test } from 'node:test';
import { vmDefinitionSchema } from './definition/schema.js';
import type { Vm } from './service.js';
import { autostartOrder, restartDelay } from './supervisor.js';

function vm(name: string, order: number, after: string[] = []): Vm {
  return {
    name,
    state: 'stopped',
    pid: null,
    startedAt: null,
    definition: vmDefinitionSchema.parse({ name, autostart: { enabled: true, order, after } }),
    sources: [],
    needsRestart: false,
    restartCount: 0,
  };
}

test('autostart: dependencies first, then order, then name', () => {
  const { order, problems } = autostartOrder([vm('desktop', 0, ['router']), vm('router', 5), vm('mail', 1), vm('db', 1)]);
  assert.deepEqual(order.map((v) => v.name), ['router', 'desktop', 'db', 'mail']);
  assert.deepEqual(problems, []);
});

test('autostart: cycles and unknown dependencies are reported, not looped on', () => {
  const { order, problems } = autostartOrder([vm('a', 0, ['b']), vm('b', 0, ['a']), vm('c', 0, ['nope'])]);
  assert.equal(order.length, 3);
  assert.ok(problems.some((p) => p.includes('cycle')));
  assert.ok(problems.some((p) => p.includes("'nope'")));
});

test('restart delays double up to the maximum', () => {
  const policy = vmDefinitionSchema.parse({ name: 'x', autostart: { restart: { policy: 'on-failure', initialDelayMs: 500, maxDelayMs: 3000 } } }).autostart.restart;
  assert.deepEqual([0, 1, 2, 3, 4].map((n) => restartDelay(policy, n)), [500, 1000, 2000, 3000, 3000]);
});
