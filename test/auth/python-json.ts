/**
 * A stand-in for the seed's Python client in tests: `json.dumps(value)` / `json.dumps(value, sort_keys=True)`
 * with Python's defaults (separators ", " and ": ", ensure_ascii=True) for values built in TypeScript.
 * Written independently of src/auth/canonical-json.ts (code-point iteration, array sort of code points) so the
 * two can check each other; only the float layout is shared, and that is tested against CPython's own output.
 */
import { pythonFloatRepr } from '../../src/auth/python-float.js';

/** A Python float (JavaScript cannot tell 1 from 1.0 otherwise). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** Shorthand for a Python float literal. */
export const pyFloat = (n: number): PyFloat => new PyFloat(n);

/** A value the Python client could hold; a Map keeps insertion order even for integer-like keys. */
export type PyValue = null | boolean | number | bigint | string | PyFloat | PyValue[] | Map<string, PyValue> | { [key: string]: PyValue };

function escapeString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (cp >= 0x20 && cp <= 0x7e) out += ch;
    else if (cp > 0xffff) {
      const v = cp - 0x10000;
      out += `\\u${(0xd800 + (v >> 10)).toString(16)}\\u${(0xdc00 + (v & 0x3ff)).toString(16)}`;
    } else out += `\\u${cp.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}

function byCodePoint(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** Python's `json.dumps(value, sort_keys=sortKeys)` with default separators and ensure_ascii. */
export function pythonJsonDumps(value: PyValue, options: { sortKeys: boolean }): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return pythonFloatRepr(value);
    return Object.is(value, -0) ? '0' : value.toString();
  }
  if (typeof value === 'string') return escapeString(value);
  if (value instanceof PyFloat) return pythonFloatRepr(value.value);
  if (Array.isArray(value)) return `[${value.map((v) => pythonJsonDumps(v, options)).join(', ')}]`;
  let entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  if (options.sortKeys) entries = entries.sort(([a], [b]) => byCodePoint(a, b));
  return `{${entries.map(([k, v]) => `${escapeString(k)}: ${pythonJsonDumps(v, options)}`).join(', ')}}`;
}
