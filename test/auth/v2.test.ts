/** v2 signatures: canonical query, the signed text, ethers as the client, and each refusal. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { Wallet } from 'ethers';
import { canonicalQuery, rfc3986Encode } from '../../src/auth/canonical-query.js';
import { addressOfPrivateKey, newNonce, newPrivateKey, signRequestV1, signRequestV2 } from '../../src/auth/sign-request.js';
import type { SignedRequest } from '../../src/auth/types.js';
import { bodySha256, checkNonce, v2Message, verifyV2 } from '../../src/auth/v2.js';
import { verifyRequest } from '../../src/auth/verify.js';
import { throwsCode } from './assert-code.js';
import { ADDRESS_LOWER, PRIVATE_KEY, T0, backends, verifyOptions } from './fixtures.js';

const AUDIENCE = '127.0.0.1:3003';
const NONCE = 'q2Vx0n3Wm1mF3sYyPb0B9w';
const BODY = '{"name": "web", "memory": "1G"}';

test('canonical query: decode, RFC 3986 re-encode, sort by key then value', () => {
  assert.equal(canonicalQuery(''), '');
  assert.equal(canonicalQuery('b=2&a=1'), 'a=1&b=2');
  assert.equal(canonicalQuery('a=2&a=1&a=10'), 'a=1&a=10&a=2');
  assert.equal(canonicalQuery('flag&x=&&y'), 'flag=&x=&y=');
  assert.equal(canonicalQuery('q=a+b&r=a%20b&s=%7e~%2D'), 'q=a%2Bb&r=a%20b&s=~~-');
  assert.equal(canonicalQuery('k=%E2%9C%93&%c3%a9=x'), '%C3%A9=x&k=%E2%9C%93');
  assert.equal(canonicalQuery("e=!'()*"), 'e=%21%27%28%29%2A');
  assert.equal(canonicalQuery('a=b=c'), 'a=b%3Dc');
  assert.equal(canonicalQuery('B=1&a=1&_=1&~=1&-=1'), '-=1&B=1&_=1&a=1&~=1'); // byte order
  throwsCode(() => canonicalQuery('a=%zz'), 'VIGIL_AUTH_MALFORMED');
  throwsCode(() => canonicalQuery('a=%ed%a0%80'), 'VIGIL_AUTH_MALFORMED');
  throwsCode(() => canonicalQuery('a=%'), 'VIGIL_AUTH_MALFORMED');
  assert.equal(rfc3986Encode('a b/ü'), 'a%20b%2F%C3%BC');
});

test('nonce format: 22-128 base64url chars; hex-only needs 32+', () => {
  for (const ok of [NONCE, 'a'.repeat(22).replace(/a$/, 'z'), '0123456789abcdef0123456789abcdef', 'A-_'.repeat(30)]) checkNonce(ok);
  for (const bad of ['', 'short', '0123456789abcdef0123456789abcde', 'has space in it here yes', 'x'.repeat(129), 'abc+/=abc+/=abc+/=abc+/=', 'é'.repeat(30)]) {
    throwsCode(() => checkNonce(bad), 'VIGIL_AUTH_MALFORMED');
  }
});

test('fresh nonces and keys are well-formed', () => {
  const nonces = new Set(Array.from({ length: 100 }, () => newNonce()));
  assert.equal(nonces.size, 100);
  for (const n of nonces) checkNonce(n);
  const key = newPrivateKey();
  assert.match(key, /^0x[0-9a-f]{64}$/);
  assert.equal(addressOfPrivateKey(key), new Wallet(key).address.toLowerCase());
  assert.throws(() => addressOfPrivateKey('0x' + '0'.repeat(64)), /private key/);
  assert.throws(() => addressOfPrivateKey('1234'), /private key/);
});

test('the signed text is exactly the documented lines', () => {
  const text = v2Message({ method: 'post', audience: AUDIENCE, path: '/vms/web/start', query: 'a=1', timestamp: '1700000000', nonce: NONCE, bodySha256: bodySha256('') });
  assert.equal(
    text,
    `vigil/v2\nPOST\n127.0.0.1:3003\n/vms/web/start\na=1\n1700000000\n${NONCE}\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855`,
  );
  assert.equal(bodySha256(Buffer.from(BODY)), createHash('sha256').update(BODY).digest('hex'));
});

for (const recoverer of backends()) {
  describe(`v2 verification (${recoverer.name} backend)`, () => {
    const signed = (over: Partial<{ method: string; path: string; body: string; nonce: string; audience: string }> = {}): SignedRequest => {
      const method = over.method ?? 'POST';
      const path = over.path ?? '/vms/web/start?force=1&b=2';
      const body = over.body ?? BODY;
      return {
        method,
        rawPath: path,
        headers: signRequestV2(PRIVATE_KEY, { method, audience: over.audience ?? AUDIENCE, path, body, nonce: over.nonce ?? NONCE }, T0),
        rawBody: Buffer.from(body),
      };
    };
    const opts = (now = T0) => ({ ...verifyOptions(recoverer, now), audience: AUDIENCE });

    test('our signer and ethers (signMessage over the documented text) both verify', async () => {
      assert.deepEqual(verifyV2(signed(), opts()), { address: ADDRESS_LOWER, version: 2 });
      const wallet = new Wallet(PRIVATE_KEY);
      const text = v2Message({ method: 'GET', audience: AUDIENCE, path: '/vms', query: canonicalQuery('state=running&all'), timestamp: String(T0), nonce: NONCE, bodySha256: bodySha256('') });
      const req: SignedRequest = {
        method: 'GET',
        rawPath: '/vms?state=running&all',
        headers: {
          'X-Auth-Version': '2',
          'X-Timestamp': String(T0),
          'X-Nonce': NONCE,
          'X-Content-SHA256': bodySha256(''),
          'X-Signer': wallet.address, // checksummed: any case is accepted
          'X-Signature': await wallet.signMessage(text),
        },
        rawBody: '',
      };
      assert.deepEqual(verifyV2(req, opts()), { address: ADDRESS_LOWER, version: 2 });
      // The query may arrive in another order or escaping: same canonical form, same signature.
      assert.equal(verifyV2({ ...req, rawPath: '/vms?all=&state=runn%69ng' }, { ...opts(), replay: verifyOptions(recoverer).replay }).address, ADDRESS_LOWER);
    });

    test('the same request with a new nonce is fine; the same nonce is a replay', () => {
      const o = opts();
      verifyV2(signed(), o);
      verifyV2(signed({ nonce: 'another-nonce-of-22-chars' }), o);
      throwsCode(() => verifyV2(signed(), o), 'VIGIL_AUTH_REPLAY');
      // Even re-signed over another path: the nonce is spent for this signer.
      throwsCode(() => verifyV2(signed({ path: '/vms/db/start' }), o), 'VIGIL_AUTH_REPLAY');
    });

    test('every signed part is bound: method, audience, path, query, body, timestamp', () => {
      const base = signed();
      const bad = (req: SignedRequest) => throwsCode(() => verifyV2(req, opts()), 'VIGIL_AUTH_BAD_SIGNATURE', 'signer-mismatch');
      bad({ ...base, method: 'DELETE' });
      bad({ ...base, rawPath: '/vms/db/start?force=1&b=2' });
      bad({ ...base, rawPath: '/vms/web/start?force=0&b=2' });
      bad({ ...base, rawPath: '/vms/web/start' });
      throwsCode(() => verifyV2(base, { ...opts(), audience: 'vigil.example:443' }), 'VIGIL_AUTH_BAD_SIGNATURE', 'signer-mismatch');
      bad({ ...base, headers: { ...base.headers, 'X-Timestamp': String(T0 + 1) } });
      bad({ ...base, headers: { ...base.headers, 'X-Nonce': 'another-nonce-of-22-chars' } });
      // A body change is caught by the hash before any recovery; a re-hashed one by the signature.
      throwsCode(() => verifyV2({ ...base, rawBody: '{"name": "evil"}' }, opts()), 'VIGIL_AUTH_BODY', 'sha256-mismatch');
      bad({ ...base, rawBody: '{"name": "evil"}', headers: { ...base.headers, 'X-Content-SHA256': bodySha256('{"name": "evil"}') } });
    });

    test('refusals before recovery: missing, version, malformed, window, unknown signer', () => {
      const base = signed();
      const h = (x: Record<string, string | undefined>): SignedRequest => ({ ...base, headers: { ...base.headers, ...x } });
      for (const name of ['X-Auth-Version', 'X-Timestamp', 'X-Nonce', 'X-Content-SHA256', 'X-Signer', 'X-Signature']) {
        throwsCode(() => verifyV2(h({ [name]: undefined }), opts()), 'VIGIL_AUTH_MISSING');
      }
      throwsCode(() => verifyV2(h({ 'X-Auth-Version': '3' }), opts()), 'VIGIL_AUTH_VERSION');
      throwsCode(() => verifyV2(h({ 'X-Nonce': 'abc' }), opts()), 'VIGIL_AUTH_MALFORMED');
      throwsCode(() => verifyV2(h({ 'X-Content-SHA256': bodySha256(BODY).toUpperCase() }), opts()), 'VIGIL_AUTH_MALFORMED');
      throwsCode(() => verifyV2(h({ 'X-Signer': ADDRESS_LOWER.slice(2) }), opts()), 'VIGIL_AUTH_MALFORMED');
      throwsCode(() => verifyV2(h({ 'X-Signature': base.headers['X-Signature']!.slice(0, 130) }), opts()), 'VIGIL_AUTH_BAD_SIGNATURE', 'length');
      throwsCode(() => verifyV2(base, opts(T0 + 301)), 'VIGIL_AUTH_EXPIRED');
      throwsCode(() => verifyV2(base, opts(T0 - 301)), 'VIGIL_AUTH_EXPIRED');
      const o = { ...opts(), isKnownSigner: () => false };
      throwsCode(() => verifyV2(base, o), 'VIGIL_AUTH_BAD_SIGNATURE', 'unknown-signer');
      assert.equal(o.replay.size(), 0);
      // Claiming another registered signer does not help.
      const other = Wallet.createRandom().address;
      throwsCode(() => verifyV2(h({ 'X-Signer': other }), { ...opts(), isKnownSigner: () => true }), 'VIGIL_AUTH_BAD_SIGNATURE', 'signer-mismatch');
      throwsCode(() => verifyV2({ ...base, rawPath: '/vms/a b' }, opts()), 'VIGIL_AUTH_MALFORMED');
    });

    test('verifyRequest dispatches on X-Auth-Version and enforces requireV2', () => {
      const v1: SignedRequest = { method: 'GET', rawPath: '/vms', headers: signRequestV1(PRIVATE_KEY, { path: '/vms' }, T0), rawBody: '' };
      assert.equal(verifyRequest(v1, opts()).version, 1);
      assert.equal(verifyRequest(signed(), opts()).version, 2);
      throwsCode(() => verifyRequest(v1, { ...opts(), requireV2: true }), 'VIGIL_AUTH_VERSION');
      const { audience: _unused, ...noV2 } = opts();
      throwsCode(() => verifyRequest(signed(), noV2), 'VIGIL_AUTH_VERSION');
      throwsCode(() => verifyRequest({ ...v1, headers: { ...v1.headers, 'x-auth-version': '1' } }, opts()), 'VIGIL_AUTH_VERSION');
    });
  });
}
