/** Both recovery backends on the same signatures, the fallback path, and malformed input. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hexToBytes } from '@noble/hashes/utils.js';
import { Signature, Wallet } from 'ethers';
import { personalMessageHash } from '../../src/auth/eip191.js';
import { jsRecoverer, loadRecoverer } from '../../src/auth/recover.js';
import { throwsCode } from './assert-code.js';
import { ADDRESS_LOWER, CREATE_MESSAGE, CREATE_SIG, backends } from './fixtures.js';

test('native loads here, js on request, fallback reports its reason', () => {
  assert.equal(loadRecoverer().name, 'native');
  let called = false;
  assert.equal(loadRecoverer({ prefer: 'js', onFallback: () => (called = true) }).name, 'js');
  assert.equal(called, false);
  const reasons: string[] = [];
  const r = loadRecoverer({ nativeModule: './no-such-native-binding.node', onFallback: (why) => reasons.push(why) });
  assert.equal(r.name, 'js');
  assert.equal(reasons.length, 1);
  assert.match(reasons[0]!, /pure-JavaScript fallback/);
  assert.equal(r.recoverAddress(personalMessageHash(CREATE_MESSAGE), hexToBytes(CREATE_SIG.slice(0, 128)), 1), ADDRESS_LOWER);
});

test('both backends recover the same addresses for many keys and messages (signed by ethers)', () => {
  const [native, js] = backends();
  for (let i = 0; i < 40; i++) {
    const w = Wallet.createRandom();
    const hash = personalMessageHash(`message ${i} ${'é'.repeat(i)}`);
    const sig = Signature.from(w.signingKey.sign(hash));
    const rs = hexToBytes(sig.r.slice(2) + sig.s.slice(2));
    const expected = w.address.toLowerCase();
    assert.equal(native!.recoverAddress(hash, rs, sig.yParity), expected);
    assert.equal(js!.recoverAddress(hash, rs, sig.yParity), expected);
    // The other recovery id gives another key, the same one on both backends.
    const other = native!.recoverAddress(hash, rs, 1 - sig.yParity);
    assert.notEqual(other, expected);
    assert.equal(js!.recoverAddress(hash, rs, 1 - sig.yParity), other);
  }
});

test('both backends refuse unrecoverable input with VIGIL_AUTH_BAD_SIGNATURE', () => {
  const hash = personalMessageHash('x');
  const good = hexToBytes(CREATE_SIG.slice(0, 128));
  const n = hexToBytes('fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
  for (const r of backends()) {
    throwsCode(() => r.recoverAddress(hash, good.subarray(0, 63), 0), 'VIGIL_AUTH_BAD_SIGNATURE', 'length');
    throwsCode(() => r.recoverAddress(hash.subarray(1), good, 0), 'VIGIL_AUTH_BAD_SIGNATURE', 'length');
    throwsCode(() => r.recoverAddress(hash, good, 2), 'VIGIL_AUTH_BAD_SIGNATURE', 'length');
    throwsCode(() => r.recoverAddress(hash, new Uint8Array(64), 0), 'VIGIL_AUTH_BAD_SIGNATURE', 'recover');
    throwsCode(() => r.recoverAddress(hash, Uint8Array.from([...n, ...good.subarray(32)]), 0), 'VIGIL_AUTH_BAD_SIGNATURE', 'recover');
    throwsCode(() => r.recoverAddress(hash, Uint8Array.from([...good.subarray(0, 32), ...n]), 0), 'VIGIL_AUTH_BAD_SIGNATURE', 'recover');
  }
  assert.equal(jsRecoverer().name, 'js');
});
