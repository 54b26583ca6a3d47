/**
 * The v1 `data_str`: Python's `json.dumps(json.loads(body), sort_keys=True)` rebuilt from the body text.
 *
 * Seed 003's client signs `json.dumps(data, sort_keys=True)` but sends `json.dumps(data)` (insertion order), so
 * the server must reproduce, byte for byte, what CPython would print for the value the body encodes:
 * - separators `", "` and `": "`; object keys sorted by code point at every level (not by UTF-16 unit, which
 *   is what a plain JavaScript sort does and which orders astral characters before U+E000..U+FFFF);
 * - `ensure_ascii`: everything outside 0x20..0x7E escaped, `\n \r \t \b \f \" \\` short, the rest as lowercase
 *   `\uXXXX` (one escape per UTF-16 unit, which is exactly Python's surrogate-pair output; `/` is not escaped);
 * - integers (no fraction, no exponent) are Python ints: kept digit for digit, `-0` becomes `0`; integers over
 *   4300 digits are refused as CPython >= 3.11 refuses them (int max_str_digits);
 * - other numbers are Python floats printed by `repr` (`1.50` -> `1.5`, `1e5` -> `100000.0`, `1e400` ->
 *   `Infinity`, `-0.0` stays `-0.0`).
 *
 * It is a single pass with no intermediate tree: each value is turned into its canonical text as it is parsed,
 * objects sort their (key, text) pairs. That also lets us refuse every duplicate key (Python would silently keep
 * the last; lossless-json only refuses duplicates whose values differ) and never touch an object prototype.
 * Input must be strict RFC 8259 JSON: Python also accepts `NaN`/`Infinity` literals, but no `requests` client
 * sends them (it serialises with `allow_nan=False`), so they are refused with the other invalid bodies.
 */
import { VigilError } from '../core/errors.js';
import { pythonFloatRepr } from './python-float.js';

