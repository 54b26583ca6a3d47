/** The shapes shared by the v1 and v2 verifiers: the request as received and the verifier's collaborators. */
import type { TokenBucketLimiter } from './rate-limit.js';
import type { Recoverer } from './recover.js';
import type { ReplayCache } from './replay-cache.js';

/** A request as the HTTP layer received it, before any parsing of its body. */
export interface SignedRequest {
  /** HTTP method (any case). */
  method: string;
  /** The request target exactly as received (Node's `req.url`); anything from the first `?` on is the query. */
  rawPath: string;
  /** Request headers; names are matched case-insensitively. */
  headers: Readonly<Record<string, string | undefined>>;
  /** The raw body: bytes as received (preferred: must be UTF-8 for v1) or already-decoded text. Empty = no body. */
  rawBody: string | Uint8Array;
}

/** What both verifiers need besides the request. */
export interface VerifyOptions {
  /** Server clock, in seconds since the epoch (fractions allowed). */
  now: number;
  /** Accepted clock skew in seconds either way (seed 003 / Vigil default: 300). */
  windowSec: number;
  /** Signature recovery backend (loadRecoverer()). */
  recoverer: Recoverer;
  /** Replay cache, created with the same windowSec. */
  replay: ReplayCache;
  /**
   * Whether a lowercase address belongs to a registered key. v1 carries no signer, so every well-formed
   * signature recovers to *some* address: this is what refuses tampered requests (their recovered address is
   * random), decides between the `""` and `"{}"` readings of an empty body, and keeps garbage out of the
   * replay cache. v2 asks it about X-Signer before spending a recovery.
   */
  isKnownSigner: (address: string) => boolean;
  /** Spend a token of this client (usually rateLimitKey(ip)) just before the recovery. */
  rateLimit?: { limiter: TokenBucketLimiter; key: string };
}

/** A verified request's signer. */
export interface VerifiedSigner {
  /** Lowercase 0x address of the signing key. */
  address: string;
  version: 1 | 2;
}
