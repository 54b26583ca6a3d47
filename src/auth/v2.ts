/**
 * Hardened request signatures (v2, opt-in). v1 signs only path, timestamp and a re-serialised body, so a v1
 * signature also authorises the same request with another method, query or server, and two identical requests
 * in one second are indistinguishable. v2 signs every part that selects what the request does, names its
 * signer up front (a cheap refusal of unknown keys before any recovery) and carries a nonce.
 *
 * Headers: `X-Auth-Version: 2`, `X-Timestamp` (integer seconds), `X-Nonce`, `X-Content-SHA256` (lowercase hex
 * SHA-256 of the raw body bytes; of nothing for no body), `X-Signer` (0x address, any case), `X-Signature` (65
 * bytes r||s||v, v 27/28, low s: the v1 rules). The signed text is the EIP-191 personal message of these lines
 * joined by LF, no trailing LF:
 *
 *     vigil/v2
 *     METHOD            upper case
 *     audience          the server's configured host:port, so a signature for one server is useless at another
 *     /raw/path         as received, without the query
 *     canonical query   see canonical-query.ts; empty line when none
 *     timestamp
 *     nonce
 *     body sha256
 *
 * The nonce is an opaque token of 22 to 128 characters from the base64url alphabet `[A-Za-z0-9_-]`, meant to
 * carry at least 128 random bits: 16+ random bytes as base64url without padding (22+ chars) or as hex. A nonce
 * made only of hex digits must be at least 32 characters (16 bytes), since that is how a hex nonce shorter than
 * 128 bits would look. Replays are refused per (signer, nonce) for twice the timestamp window.
 */
import { createHash } from 'node:crypto';
import { VigilError } from '../core/errors.js';
import { canonicalQuery } from './canonical-query.js';
import { personalMessageHash, ADDRESS_PATTERN } from './eip191.js';
import { checkWindow, malformed, parseTimestamp, requireHeaders, spendToken, splitTarget } from './headers.js';
import { parseSignature } from './signature.js';
import type { SignedRequest, VerifiedSigner, VerifyOptions } from './types.js';

/** Options for verifyV2: the shared ones plus this server's audience. */
export interface VerifyV2Options extends VerifyOptions {
  /** The host:port clients sign for (the server's configured listen address or public name). */
  audience: string;
}

/** The parts of a request that v2 signs. */
export interface V2Parts {
  method: string;
  audience: string;
  path: string;
  query: string;
  timestamp: string;
  nonce: string;
  bodySha256: string;
}

const NONCE = /^[A-Za-z0-9_-]{22,128}$/;
const HEX_ONLY = /^[0-9a-fA-F]+$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

function hasSpaceOrControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Checks X-Nonce against the format above; throws VIGIL_AUTH_MALFORMED. */
export function checkNonce(nonce: string): void {
  if (!NONCE.test(nonce) || (HEX_ONLY.test(nonce) && nonce.length < 32)) {
    throw malformed('X-Nonce', 'must be 16+ random bytes as base64url (22-128 chars of A-Z a-z 0-9 _ -) or hex (32+ digits)');
  }
}

/** Lowercase hex SHA-256 of the raw body (bytes as received; text is taken as UTF-8). */
export function bodySha256(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

/** The LF-separated v2 signed text. */
export function v2Message(p: V2Parts): string {
  return ['vigil/v2', p.method.toUpperCase(), p.audience, p.path, p.query, p.timestamp, p.nonce, p.bodySha256].join('\n');
}

/** Verifies a v2 signed request; returns the signer or throws a VIGIL_AUTH_* / VIGIL_RATE_LIMITED error. */
export function verifyV2(req: SignedRequest, opts: VerifyV2Options): VerifiedSigner & { version: 2 } {
  const [version, tsText, nonce, shaText, signerText, sigText] = requireHeaders(req.headers, [
    'X-Auth-Version',
    'X-Timestamp',
    'X-Nonce',
    'X-Content-SHA256',
    'X-Signer',
    'X-Signature',
  ] as const);
  if (version !== '2') {
    throw new VigilError('VIGIL_AUTH_VERSION', `X-Auth-Version ${JSON.stringify(version)} is not supported here (use 2)`, {
      context: { version, required: 2 },
    });
  }
  const sig = parseSignature(sigText);
  const ts = parseTimestamp(tsText);
  checkNonce(nonce);
  if (!SHA256_HEX.test(shaText)) throw malformed('X-Content-SHA256', 'must be 64 lowercase hex digits');
  if (!ADDRESS_PATTERN.test(signerText)) throw malformed('X-Signer', 'must be a 0x-prefixed 20-byte hex address');
  const signer = signerText.toLowerCase();
  checkWindow(ts, opts);
  const { path, query } = splitTarget(req.rawPath);
  // HTTP never delivers these in a path; refusing them keeps each signed line unambiguous.
  if (hasSpaceOrControl(path)) throw malformed('request path', 'contains whitespace or control characters');
  const canonical = canonicalQuery(query);
  if (bodySha256(req.rawBody) !== shaText) {
    throw new VigilError('VIGIL_AUTH_BODY', 'X-Content-SHA256 does not match the body received', { context: { reason: 'sha256-mismatch' } });
  }
  if (!opts.isKnownSigner(signer)) {
    throw new VigilError('VIGIL_AUTH_BAD_SIGNATURE', `X-Signer ${signer} is not a registered key`, {
      context: { reason: 'unknown-signer', signer },
    });
  }
  spendToken(opts);
  const text = v2Message({ method: req.method, audience: opts.audience, path, query: canonical, timestamp: tsText, nonce, bodySha256: shaText });
  const recovered = opts.recoverer.recoverAddress(personalMessageHash(text), sig.rs, sig.recid);
  if (recovered !== signer) {
    throw new VigilError(
      'VIGIL_AUTH_BAD_SIGNATURE',
      'the signature was not made by X-Signer over this request (check method, audience, path, canonical query, nonce, body hash)',
      { context: { reason: 'signer-mismatch', signer, recovered } },
    );
  }
  opts.replay.remember(`v2:${signer}:${nonce}`, opts.now, { version: 2, signer });
  return { address: signer, version: 2 };
}
