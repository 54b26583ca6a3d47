import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isVigilError } from '../../core/errors.js';
import { resolveAccel } from './accel.js';

test('auto: KVM when usable, else TCG; tcg always TCG', () => {
  assert.equal(resolveAccel('auto', { kvmUsable: true }), 'kvm');
  assert.equal(resolveAccel('auto', { kvmUsable: false }), 'tcg');
  assert.equal(resolveAccel('tcg', { kvmUsable: true }), 'tcg');
  assert.equal(resolveAccel('kvm', { kvmUsable: true }), 'kvm');
});

test('kvm demanded on a host without it is an error naming the fix', () => {
  assert.throws(
    () => resolveAccel('kvm', { kvmUsable: false }),
    (err) => isVigilError(err, 'VIGIL_INVALID_INPUT') && /accel: auto or tcg/.test(err.message),
  );
});
