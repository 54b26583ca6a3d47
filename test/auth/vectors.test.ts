/**
 * The test vectors and the seed-003 client flow, checked against an independent implementation
 * (ethers signs, we verify; we sign, ethers verifies), on both recovery backends; then every refusal.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { Signature, Wallet, hashMessage, verifyMessage } from 'ethers';
import { pythonJsonDumpsSorted } from '../../src/auth/canonical-json.js';
import { personalMessageHash } from '../../src/auth/eip191.js';
import { addressOfPrivateKey, personalSign, signRequestV1 } from '../../src/auth/sign-request.js';
import { SECP256K1_N, verifyV1 } from '../../src/auth/signature.js';
import type { SignedRequest } from '../../src/auth/types.js';
import { throwsCode } from './assert-code.js';
import { ADDRESS, ADDRESS_LOWER, CREATE_MESSAGE, CREATE_SIG, PRIVATE_KEY, SOME_DATA_SIG, T0, backends, verifyOptions } from './fixtures.js';
import { pyFloat, pythonJsonDumps, type PyValue } from './python-json.js';

const wallet = new Wallet(PRIVATE_KEY);

/** What the seed's Python client does: body in insertion order, data_str sorted, signed with eth_account. */
async function pythonClientRequest(path: string, data: PyValue | undefined, timestamp: number): Promise<SignedRequest> {
  const body = data === undefined ? '' : pythonJsonDumps(data, { sortKeys: false });
  const dataStr = data === undefined ? '' : pythonJsonDumps(data, { sortKeys: true });
  const signed = Signature.from(await wallet.signMessage(`${path}:${timestamp}:${dataStr}`));
  return {
    method: data === undefined ? 'GET' : 'POST',
    rawPath: path,
    headers: {
      'x-signature': signed.serialized.slice(2), // HexBytes.hex() without 0x
      'x-recovery-id': (signed.v - 27).toString(16), // hex(recovery_id)[2:]
      'x-timestamp': String(timestamp),
      'content-type': 'application/json',
    },
    rawBody: Buffer.from(body, 'utf8'),
  };
}

test('personal-sign vectors: "Some data" and the seed-003 create message', async () => {
  assert.equal(addressOfPrivateKey(PRIVATE_KEY), ADDRESS_LOWER);
  assert.equal(wallet.address, ADDRESS);
  assert.equal(personalSign(PRIVATE_KEY, 'Some data').signature, SOME_DATA_SIG);
  assert.equal(await wallet.signMessage('Some data'), SOME_DATA_SIG);
  const create = personalSign(PRIVATE_KEY, CREATE_MESSAGE);
  assert.equal(create.signature, `0x${CREATE_SIG}`);
  assert.equal(create.recid, 1);
  // The `\n` in the vector is JSON text (backslash, n), exactly what json.dumps writes for a newline.
  const data = new Map<string, PyValue>([
    ['name', 'my-vm'],
    ['formfile', 'NAME my-vm\nVCPU 1'],
  ]);
  assert.equal(`/vm/create:1700000000:${pythonJsonDumps(data, { sortKeys: true })}`, CREATE_MESSAGE);
  assert.notEqual(personalSign(PRIVATE_KEY, CREATE_MESSAGE.replace('\\n', '\n')).signature, `0x${CREATE_SIG}`);
  // Our EIP-191 hash is ethers' hashMessage.
  assert.equal(`0x${bytesToHex(personalMessageHash(CREATE_MESSAGE))}`, hashMessage(CREATE_MESSAGE));
});

test('ethers verifies what we sign, for ASCII, unicode and binary messages', () => {
  for (const msg of ['', 'Some data', 'ünïcødé 😀 \u0000 \n', CREATE_MESSAGE, utf8ToBytes('raw \xff bytes'), new Uint8Array([0, 1, 2, 255])]) {
    assert.equal(verifyMessage(msg, personalSign(PRIVATE_KEY, msg).signature), ADDRESS);
  }
});

test('signRequestV1 signs what the Python client signs (same deterministic signature as ethers)', async () => {
  const body = '{"z": 1.0, "a": ["\u00e9", "😀"], "n": 12345678901234567890}';
  const headers = signRequestV1(PRIVATE_KEY, { path: '/vms?ignored=1', body }, T0 + 0.9);
  const dataStr = '{"a": ["\\u00e9", "\\ud83d\\ude00"], "n": 12345678901234567890, "z": 1.0}';
  assert.equal(pythonJsonDumpsSorted(body), dataStr);
  const ethersSig = Signature.from(await wallet.signMessage(`/vms:${T0}:${dataStr}`));
  assert.deepEqual(headers, { 'X-Signature': ethersSig.serialized.slice(2), 'X-Recovery-ID': String(ethersSig.yParity), 'X-Timestamp': String(T0) });
});

