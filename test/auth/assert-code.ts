/** Asserting that a call fails with a given VigilError code (and reason, when the error names one). */
import assert from 'node:assert/strict';
import { isVigilError, type ErrorCode } from '../../src/core/errors.js';

/** Runs `fn`, which must throw a VigilError with `code` and, when given, `context.reason === reason`. */
export function throwsCode(fn: () => unknown, code: ErrorCode, reason?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isVigilError(err), `expected a VigilError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (reason !== undefined) assert.equal(err.context['reason'], reason, err.message);
    return true;
  });
}
