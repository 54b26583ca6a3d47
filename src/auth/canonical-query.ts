/**
 * The canonical query string signed by v2, so that client and server agree whatever order or escaping the
 * client's HTTP library used: split on `&` (empty parts dropped), each part split at its first `=` (no `=`
 * means an empty value), both halves percent-decoded as UTF-8 (`+` is a literal plus, as in RFC 3986, not a
 * space), re-encoded with RFC 3986 rules (unreserved `A-Z a-z 0-9 - . _ ~` kept, every other byte `%XX` with
 * upper-case hex), sorted by encoded key then encoded value, and joined as `k=v` with `&`.
 */
import { malformed } from './headers.js';

/** RFC 3986 percent-encoding: encodeURIComponent also keeps `! ' ( ) *`, which are reserved there. */
export function rfc3986Encode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Decoded then re-encoded; a bad escape (or a lone surrogate in raw text) is a malformed query. */
function normalise(part: string): string {
  try {
    return rfc3986Encode(decodeURIComponent(part));
  } catch {
    throw malformed('query string', `has a bad percent-encoding (not UTF-8): ${JSON.stringify(part.slice(0, 100))}`);
  }
}

/** The canonical form of a raw query string (without its `?`); `""` when there is none. */
export function canonicalQuery(rawQuery: string): string {
  if (rawQuery === '') return '';
  const pairs: [string, string][] = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = eq === -1 ? part : part.slice(0, eq);
    const v = eq === -1 ? '' : part.slice(eq + 1);
    pairs.push([normalise(k), normalise(v)]);
  }
  // Encoded text is ASCII, so comparing UTF-16 units is comparing bytes.
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}
