import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseQmpJson, stringifyQmpJson } from './json.js';

test('integers past 2^53 survive a round trip as bigint', () => {
  const parsed = parseQmpJson('{"return": {"size": 18446744073709551615, "small": 42, "f": 1.5}, "id": "v1"}') as {
    return: { size: unknown; small: unknown; f: unknown };
  };
  assert.equal(parsed.return.size, 18446744073709551615n);
  assert.equal(parsed.return.small, 42);
  assert.equal(parsed.return.f, 1.5);
  assert.equal(stringifyQmpJson({ val: 18446744073709551615n, n: 1 }), '{"val":18446744073709551615,"n":1}');
});

test('ordinary lines take the native parser and give plain numbers', () => {
  assert.deepEqual(parseQmpJson('{"return": {"n": 9007199254740991}}'), { return: { n: 9007199254740991 } });
  assert.equal(stringifyQmpJson({ execute: 'stop', id: 'v1' }), '{"execute":"stop","id":"v1"}');
});

test('garbage is a SyntaxError', () => {
  assert.throws(() => parseQmpJson('{not json'), SyntaxError);
  assert.throws(() => parseQmpJson('{"n": 12345678901234567890'), SyntaxError);
});
