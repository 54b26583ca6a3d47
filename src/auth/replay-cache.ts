/**
 * A bounded in-memory replay cache for signed requests.
 *
 * A signature is accepted only while its timestamp is within +-window of the server clock, so a key must be
 * remembered until that timestamp can no longer pass: at most 2 x window after it was first seen (a timestamp
 * `window` in the future stays acceptable for `2 x window`). After that the timestamp check refuses the replay
 * on its own and the entry can go.
 *
 * Entries are filed in time buckets by expiry, so eviction drops whole buckets whose time has passed: amortised
 * O(1) per entry, no timers, no scan of live entries.
 *
 * When the cache is full of live entries, new signatures are refused with VIGIL_RATE_LIMITED instead of evicting
 * live entries: evicting one would make its request replayable for the rest of its window, so a client able to
 * fill the cache (with valid signatures: only those get in) could flush it and then replay captured requests.
 * Refusing new work fails closed; the flood is an availability problem that rate limiting bounds, not a
 * security hole.
 */
import { VigilError } from '../core/errors.js';

/** Options for a ReplayCache. */
export interface ReplayCacheOptions {
  /** The timestamp window in seconds (entries live for twice this). */
  windowSec: number;
  /** Most live entries held; beyond this, new keys are refused (VIGIL_RATE_LIMITED). Default 200,000. */
  maxEntries?: number;
  /** Width of an eviction bucket in seconds. Default window / 10 (at least 1). */
  bucketSec?: number;
}

/** Remembers accepted request keys for 2 x window and refuses a second use of the same key. */
export class ReplayCache {
  readonly ttlSec: number;
  readonly maxEntries: number;
  private readonly bucketSec: number;
  /** key -> expiry (seconds). */
  private readonly expiries = new Map<string, number>();
  /** bucket index (floor(expiry / bucketSec)) -> keys filed there; Map keeps insertion (= time) order. */
  private readonly buckets = new Map<number, string[]>();

  constructor(options: ReplayCacheOptions) {
    this.ttlSec = 2 * options.windowSec;
    this.maxEntries = options.maxEntries ?? 200_000;
    this.bucketSec = options.bucketSec ?? Math.max(1, options.windowSec / 10);
  }

  /** Live entries (after dropping those expired by `now`, when given). */
  size(now?: number): number {
    if (now !== undefined) this.evict(now);
    return this.expiries.size;
  }

  /** True when `key` was remembered and has not expired by `now`. */
  has(key: string, now: number): boolean {
    const exp = this.expiries.get(key);
    return exp !== undefined && exp > now;
  }

  /** Records `key` as used at `now`; throws VIGIL_AUTH_REPLAY if it is live, VIGIL_RATE_LIMITED if full. */
  remember(key: string, now: number, context: Record<string, unknown> = {}): void {
    this.evict(now);
    if (this.has(key, now)) {
      throw new VigilError('VIGIL_AUTH_REPLAY', 'this signed request was already used; sign a new one (fresh timestamp, or a new nonce in v2)', {
        context,
      });
    }
    if (this.expiries.size >= this.maxEntries) {
      throw new VigilError('VIGIL_RATE_LIMITED', 'the server is accepting too many signed requests right now; retry shortly', {
        context: { scope: 'replay-cache', retryAfterSec: Math.ceil(this.bucketSec) },
      });
    }
    const expiry = now + this.ttlSec;
    this.expiries.set(key, expiry);
    const b = Math.floor(expiry / this.bucketSec);
    const list = this.buckets.get(b);
    if (list) list.push(key);
    else this.buckets.set(b, [key]);
  }

  /** Drops every bucket whose whole time span has passed. */
  private evict(now: number): void {
    for (const [b, keys] of this.buckets) {
      // At most ttl / bucketSec + 1 buckets exist (about 21), so looking at each is cheap and needs no
      // assumption that the clock only moves forward.
      if ((b + 1) * this.bucketSec > now) continue;
      for (const key of keys) {
        const exp = this.expiries.get(key);
        if (exp !== undefined && exp <= now) this.expiries.delete(key);
      }
      this.buckets.delete(b);
    }
  }
}
