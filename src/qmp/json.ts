/**
 * JSON for QMP. QEMU speaks 64-bit integers (addresses, sizes, counters) that JSON.parse would silently round
 * past 2^53, so lines that may hold such a number are parsed losslessly (unsafe integers become bigint). The
 * common case keeps the fast native parser: a number that large needs at least 16 digits in a row.
 */
import { isInteger, isSafeNumber, parse as losslessParse, stringify as losslessStringify } from 'lossless-json';

const LONG_DIGIT_RUN = /\d{16}/;

function parseNumber(text: string): number | bigint {
  if (isSafeNumber(text)) return Number(text);
  return isInteger(text) ? BigInt(text) : Number(text);
}

/** Parses one QMP line; integers beyond Number.MAX_SAFE_INTEGER come back as bigint. Throws SyntaxError. */
export function parseQmpJson(line: string): unknown {
  if (!LONG_DIGIT_RUN.test(line)) return JSON.parse(line);
  return losslessParse(line, null, parseNumber);
}

function containsBigInt(value: unknown): boolean {
  if (typeof value === 'bigint') return true;
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(containsBigInt);
  return Object.values(value).some(containsBigInt);
}

/** Serialises a QMP message; bigint values are written as plain JSON integers. */
export function stringifyQmpJson(value: unknown): string {
  // JSON.stringify throws on bigint, so try it first: the walk is paid only by messages that carry one.
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (!(err instanceof TypeError) || !containsBigInt(value)) throw err;
  }
  const text = losslessStringify(value);
  if (text === undefined) throw new TypeError('value cannot be serialised as JSON');
  return text;
}
