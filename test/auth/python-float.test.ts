/** pythonFloatRepr against CPython's own output. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pythonFloatRepr } from '../../src/auth/python-float.js';
import { PYTHON_FLOATS } from './python-cases.js';

test('pythonFloatRepr matches CPython for each recorded case', () => {
  for (const [text, python] of PYTHON_FLOATS) assert.equal(pythonFloatRepr(Number(text)), python, text);
  assert.equal(pythonFloatRepr(NaN), 'NaN');
  assert.equal(pythonFloatRepr(-1e-5), '-1e-05');
  assert.equal(pythonFloatRepr(-123.25), '-123.25');
});
