import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VM_STATES, canTransition, isActive } from './states.js';

test('the life cycle allows the documented moves and no others', () => {
  assert.ok(canTransition('defined', 'starting'));
  assert.ok(canTransition('starting', 'running'));
  assert.ok(canTransition('running', 'paused'));
  assert.ok(canTransition('paused', 'running'));
  assert.ok(canTransition('running', 'stopping'));
  assert.ok(canTransition('stopping', 'stopped'));
  assert.ok(canTransition('running', 'crashed'));
  assert.ok(canTransition('crashed', 'starting'));
  assert.ok(!canTransition('defined', 'running'), 'a VM is never running without starting');
  assert.ok(!canTransition('stopped', 'running'));
  assert.ok(!canTransition('stopped', 'paused'));
  assert.ok(!canTransition('defined', 'stopping'));
  for (const s of VM_STATES) assert.equal(isActive(s), ['starting', 'running', 'paused', 'stopping'].includes(s), s);
});
