import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isVigilError } from '../../core/errors.js';
import { vmDefinitionSchema } from '../definition/schema.js';
import { MAC_PREFIX, randomMac, resolveMacs, stableMac } from './macs.js';

const unicastLocal = (mac: string): boolean => {
  const first = parseInt(mac.slice(0, 2), 16);
  return (first & 0b10) === 0b10 && (first & 1) === 0;
};

test('stable MACs: the same for the same VM and NIC, different otherwise, locally administered unicast', () => {
  const a = stableMac('router', 'wan');
  assert.match(a, /^5a:56(:[0-9a-f]{2}){4}$/);
  assert.equal(a, stableMac('router', 'wan'));
  assert.notEqual(a, stableMac('router', 'lan'));
  assert.notEqual(a, stableMac('router2', 'wan'));
  assert.ok(unicastLocal(a));
  assert.ok(unicastLocal(MAC_PREFIX.map((b) => b.toString(16)).join(':')));
  // Pinned: a MAC that changed between versions would cost every guest its DHCP lease.
  assert.equal(stableMac('web', 'net0'), '5a:56:cd:91:b4:15');
});

test('resolveMacs: fixed as written (lower case), generate from the random source, default stable', () => {
  const def = vmDefinitionSchema.parse({
    name: 'web',
    nics: [{ type: 'user', mac: '52:54:00:AB:CD:EF' }, { type: 'user', mac: 'generate' }, { id: 'lan', type: 'tap', ifname: 'tap0' }],
  });
  let calls = 0;
  const random = (): Buffer => {
    calls += 1;
    return Buffer.from([1, 2, 3, 4, 5, 6]);
  };
  assert.deepEqual(resolveMacs(def, random), { net0: '52:54:00:ab:cd:ef', net1: '5a:56:01:02:03:04', lan: stableMac('web', 'lan') });
  assert.equal(calls, 1);
});

test('a random source with too few bytes is refused', () => {
  assert.throws(() => randomMac(() => Buffer.alloc(3)), (err) => isVigilError(err, 'VIGIL_INVALID_INPUT'));
});
