/**
 * Per-client token buckets, spent before the expensive signature recovery so one client cannot keep the CPU
 * busy with signatures that will fail (or succeed) anyway.
 *
 * A bucket holds up to `burst` tokens and refills at `ratePerSec`; a request takes one. A client absent from
 * the map has a full bucket, so memory is bounded by evicting the least recently used client when `maxKeys` is
 * reached: the evicted client merely gets a fresh burst, and an attacker with that many addresses defeats any
 * per-address limit anyway. IPv6 clients are keyed by their /64, which is what one host usually owns.
 */

/** Options for a TokenBucketLimiter. */
export interface TokenBucketOptions {
  /** Sustained requests per second per client. */
  ratePerSec: number;
  /** Requests a client may make at once after being idle. */
  burst: number;
  /** Most clients tracked at once (least recently used dropped first). Default 100,000. */
  maxKeys?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** A per-key token bucket limiter; `take(key, now)` says whether one more request may go ahead. */
export class TokenBucketLimiter {
  private readonly ratePerSec: number;
  private readonly burst: number;
  private readonly maxKeys: number;
  private readonly buckets = new Map<string, Bucket>();

  constructor(options: TokenBucketOptions) {
    this.ratePerSec = options.ratePerSec;
    this.burst = options.burst;
    this.maxKeys = options.maxKeys ?? 100_000;
  }

  private refill(key: string, now: number): Bucket {
    const b = this.buckets.get(key);
    if (b === undefined) return { tokens: this.burst, at: now };
    // A clock that steps backwards must not mint tokens, hence the max(0, ...).
    const tokens = Math.min(this.burst, b.tokens + Math.max(0, now - b.at) * this.ratePerSec);
    return { tokens, at: Math.max(now, b.at) };
  }

  /** Takes a token for `key` at `now` (seconds); false when its bucket is empty. */
  take(key: string, now: number): boolean {
    const b = this.refill(key, now);
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    // Delete and re-insert so Map order is least-recently-used first.
    this.buckets.delete(key);
    if (this.buckets.size >= this.maxKeys) {
      const oldest = this.buckets.keys().next();
      if (oldest.done !== true) this.buckets.delete(oldest.value);
    }
    this.buckets.set(key, b);
    return ok;
  }

  /** Seconds until `key` has a token again (0 when it has one now). */
  retryAfterSec(key: string, now: number): number {
    const b = this.refill(key, now);
    return b.tokens >= 1 ? 0 : Math.ceil((1 - b.tokens) / this.ratePerSec);
  }

  /** Clients currently tracked (those with a partly spent bucket). */
  get size(): number {
    return this.buckets.size;
  }
}

function expandIpv6(ip: string): number[] | undefined {
  const halves = ip.split('::');
  if (halves.length > 2) return undefined;
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((h) => (/^[0-9a-f]{1,4}$/i.test(h) ? parseInt(h, 16) : NaN)));
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  return groups.some(Number.isNaN) ? undefined : groups;
}

/** The rate-limit key of a client address: IPv4 as is (also when IPv4-mapped), IPv6 by its /64 prefix. */
export function rateLimitKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!ip.includes(':')) return ip;
  const groups = expandIpv6(ip.replace(/%.*$/, ''));
  if (groups === undefined) return ip;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}
