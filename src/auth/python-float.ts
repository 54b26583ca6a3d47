/**
 * Python's `repr(float)` (what `json.dumps` writes for a float), rebuilt on top of JavaScript's number-to-string.
 *
 * Both languages print the shortest digit string that reads back to the same double, choosing the closest one
 * when several qualify, so the digits agree; only the layout differs. CPython (`format_float_short`, mode 'r')
 * switches to exponent notation when the decimal point position `decpt` (value = 0.DIGITS x 10^decpt) is
 * <= -4 or > 16, writes the exponent with a sign and at least two digits (`1e+16`, `1e-05`), and appends `.0`
 * to integral values in positional notation. JavaScript switches at other thresholds (1e21, 1e-7) and writes
 * `1e+21` / `1e-7`, so we take its digits and exponent and lay them out the Python way.
 */

/** Digits without leading/trailing zeros and the decimal point position: |x| = 0.DIGITS x 10^decpt. */
function shortestDigits(abs: number): { digits: string; decpt: number } {
  const text = String(abs);
  const e = text.indexOf('e');
  const mantissa = e === -1 ? text : text.slice(0, e);
  const exponent = e === -1 ? 0 : Number(text.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const intPart = dot === -1 ? mantissa : mantissa.slice(0, dot);
  const fracPart = dot === -1 ? '' : mantissa.slice(dot + 1);
  let digits = intPart + fracPart;
  let decpt = intPart.length + exponent;
  // "0.000123" -> digits "0000123": each leading zero moves the point one place left.
  let lead = 0;
  while (lead < digits.length - 1 && digits[lead] === '0') lead++;
  digits = digits.slice(lead);
  decpt -= lead;
  digits = digits.replace(/0+$/, '');
  return { digits, decpt };
}

/** `repr(x)` as CPython 3 prints a float (and `json.dumps` writes it): `1.0`, `1e+16`, `1e-05`, `Infinity`. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  if (x === 0) return `${sign}0.0`;
  const { digits, decpt } = shortestDigits(Math.abs(x));
  if (decpt <= -4 || decpt > 16) {
    const exp = decpt - 1;
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const expDigits = String(Math.abs(exp)).padStart(2, '0');
    return `${sign}${mant}e${exp < 0 ? '-' : '+'}${expDigits}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}