for (const recoverer of backends()) {
  describe(`v1 verification (${recoverer.name} backend)`, () => {
    test('the seed vector request verifies (body sent in insertion order, signature with or without 0x)', () => {
      const body = '{"name": "my-vm", "formfile": "NAME my-vm\\nVCPU 1"}';
      for (const sig of [CREATE_SIG, `0x${CREATE_SIG}`, CREATE_SIG.toUpperCase()]) {
        const req: SignedRequest = {
          method: 'POST',
          rawPath: '/vm/create',
          headers: { 'X-Signature': sig, 'X-Recovery-ID': '1', 'X-Timestamp': '1700000000' },
          rawBody: body,
        };
        assert.deepEqual(verifyV1(req, verifyOptions(recoverer, T0 + 10)), { address: ADDRESS_LOWER, version: 1 });
      }
    });

    test('the Python client flow verifies for unicode, floats, big integers, reordered and nested keys', async () => {
      const bodies: PyValue[] = [
        new Map<string, PyValue>([
          ['name', 'my-vm'],
          ['formfile', 'NAME my-vm\nVCPU 1'],
        ]),
        new Map<string, PyValue>([
          ['zeta', 'ünïcødé'],
          ['emoji', '😀 and 🚀'],
          ['\uffff', 'BMP max sorts before astral'],
          ['😀', 'astral key'],
          ['é', 'latin'],
          ['ctrl', '\u0000\u001f\u007f\t\r\n\b\f"\\/'],
        ]),
        new Map<string, PyValue>([
          ['memory', pyFloat(1.0)],
          ['ratio', pyFloat(1.5)],
          ['tiny', pyFloat(1e-5)],
          ['huge', pyFloat(1e16)],
          ['neg0', pyFloat(-0)],
          ['third', pyFloat(1 / 3)],
        ]),
        new Map<string, PyValue>([
          ['big', 123456789012345678901234567890n],
          ['neg', -(2n ** 70n)],
          ['max', 9007199254740993n],
        ]),
        new Map<string, PyValue>([
          ['b', [new Map<string, PyValue>([['y', 1], ['x', [true, false, null]]]), []]],
          ['a', new Map<string, PyValue>([['2', 'two'], ['10', 'ten'], ['1', new Map()]])],
        ]),
        [3, 'top-level array', pyFloat(2.5)],
      ];
      let ts = T0;
      for (const data of bodies) {
        const req = await pythonClientRequest('/vms', data, ++ts);
        assert.equal(pythonJsonDumpsSorted(Buffer.from(req.rawBody).toString()), pythonJsonDumps(data, { sortKeys: true }));
        assert.deepEqual(verifyV1(req, verifyOptions(recoverer, ts)), { address: ADDRESS_LOWER, version: 1 });
      }
    });

    test('a body-less request signs data_str "" and, for existing clients, "{}"', async () => {
      const req = await pythonClientRequest('/vms', undefined, T0);
      assert.equal(verifyV1(req, verifyOptions(recoverer)).address, ADDRESS_LOWER);
      const legacy = { ...req, headers: signRequestV1(PRIVATE_KEY, { path: '/vms', body: '{}' }, T0) };
      assert.equal(verifyV1(legacy, verifyOptions(recoverer)).address, ADDRESS_LOWER);
      // Without a registered signer there is no way to tell the readings apart: refused.
      throwsCode(() => verifyV1(legacy, { ...verifyOptions(recoverer), isKnownSigner: () => false }), 'VIGIL_AUTH_BAD_SIGNATURE', 'unknown-signer');
    });

    test('the query string is not part of the v1 path', () => {
      const headers = signRequestV1(PRIVATE_KEY, { path: '/vms' }, T0);
      const req: SignedRequest = { method: 'GET', rawPath: '/vms?state=running', headers, rawBody: '' };
      assert.equal(verifyV1(req, verifyOptions(recoverer)).address, ADDRESS_LOWER);
    });

    describe('refusals', () => {
      const body = '{"name": "my-vm", "formfile": "NAME my-vm\\nVCPU 1"}';
      const good = (): SignedRequest => ({
        method: 'POST',
        rawPath: '/vm/create',
        headers: { 'x-signature': CREATE_SIG, 'x-recovery-id': '1', 'x-timestamp': '1700000000' },
        rawBody: body,
      });
      const withHeaders = (h: Record<string, string | undefined>): SignedRequest => ({ ...good(), headers: { ...good().headers, ...h } });

      test('missing headers', () => {
        for (const h of ['x-signature', 'x-recovery-id', 'x-timestamp']) {
          throwsCode(() => verifyV1(withHeaders({ [h]: undefined }), verifyOptions(recoverer)), 'VIGIL_AUTH_MISSING');
          throwsCode(() => verifyV1(withHeaders({ [h]: '' }), verifyOptions(recoverer)), 'VIGIL_AUTH_MISSING');
        }
      });

      test('expired and future timestamps (window +-300 s, bounds inclusive)', () => {
        assert.equal(verifyV1(good(), verifyOptions(recoverer, T0 + 300)).address, ADDRESS_LOWER);
        assert.equal(verifyV1(good(), verifyOptions(recoverer, T0 - 300)).address, ADDRESS_LOWER);
        throwsCode(() => verifyV1(good(), verifyOptions(recoverer, T0 + 301)), 'VIGIL_AUTH_EXPIRED');
        throwsCode(() => verifyV1(good(), verifyOptions(recoverer, T0 - 301)), 'VIGIL_AUTH_EXPIRED');
      });

      test('malformed timestamps', () => {
        for (const ts of ['1700000000.5', '-1700000000', '01700000000', '1.7e9', 'now', ' 1700000000', '99999999999999999']) {
          throwsCode(() => verifyV1(withHeaders({ 'x-timestamp': ts }), verifyOptions(recoverer)), 'VIGIL_AUTH_MALFORMED');
        }
      });

      test('replayed', () => {
        const opts = verifyOptions(recoverer);
        verifyV1(good(), opts);
        throwsCode(() => verifyV1(good(), opts), 'VIGIL_AUTH_REPLAY');
        throwsCode(() => verifyV1(withHeaders({ 'x-signature': `0x${CREATE_SIG}` }), opts), 'VIGIL_AUTH_REPLAY');
        // Still refused at the edge of the window; after 2 x window the entry may go, and the timestamp refuses.
        throwsCode(() => verifyV1(good(), { ...opts, now: T0 + 300 }), 'VIGIL_AUTH_REPLAY');
        throwsCode(() => verifyV1(good(), { ...opts, now: T0 + 601 }), 'VIGIL_AUTH_EXPIRED');
      });

      test('tampered body, wrong path, body bytes not UTF-8', () => {
        throwsCode(() => verifyV1({ ...good(), rawBody: body.replace('VCPU 1', 'VCPU 64') }, verifyOptions(recoverer)), 'VIGIL_AUTH_BAD_SIGNATURE', 'unknown-signer');
        throwsCode(() => verifyV1({ ...good(), rawPath: '/vm/delete' }, verifyOptions(recoverer)), 'VIGIL_AUTH_BAD_SIGNATURE', 'unknown-signer');
        throwsCode(() => verifyV1({ ...good(), rawBody: new Uint8Array([0x7b, 0xff, 0x7d]) }, verifyOptions(recoverer)), 'VIGIL_AUTH_BODY', 'utf8');
      });

      test('body that Python could not have produced: invalid JSON, duplicate keys', () => {
        throwsCode(() => verifyV1({ ...good(), rawBody: '{"name": "my-vm",}' }, verifyOptions(recoverer)), 'VIGIL_AUTH_BODY', 'invalid-json');
        throwsCode(() => verifyV1({ ...good(), rawBody: '{"name": "a", "name": "a"}' }, verifyOptions(recoverer)), 'VIGIL_AUTH_BODY', 'duplicate-key');
      });

      test('high s: the mirrored signature (n - s, v flipped) is valid ECDSA but refused', () => {
        const r = CREATE_SIG.slice(0, 64);
        const s = BigInt(`0x${CREATE_SIG.slice(64, 128)}`);
        const highS = (SECP256K1_N - s).toString(16).padStart(64, '0');
        const mirrored = `${r}${highS}1b`; // v 28 -> 27
        // Proof that it is the same signature mirrored: raw recovery gives the same key.
        const hash = personalMessageHash(CREATE_MESSAGE);
        assert.equal(recoverer.recoverAddress(hash, hexToBytes(mirrored.slice(0, 128)), 0), ADDRESS_LOWER);
        throwsCode(() => verifyV1(withHeaders({ 'x-signature': mirrored, 'x-recovery-id': '0' }), verifyOptions(recoverer)), 'VIGIL_AUTH_BAD_SIGNATURE', 'high-s');
      });

      test('64-byte signature, bad hex, bad v, r or s out of range', () => {
        throwsCode(() => verifyV1(withHeaders({ 'x-signature': CREATE_SIG.slice(0, 128) }), verifyOptions(recoverer)), 'VIGIL_AUTH_BAD_SIGNATURE', 'length');
        throwsCode(() => verifyV1(withHeaders({ 'x-signature': `${CREATE_SIG}00` }), verifyOptions(recoverer)), 'VIGIL_AUTH_BAD_SIGNATURE', 'length');
        throwsCode(() => verifyV1(withHeaders({ 'x-signature': `${CREATE_SIG.slice(0, 128)}zz` }), verifyOptions(recoverer)), 'VIGIL_AUTH_MALFORMED');
        throwsCode(() => verifyV1(withHeaders({ 'x-signature': CREATE_SIG.slice(0, 129) }), verifyOptions(recoverer)), 'VIGIL_AUTH_MALFORMED');
        for (const v of ['01', '00', '25', '26', '1d']) {
          throwsCode(() => verifyV1(withHeaders({ 'x-signature': `${CREATE_SIG.slice(0, 128)}${v}` }), verifyOptions(recoverer)), 'VIGIL_AUTH_BAD_SIGNATURE', 'v');
        }
        const zeroR = `${'0'.repeat(64)}${CREATE_SIG.slice(64)}`;
        throwsCode(() => verifyV1(withHeaders({ 'x-signature': zeroR }), verifyOptions(recoverer)), 'VIGIL_AUTH_BAD_SIGNATURE', 'recover');
        const bigR = `${SECP256K1_N.toString(16)}${CREATE_SIG.slice(64)}`;
        throwsCode(() => verifyV1(withHeaders({ 'x-signature': bigR }), verifyOptions(recoverer)), 'VIGIL_AUTH_BAD_SIGNATURE', 'recover');
        // An r that is a valid scalar but no curve point's x: recovery itself fails.
        const noPoint = `${'00'.repeat(31)}05${CREATE_SIG.slice(64)}`;
        throwsCode(() => verifyV1(withHeaders({ 'x-signature': noPoint }), verifyOptions(recoverer)), 'VIGIL_AUTH_BAD_SIGNATURE');
      });

      test('recovery-id mismatch and malformed recovery id', () => {
        throwsCode(() => verifyV1(withHeaders({ 'x-recovery-id': '0' }), verifyOptions(recoverer)), 'VIGIL_AUTH_BAD_SIGNATURE', 'recovery-id');
        for (const id of ['2', '0x1', '01', '27', 'one']) {
          throwsCode(() => verifyV1(withHeaders({ 'x-recovery-id': id }), verifyOptions(recoverer)), 'VIGIL_AUTH_MALFORMED');
        }
      });

      test('sha3-256 (NIST) instead of keccak-256 recovers a stranger', () => {
        const prefixed = utf8ToBytes(`\x19Ethereum Signed Message:\n${CREATE_MESSAGE.length}${CREATE_MESSAGE}`);
        const nist = createHash('sha3-256').update(prefixed).digest();
        assert.notEqual(bytesToHex(nist), bytesToHex(keccak_256(prefixed)));
        const sig = wallet.signingKey.sign(nist);
        const headers = { 'x-signature': sig.serialized, 'x-recovery-id': String(sig.yParity), 'x-timestamp': '1700000000' };
        throwsCode(() => verifyV1({ ...good(), headers }, verifyOptions(recoverer)), 'VIGIL_AUTH_BAD_SIGNATURE', 'unknown-signer');
      });

      test('garbage never reaches the replay cache', () => {
        const opts = verifyOptions(recoverer);
        for (let i = 0; i < 20; i++) {
          const tampered = { ...good(), rawBody: body.replace('VCPU 1"', `VCPU 1${i}"`) };
          throwsCode(() => verifyV1(tampered, opts), 'VIGIL_AUTH_BAD_SIGNATURE');
        }
        assert.equal(opts.replay.size(), 0);
      });
    });
  });
}
