/**
 * Seed 003's request signatures (v1): `X-Signature`, `X-Recovery-ID`, `X-Timestamp` over the EIP-191 personal
 * message `"{path}:{timestamp}:{data_str}"`, where data_str is Python's `json.dumps(body, sort_keys=True)`.
 *
 * The signature encoding is held to one form so that a signed request has exactly one valid header value:
 * 65 bytes r || s || v, hex with or without `0x`, v 27 or 28 (what eth_account, ethers and viem produce for a
 * personal message; 0/1 and EIP-155 values are refused), s in the lower half of the order (the other half is
 * the same signature mirrored, and accepting it would let anyone mint a second valid header for a request).
 * X-Recovery-ID is seed 003's separate copy of v - 27 (`"0"` or `"1"`) and must agree with v.
 *
 * Checks run cheapest first: header presence and format, timestamp window, body canonicalisation, rate-limit
 * token, recovery (the only costly step), known signer, and last the replay cache, so only requests with a
 * valid signature of a registered key can occupy it.
 */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { VigilError } from '../core/errors.js';
import { bodyText, pythonJsonDumpsSorted } from './canonical-json.js';
import { personalMessageHash } from './eip191.js';
import { checkWindow, malformed, parseTimestamp, requireHeaders, spendToken, splitTarget } from './headers.js';
import type { SignedRequest, VerifiedSigner, VerifyOptions } from './types.js';

/** Order of the secp256k1 group. */
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = SECP256K1_N >> 1n;

/** A parsed 65-byte signature: r||s for recovery and the recovery id carried by v. */
export interface ParsedSignature {
  rs: Uint8Array;
  recid: 0 | 1;
  v: 27 | 28;
}

function badSignature(reason: string, message: string): VigilError {
  return new VigilError('VIGIL_AUTH_BAD_SIGNATURE', message, { context: { reason } });
}

/** Parses X-Signature: 65 bytes r||s||v as hex (optional 0x), v 27/28, 1 <= r < n, 1 <= s <= n/2. */
export function parseSignature(text: string): ParsedSignature {
  const hex = text.startsWith('0x') || text.startsWith('0X') ? text.slice(2) : text;
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length % 2 !== 0) throw malformed('X-Signature', 'must be hex (with or without 0x)');
  if (hex.length !== 130) {
    throw badSignature('length', `X-Signature must be 65 bytes (r || s || v), got ${hex.length / 2}`);
  }
  const bytes = hexToBytes(hex);
  const v = bytes[64]!;
  if (v !== 27 && v !== 28) throw badSignature('v', `the signature's v byte must be 27 or 28, got ${v}`);
  const r = BigInt(`0x${hex.slice(0, 64)}`);
  const s = BigInt(`0x${hex.slice(64, 128)}`);
  if (r === 0n || r >= SECP256K1_N || s === 0n) throw badSignature('recover', 'the signature has r or s out of range');
  if (s > HALF_N) throw badSignature('high-s', 'the signature has a high s value (s > n/2); sign with a library that normalises to low s');
  return { rs: bytes.subarray(0, 64), recid: v === 27 ? 0 : 1, v };
}

/** Parses X-Recovery-ID (`"0"` or `"1"`, as seed 003's `hex(v - 27)[2:]` writes it) and checks it against v. */
export function checkRecoveryId(text: string, sig: ParsedSignature): void {
  if (text !== '0' && text !== '1') throw malformed('X-Recovery-ID', 'must be 0 or 1');
  if (Number(text) !== sig.recid) {
    throw badSignature('recovery-id', `X-Recovery-ID ${text} does not match the signature's v ${sig.v} (expected ${sig.recid})`);
  }
}

/** The v1 signed text: `"{path}:{timestamp}:{data_str}"`. */
export function v1Message(path: string, timestamp: string, dataStr: string): string {
  return `${path}:${timestamp}:${dataStr}`;
}

/** The data_str readings v1 accepts for a body: its canonical JSON, or for no body `""` then `"{}"`. */
export function v1DataStrings(rawBody: string | Uint8Array): string[] {
  const canonical = pythonJsonDumpsSorted(bodyText(rawBody));
  // Existing clients sign json.dumps({}) for body-less requests; "" comes first as the documented form.
  return canonical === '' ? ['', '{}'] : [canonical];
}

/** Verifies a seed-003 (v1) signed request; returns the signer or throws a VIGIL_AUTH_* / VIGIL_RATE_LIMITED error. */
export function verifyV1(req: SignedRequest, opts: VerifyOptions): VerifiedSigner & { version: 1 } {
  const [sigText, recidText, tsText] = requireHeaders(req.headers, ['X-Signature', 'X-Recovery-ID', 'X-Timestamp'] as const);
  const sig = parseSignature(sigText);
  checkRecoveryId(recidText, sig);
  const ts = parseTimestamp(tsText);
  checkWindow(ts, opts);
  const { path } = splitTarget(req.rawPath);
  const candidates = v1DataStrings(req.rawBody);
  spendToken(opts);
  for (const dataStr of candidates) {
    const hash = personalMessageHash(v1Message(path, tsText, dataStr));
    const address = opts.recoverer.recoverAddress(hash, sig.rs, sig.recid);
    if (!opts.isKnownSigner(address)) continue;
    opts.replay.remember(`v1:${address}:${bytesToHex(hash)}`, opts.now, { version: 1, signer: address });
    return { address, version: 1 };
  }
  throw new VigilError(
    'VIGIL_AUTH_BAD_SIGNATURE',
    'the signature does not verify for any registered key: check the path (no query), the timestamp, data_str (json.dumps(body, sort_keys=True)) and keccak-256 hashing',
    { context: { reason: 'unknown-signer' } },
  );
}
