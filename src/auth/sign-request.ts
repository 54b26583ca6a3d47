/**
 * The client side: personal-sign a message and build v1 / v2 request headers for a private key (the CLI and
 * the tests use these). Signing uses @noble/curves: deterministic RFC 6979 nonces and low-s output, with v
 * written as 27/28, the one form the verifiers accept.
 */
import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { VigilError } from '../core/errors.js';
import { pythonJsonDumpsSorted } from './canonical-json.js';
import { addressFromPublicKey, personalMessageHash } from './eip191.js';
import { splitTarget } from './headers.js';
import { canonicalQuery } from './canonical-query.js';
import { v1Message } from './signature.js';
import { bodySha256, v2Message } from './v2.js';

function privateKeyBytes(privateKeyHex: string): Uint8Array {
  const hex = privateKeyHex.replace(/^0x/i, '');
  const bytes = /^[0-9a-fA-F]{64}$/.test(hex) ? hexToBytes(hex) : undefined;
  if (bytes === undefined || !secp256k1.utils.isValidSecretKey(bytes)) {
    throw new VigilError('VIGIL_INVALID_INPUT', 'a secp256k1 private key is 32 bytes of hex (optionally 0x), between 1 and n-1');
  }
  return bytes;
}

/** The lowercase 0x address of a private key. */
export function addressOfPrivateKey(privateKeyHex: string): string {
  return addressFromPublicKey(secp256k1.getPublicKey(privateKeyBytes(privateKeyHex), false));
}

/** A fresh private key as 0x-prefixed hex (for `vigil key new` and tests). */
export function newPrivateKey(): string {
  return `0x${bytesToHex(secp256k1.utils.randomSecretKey())}`;
}

/** EIP-191 personal-sign: `0x` + r||s||v hex (v 27/28) and the recovery id, as eth_account/ethers produce. */
export function personalSign(privateKeyHex: string, message: string | Uint8Array): { signature: string; recid: 0 | 1 } {
  const rec = secp256k1.sign(personalMessageHash(message), privateKeyBytes(privateKeyHex), { prehash: false, format: 'recovered' });
  // 'recovered' is recid || r || s; recid 2/3 needs r >= p - n, which no real signature hits (~2^-128).
  const recid = rec[0];
  if (recid !== 0 && recid !== 1) throw new VigilError('VIGIL_INTERNAL', `unexpected recovery id ${String(recid)}`);
  return { signature: `0x${bytesToHex(rec.subarray(1))}${(27 + recid).toString(16)}`, recid };
}

/** The request a v1 signature covers: the path (a query is ignored, as the server ignores it) and body text. */
export interface V1RequestToSign {
  path: string;
  /** The exact JSON text that will be sent; omitted or "" for no body. */
  body?: string;
}

/** Seed-003 (v1) headers X-Signature, X-Recovery-ID, X-Timestamp for a request at `now` (seconds). */
export function signRequestV1(privateKeyHex: string, req: V1RequestToSign, now: number): Record<string, string> {
  const timestamp = String(Math.floor(now));
  const dataStr = pythonJsonDumpsSorted(req.body ?? '');
  const { signature, recid } = personalSign(privateKeyHex, v1Message(splitTarget(req.path).path, timestamp, dataStr));
  return { 'X-Signature': signature.slice(2), 'X-Recovery-ID': String(recid), 'X-Timestamp': timestamp };
}

/** The request a v2 signature covers. */
export interface V2RequestToSign {
  method: string;
  /** The server's host:port, as configured there. */
  audience: string;
  /** Path with its query, as it will be sent. */
  path: string;
  /** Raw body bytes or text (sent as UTF-8); omitted for no body. */
  body?: string | Uint8Array;
  /** Defaults to 16 random bytes as base64url. */
  nonce?: string;
}

/** A v2 nonce: 16 random bytes, base64url without padding (22 characters). */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** v2 headers (X-Auth-Version, X-Timestamp, X-Nonce, X-Content-SHA256, X-Signer, X-Signature) at `now`. */
export function signRequestV2(privateKeyHex: string, req: V2RequestToSign, now: number): Record<string, string> {
  const timestamp = String(Math.floor(now));
  const nonce = req.nonce ?? newNonce();
  const { path, query } = splitTarget(req.path);
  const sha = bodySha256(req.body ?? '');
  const text = v2Message({ method: req.method, audience: req.audience, path, query: canonicalQuery(query), timestamp, nonce, bodySha256: sha });
  return {
    'X-Auth-Version': '2',
    'X-Timestamp': timestamp,
    'X-Nonce': nonce,
    'X-Content-SHA256': sha,
    'X-Signer': addressOfPrivateKey(privateKeyHex),
    'X-Signature': personalSign(privateKeyHex, text).signature,
  };
}
