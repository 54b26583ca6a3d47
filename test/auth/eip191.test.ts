/** EIP-191 hashing, addresses and EIP-55 checksums, against published values and ethers. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { SigningKey, getAddress, hashMessage, computeAddress } from 'ethers';
import { addressFromPublicKey, checksumAddress, personalMessageHash } from '../../src/auth/eip191.js';
import { ADDRESS, PRIVATE_KEY } from './fixtures.js';

test('keccak-256 is not NIST SHA3-256', () => {
  assert.equal(bytesToHex(keccak_256(new Uint8Array())), 'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470');
  assert.equal(createHash('sha3-256').update('').digest('hex'), 'a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a');
});

test('personalMessageHash counts bytes, not characters', () => {
  for (const m of ['', 'Some data', 'é', '😀😀', 'x'.repeat(1000), new Uint8Array([0xff, 0])]) {
    assert.equal(`0x${bytesToHex(personalMessageHash(m))}`, hashMessage(m));
  }
});

test('addressFromPublicKey and checksumAddress', () => {
  const key = new SigningKey(PRIVATE_KEY);
  const pub = Buffer.from(key.publicKey.slice(2), 'hex');
  assert.equal(addressFromPublicKey(pub), ADDRESS.toLowerCase());
  assert.equal(addressFromPublicKey(pub.subarray(1)), ADDRESS.toLowerCase());
  assert.equal(computeAddress(key.publicKey).toLowerCase(), ADDRESS.toLowerCase());
  assert.throws(() => addressFromPublicKey(Buffer.from(key.compressedPublicKey.slice(2), 'hex')), /65 bytes/);
  // The examples of EIP-55 itself.
  for (const a of ['0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359', '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB', '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb']) {
    assert.equal(checksumAddress(a.toLowerCase()), a);
    assert.equal(checksumAddress(a.toUpperCase().replace('0X', '0x')), getAddress(a));
  }
  assert.equal(checksumAddress(ADDRESS.toLowerCase()), ADDRESS);
  assert.throws(() => checksumAddress('0x1234'), /not an Ethereum address/);
});
