import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES, VigilError, isVigilError, toVigilError } from './errors.js';

test('every error code is documented in docs/ERRORS.md', () => {
  const doc = readFileSync(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8');
  for (const code of Object.keys(ERROR_CODES)) assert.match(doc, new RegExp(`\\| \`${code}\` \\|`), code);
});

test('VigilError keeps code, cause and context; toVigilError wraps foreign errors', () => {
  const cause = new Error('ENOENT');
  const err = new VigilError('VIGIL_QMP_CONNECT', 'no socket', { cause, context: { address: '/x' } });
  assert.equal(err.cause, cause);
  assert.deepEqual(err.toJSON(), { code: 'VIGIL_QMP_CONNECT', message: 'no socket', context: { address: '/x' } });
  assert.ok(isVigilError(err, 'VIGIL_QMP_CONNECT'));
  assert.ok(!isVigilError(err, 'VIGIL_QMP_TIMEOUT'));
  assert.equal(toVigilError(err), err);
  const wrapped = toVigilError(new TypeError('boom'));
  assert.equal(wrapped.code, 'VIGIL_INTERNAL');
  assert.equal(wrapped.message, 'boom');
});
