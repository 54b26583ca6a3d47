/** Reading and checking the authentication headers shared by v1 and v2. */
import { VigilError } from '../core/errors.js';
import type { SignedRequest, VerifyOptions } from './types.js';

/** A header's value by case-insensitive name (Node lowercases names; hand-built maps may not). */
export function headerValue(headers: SignedRequest['headers'], name: string): string | undefined {
  const lower = name.toLowerCase();
  const direct = headers[lower] ?? headers[name];
  if (direct !== undefined) return direct;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** The values of `names`, in order; throws VIGIL_AUTH_MISSING naming every absent (or empty) one. */
export function requireHeaders<const N extends readonly string[]>(headers: SignedRequest['headers'], names: N): { [K in keyof N]: string } {
  const values = names.map((n) => headerValue(headers, n));
  const missing = names.filter((_, i) => values[i] === undefined || values[i] === '');
  if (missing.length > 0) {
    throw new VigilError('VIGIL_AUTH_MISSING', `signed request lacks ${missing.join(', ')}`, { context: { header: missing[0] } });
  }
  return values as { [K in keyof N]: string };
}

/** A malformed-header error naming the header and what it should look like. */
export function malformed(header: string, reason: string): VigilError {
  return new VigilError('VIGIL_AUTH_MALFORMED', `${header} ${reason}`, { context: { header, reason } });
}

const TIMESTAMP = /^(?:0|[1-9]\d{0,15})$/;

/** X-Timestamp as integer seconds: plain decimal, no sign, no leading zeros (so one text per instant). */
export function parseTimestamp(text: string): number {
  const ts = TIMESTAMP.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(ts)) throw malformed('X-Timestamp', 'must be integer Unix seconds (decimal, no leading zeros)');
  return ts;
}

/** Refuses a timestamp more than windowSec away from now, either way. */
export function checkWindow(ts: number, opts: Pick<VerifyOptions, 'now' | 'windowSec'>): void {
  const skew = ts - opts.now;
  if (Math.abs(skew) <= opts.windowSec) return;
  const where = skew < 0 ? `${Math.round(-skew)} s in the past` : `${Math.round(skew)} s in the future`;
  throw new VigilError('VIGIL_AUTH_EXPIRED', `X-Timestamp is ${where}; the server accepts +-${opts.windowSec} s (check the client clock)`, {
    context: { timestamp: ts, now: opts.now, windowSec: opts.windowSec },
  });
}

/** Splits a raw request target into its path and its raw query (without the `?`; fragments never reach us). */
export function splitTarget(rawPath: string): { path: string; query: string } {
  const q = rawPath.indexOf('?');
  return q === -1 ? { path: rawPath, query: '' } : { path: rawPath.slice(0, q), query: rawPath.slice(q + 1) };
}

/** Spends a rate-limit token if the verifier was given a limiter; throws VIGIL_RATE_LIMITED when empty. */
export function spendToken(opts: VerifyOptions): void {
  if (opts.rateLimit === undefined) return;
  const { limiter, key } = opts.rateLimit;
  if (limiter.take(key, opts.now)) return;
  throw new VigilError('VIGIL_RATE_LIMITED', 'too many signed requests from this client; slow down', {
    context: { scope: 'ip', retryAfterSec: limiter.retryAfterSec(key, opts.now) },
  });
}
