/**
 * data_str canonicalisation: recorded CPython cases, refusals, code-point ordering, and (when python3 is on
 * PATH) a differential run against CPython itself on thousands of random bodies and doubles.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { bodyText, compareCodePoints, pythonJsonDumpsSorted, pythonJsonString } from '../../src/auth/canonical-json.js';
import { pythonFloatRepr } from '../../src/auth/python-float.js';
import { throwsCode } from './assert-code.js';
import { PYTHON_BODIES } from './python-cases.js';
import { pyFloat, pythonJsonDumps, type PyValue } from './python-json.js';

test('recorded CPython outputs', () => {
  for (const [body, python] of PYTHON_BODIES) assert.equal(pythonJsonDumpsSorted(body), python, body);
});

test('empty body is ""; the test helper and the canonicaliser agree', () => {
  assert.equal(pythonJsonDumpsSorted(''), '');
  const value = new Map<string, PyValue>([
    ['z', [pyFloat(1), 2, 3n ** 50n, 'ä😀\u0001']],
    ['\u{10000}', null],
    ['\uffff', true],
    ['a', new Map<string, PyValue>([['y', pyFloat(-0)], ['x', pyFloat(1e-7)]])],
  ]);
  const sent = pythonJsonDumps(value, { sortKeys: false });
  assert.equal(pythonJsonDumpsSorted(sent), pythonJsonDumps(value, { sortKeys: true }));
  assert.equal(pythonJsonDumps(value, { sortKeys: true }).indexOf('"\\uffff"') < pythonJsonDumps(value, { sortKeys: true }).indexOf('"\\ud800\\udc00"'), true);
});

test('refusals: invalid JSON, duplicates, depth, oversized ints, literals Python would print but requests never sends', () => {
  const invalid = [
    ' ',
    '{',
    '{"a" 1}',
    '{"a": 1,}',
    '[1,]',
    '[1 2]',
    "{'a': 1}",
    '{a: 1}',
    '01',
    '1.',
    '.5',
    '-',
    '+1',
    '1e',
    '0x10',
    'NaN',
    'Infinity',
    '-Infinity',
    'tru',
    'nul',
    '"unterminated',
    '"bad \\x escape"',
    '"bad \\u12g4"',
    '"raw \n newline"',
    '"raw \t tab"',
    '\ufeff{}',
    '{} {}',
    '[] x',
  ];
  for (const body of invalid) throwsCode(() => pythonJsonDumpsSorted(body), 'VIGIL_AUTH_BODY', 'invalid-json');
  throwsCode(() => pythonJsonDumpsSorted('{"a": 1, "b": 2, "a": 1}'), 'VIGIL_AUTH_BODY', 'duplicate-key');
  throwsCode(() => pythonJsonDumpsSorted('{"a": {"x": 1, "x": 2}}'), 'VIGIL_AUTH_BODY', 'duplicate-key');
  // Same key spelled two ways is still the same key.
  throwsCode(() => pythonJsonDumpsSorted('{"é": 1, "\\u00e9": 2}'), 'VIGIL_AUTH_BODY', 'duplicate-key');
  assert.equal(pythonJsonDumpsSorted(`${'['.repeat(1000)}${']'.repeat(1000)}`).length, 2000);
  throwsCode(() => pythonJsonDumpsSorted(`${'['.repeat(1001)}${']'.repeat(1001)}`), 'VIGIL_AUTH_BODY', 'too-deep');
  throwsCode(() => pythonJsonDumpsSorted('['.repeat(100_000)), 'VIGIL_AUTH_BODY', 'too-deep');
  assert.equal(pythonJsonDumpsSorted(`-${'9'.repeat(4300)}`).length, 4301);
  throwsCode(() => pythonJsonDumpsSorted('1'.repeat(4301)), 'VIGIL_AUTH_BODY', 'int-too-long');
  // Prototype keys are plain keys.
  assert.equal(pythonJsonDumpsSorted('{"__proto__": {"polluted": 1}, "constructor": 2}'), '{"__proto__": {"polluted": 1}, "constructor": 2}');
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});

test('bodyText decodes UTF-8 strictly', () => {
  assert.equal(bodyText(Buffer.from('{"é": "😀"}')), '{"é": "😀"}');
  throwsCode(() => bodyText(new Uint8Array([0x22, 0xc3, 0x22])), 'VIGIL_AUTH_BODY', 'utf8');
  throwsCode(() => bodyText(new Uint8Array([0xed, 0xa0, 0x80])), 'VIGIL_AUTH_BODY', 'utf8'); // encoded surrogate
  throwsCode(() => pythonJsonDumpsSorted(bodyText(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]))), 'VIGIL_AUTH_BODY', 'invalid-json'); // BOM
});

test('compareCodePoints orders as Python str does (astral after U+FFFF, lone surrogates by value)', () => {
  const keys = ['\u{1f600}', '\uffff', '\ue000', '\ud800', '\ud800x', '\udc00', 'a', '', 'ab', '\u{10000}', '\u{10ffff}', '\ud7ff'];
  const byCodePoints = (s: string): number[] => {
    const out: number[] = [];
    for (let i = 0; i < s.length; i++) {
      const cp = s.codePointAt(i)!;
      out.push(cp);
      if (cp > 0xffff) i++;
    }
    return out;
  };
  const reference = [...keys].sort((a, b) => {
    const x = byCodePoints(a);
    const y = byCodePoints(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
    return x.length - y.length;
  });
  assert.deepEqual([...keys].sort(compareCodePoints), reference);
  assert.deepEqual(reference.slice(0, 4), ['', 'a', 'ab', '\ud7ff']);
  assert.ok(compareCodePoints('\uffff', '\u{1f600}') < 0);
  assert.ok(compareCodePoints('\ud83dA', '\u{1f600}') < 0); // lone high surrogate (0xd83d) < astral
  assert.ok(compareCodePoints('\ud83d\ue000', '\u{1f600}') < 0);
});

test('pythonJsonString escapes like ensure_ascii', () => {
  assert.equal(pythonJsonString('a/b"c\\d\u007f\u0080\u{1f600}\n'), '"a/b\\"c\\\\d\\u007f\\u0080\\ud83d\\ude00\\n"');
});

// ---- differential run against CPython ----

function python(): boolean {
  return spawnSync('python3', ['-c', 'import json'], { stdio: 'ignore' }).status === 0;
}

/** A small deterministic PRNG (mulberry32) so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CHAR_POOL = ['a', 'b', 'Z', '0', ' ', '/', '"', '\\', '\n', '\t', '\u0000', '\u001f', '\u007f', 'é', 'ß', '中', '\u2028', '\uffff', '\ue000', '😀', '🚀', '\u{10000}', '\u{10ffff}'];

function randomDouble(r: () => number): number {
  const buf = new DataView(new ArrayBuffer(8));
  for (;;) {
    for (let i = 0; i < 8; i++) buf.setUint8(i, Math.floor(r() * 256));
    const x = buf.getFloat64(0);
    if (Number.isFinite(x)) return x;
  }
}

function randomNumberText(r: () => number): string {
  const pick = r();
  if (pick < 0.2) return String(Math.floor((r() - 0.5) * 2000));
  if (pick < 0.3) return `${r() < 0.5 ? '-' : ''}${'123456789'[Math.floor(r() * 9)]}${Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 10)).join('')}`;
  const x = r() < 0.5 ? randomDouble(r) : (r() - 0.5) * 10 ** Math.floor(r() * 40 - 20);
  const forms = [String(x), x.toExponential(), x.toPrecision(1 + Math.floor(r() * 21)), x.toExponential(Math.floor(r() * 20))];
  let t = forms[Math.floor(r() * forms.length)]!;
  if (!t.includes('.') && !t.includes('e')) t += '.0';
  if (r() < 0.2) t = t.replace('e+', 'E');
  return t.replace(/e\+/, r() < 0.5 ? 'e' : 'e+');
}

function randomStringText(r: () => number): string {
  let out = '"';
  const n = Math.floor(r() * 8);
  for (let i = 0; i < n; i++) {
    const ch = CHAR_POOL[Math.floor(r() * CHAR_POOL.length)]!;
    const raw = JSON.stringify(ch).slice(1, -1);
    if (r() < 0.4) {
      // Escape every UTF-16 unit, with random hex case.
      for (let k = 0; k < ch.length; k++) {
        const hex = ch.charCodeAt(k).toString(16).padStart(4, '0');
        out += `\\u${r() < 0.5 ? hex : hex.toUpperCase()}`;
      }
    } else out += ch === '/' && r() < 0.5 ? '\\/' : raw;
  }
  if (r() < 0.05) out += '\\ud800'; // a lone surrogate, valid for Python
  return `${out}"`;
}

function ws(r: () => number): string {
  return r() < 0.7 ? '' : [' ', '\n', '\t', '\r', '  '][Math.floor(r() * 5)]!;
}

function randomJson(r: () => number, depth: number): string {
  const pick = r();
  if (depth < 4 && pick < 0.25) {
    const keys = new Set<string>();
    const parts: string[] = [];
    const n = Math.floor(r() * 6);
    for (let i = 0; i < n; i++) {
      const key = randomStringText(r);
      const decoded = JSON.parse(key) as string;
      if (keys.has(decoded)) continue;
      keys.add(decoded);
      parts.push(`${ws(r)}${key}${ws(r)}:${ws(r)}${randomJson(r, depth + 1)}${ws(r)}`);
    }
    return `{${parts.join(',')}${parts.length === 0 ? ws(r) : ''}}`;
  }
  if (depth < 4 && pick < 0.4) {
    const n = Math.floor(r() * 5);
    return `[${Array.from({ length: n }, () => `${ws(r)}${randomJson(r, depth + 1)}${ws(r)}`).join(',')}]`;
  }
  if (pick < 0.65) return randomNumberText(r);
  if (pick < 0.9) return randomStringText(r);
  return ['true', 'false', 'null'][Math.floor(r() * 3)]!;
}

const PY_SCRIPT = `
import json, sys
req = json.load(sys.stdin)
out = {"bodies": [], "floats": []}
for b in req["bodies"]:
    try:
        out["bodies"].append(json.dumps(json.loads(b), sort_keys=True))
    except ValueError as e:
        out["bodies"].append("ERROR")
out["floats"] = [json.dumps(float(t)) for t in req["floats"]]
json.dump(out, sys.stdout)
`;

test('differential: CPython json.dumps(json.loads(body), sort_keys=True) on random bodies and doubles', { skip: !python() && 'python3 not found' }, () => {
  const r = rng(0x5eed);
  const bodies = Array.from({ length: 3000 }, () => `${ws(r)}${randomJson(r, 0)}${ws(r)}`);
  const floats = Array.from({ length: 20000 }, () => randomNumberText(r)).filter((t) => /[.eE]/.test(t));
  const res = spawnSync('python3', ['-c', PY_SCRIPT], { input: JSON.stringify({ bodies, floats }), encoding: 'utf8', maxBuffer: 256 << 20 });
  assert.equal(res.status, 0, res.stderr);
  const out = JSON.parse(res.stdout) as { bodies: string[]; floats: string[] };
  let compared = 0;
  for (let i = 0; i < bodies.length; i++) {
    const expected = out.bodies[i]!;
    assert.notEqual(expected, 'ERROR', `python refused generated body ${JSON.stringify(bodies[i])}`);
    assert.equal(pythonJsonDumpsSorted(bodies[i]!), expected, `body ${JSON.stringify(bodies[i])}`);
    compared++;
  }
  for (let i = 0; i < floats.length; i++) assert.equal(pythonFloatRepr(Number(floats[i])), out.floats[i], `float ${floats[i]}`);
  assert.equal(compared, 3000);
});