/** Deeper nesting than CPython's default recursion limit lets json.dumps produce; also bounds our stack. */
const MAX_DEPTH = 1000;
/** CPython's default `sys.get_int_max_str_digits()`: a longer int cannot be parsed or printed by the client. */
const MAX_INT_DIGITS = 4300;

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/y;
/** A string Python prints as is: printable ASCII without `"` or `\`. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const SHORT_ESCAPES: Record<number, string> = {
  0x22: '\\"',
  0x5c: '\\\\',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
  0x08: '\\b',
  0x0c: '\\f',
};
const JSON_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

function bodyError(reason: string, message: string, position?: number, key?: string): VigilError {
  const context: Record<string, unknown> = { reason };
  if (position !== undefined) context['position'] = position;
  if (key !== undefined) context['key'] = key;
  return new VigilError('VIGIL_AUTH_BODY', message, { context });
}

/** A string as Python's `json.dumps(s)` (ensure_ascii=True) writes it, quotes included. */
export function pythonJsonString(s: string): string {
  if (PLAIN.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) out += s[i];
    else out += SHORT_ESCAPES[c] ?? `\\u${c.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}
function isLow(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** The code point that covers UTF-16 index `k` of `s`, given that `s` and its rival agree before `k`. */
function codePointCovering(s: string, k: number): number {
  if (k > 0 && isHigh(s.charCodeAt(k - 1)) && isLow(s.charCodeAt(k))) return s.codePointAt(k - 1)!;
  return s.codePointAt(k)!;
}

/** Orders strings by Unicode code point, as Python compares str (and therefore as sort_keys sorts). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let k = 0;
  while (k < n && a.charCodeAt(k) === b.charCodeAt(k)) k++;
  if (k === n) return a.length - b.length;
  const ca = a.charCodeAt(k);
  const cb = b.charCodeAt(k);
  // Outside the surrogate range a unit is its own code point; only surrogates need the slower look.
  if (ca < 0xd800 && cb < 0xd800) return ca - cb;
  return codePointCovering(a, k) - codePointCovering(b, k);
}

class Canonicalizer {
  private pos = 0;
  private depth = 0;

  constructor(private readonly text: string) {}

  run(): string {
    this.ws();
    const out = this.value();
    this.ws();
    if (this.pos !== this.text.length) throw this.invalid('unexpected data after the JSON value');
    return out;
  }

  private invalid(what: string): VigilError {
    return bodyError('invalid-json', `the request body is not valid JSON: ${what} at position ${this.pos}`, this.pos);
  }

  private ws(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.pos++;
    }
  }

  private value(): string {
    const c = this.text.charCodeAt(this.pos);
    switch (c) {
      case 0x7b: // {
        return this.object();
      case 0x5b: // [
        return this.array();
      case 0x22: // "
        return this.string().canonical;
      case 0x74: // t
        return this.literal('true');
      case 0x66: // f
        return this.literal('false');
      case 0x6e: // n
        return this.literal('null');
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        throw this.invalid(Number.isNaN(c) ? 'unexpected end of input' : `unexpected character ${JSON.stringify(this.text[this.pos])}`);
    }
  }

  private literal(word: string): string {
    if (!this.text.startsWith(word, this.pos)) throw this.invalid('unknown literal');
    this.pos += word.length;
    return word;
  }

  private number(): string {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (m === null) throw this.invalid('malformed number');
    const [numText, frac, exp] = m;
    this.pos += numText.length;
    if (frac === undefined && exp === undefined) {
      const digits = numText.startsWith('-') ? numText.length - 1 : numText.length;
      if (digits > MAX_INT_DIGITS) {
        throw bodyError('int-too-long', `an integer in the body has ${digits} digits; Python refuses more than ${MAX_INT_DIGITS}`, this.pos);
      }
      return numText === '-0' ? '0' : numText;
    }
    return pythonFloatRepr(Number(numText));
  }

  /** Parses a JSON string at `pos`: its decoded value and its Python-canonical text. */
  private string(): { value: string; canonical: string } {
    const t = this.text;
    const start = this.pos + 1;
    let i = start;
    // Fast path: printable ASCII without escapes is already in Python's form.
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === 0x22) {
        const value = t.slice(start, i);
        this.pos = i + 1;
        return { value, canonical: `"${value}"` };
      }
      // Written so that NaN (past the end) also leaves: the slow path reports the unterminated string.
      if (!(c >= 0x20 && c <= 0x7e) || c === 0x5c) break;
      i++;
    }
    let value = t.slice(start, i);
    for (;;) {
      if (i >= t.length) {
        this.pos = i;
        throw this.invalid('unterminated string');
      }
      const c = t.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) {
        this.pos = i;
        throw this.invalid('control character in a string');
      }
      if (c !== 0x5c) {
        value += t[i];
        i++;
        continue;
      }
      const e = t[i + 1];
      if (e === 'u') {
        const hex = t.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
          this.pos = i;
          throw this.invalid('bad \\u escape');
        }
        // Surrogate halves stay separate UTF-16 units: adjacent ones form the same code point Python combines.
        value += String.fromCharCode(parseInt(hex, 16));
        i += 6;
        continue;
      }
      const decoded = e === undefined ? undefined : JSON_ESCAPES[e];
      if (decoded === undefined) {
        this.pos = i;
        throw this.invalid('bad escape');
      }
      value += decoded;
      i += 2;
    }
    this.pos = i + 1;
    return { value, canonical: pythonJsonString(value) };
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) {
      throw bodyError('too-deep', `the request body nests deeper than ${MAX_DEPTH} levels`, this.pos);
    }
  }

  private array(): string {
    this.enter();
    this.pos++;
    this.ws();
    let out = '[';
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
    } else {
      for (let first = true; ; first = false) {
        out += first ? this.value() : `, ${this.value()}`;
        this.ws();
        const c = this.text.charCodeAt(this.pos++);
        if (c === 0x5d) break;
        if (c !== 0x2c) {
          this.pos--;
          throw this.invalid("expected ',' or ']'");
        }
        this.ws();
      }
    }
    this.depth--;
    return `${out}]`;
  }

  private object(): string {
    this.enter();
    this.pos++;
    this.ws();
    const entries: { key: string; canonicalKey: string; pos: number; text: string }[] = [];
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
    } else {
      for (;;) {
        if (this.text.charCodeAt(this.pos) !== 0x22) throw this.invalid('expected a string key');
        const keyPos = this.pos;
        const key = this.string();
        this.ws();
        if (this.text.charCodeAt(this.pos) !== 0x3a) throw this.invalid("expected ':'");
        this.pos++;
        this.ws();
        entries.push({ key: key.value, canonicalKey: key.canonical, pos: keyPos, text: `${key.canonical}: ${this.value()}` });
        this.ws();
        const c = this.text.charCodeAt(this.pos++);
        if (c === 0x7d) break;
        if (c !== 0x2c) {
          this.pos--;
          throw this.invalid("expected ',' or '}'");
        }
        this.ws();
      }
    }
    this.depth--;
    if (entries.length === 0) return '{}';
    entries.sort((a, b) => compareCodePoints(a.key, b.key));
    // Sorted, equal keys are neighbours: the duplicate check costs one comparison per key.
    let out = `{${entries[0]!.text}`;
    for (let i = 1; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.key === entries[i - 1]!.key) {
        const first = Math.max(e.pos, entries[i - 1]!.pos);
        throw bodyError('duplicate-key', `the request body repeats the key ${e.canonicalKey} in one object`, first, e.key);
      }
      out += `, ${e.text}`;
    }
    return `${out}}`;
  }
}

/** Python's `json.dumps(json.loads(rawBody), sort_keys=True)`; an empty body gives `""`. Throws VIGIL_AUTH_BODY. */
export function pythonJsonDumpsSorted(rawBody: string): string {
  if (rawBody.length === 0) return '';
  return new Canonicalizer(rawBody).run();
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The body as text: bytes must be valid UTF-8 (a BOM is kept, and then refused as invalid JSON). */
export function bodyText(body: string | Uint8Array): string {
  if (typeof body === 'string') return body;
  try {
    return UTF8.decode(body);
  } catch (err) {
    throw new VigilError('VIGIL_AUTH_BODY', 'the request body is not valid UTF-8', { cause: err, context: { reason: 'utf8' } });
  }
}
