/** How the CLI prints: JSON on stdout (bigints as plain integers), errors on stderr without stack traces. */
import { stringify } from 'lossless-json';
import { VigilError, toVigilError } from '../core/errors.js';
import { exitCodeFor } from './exit-codes.js';

/** JSON text of `value`, indented unless `compact`. */
export function toJson(value: unknown, compact = false): string {
  return stringify(value, null, compact ? undefined : 2) ?? 'null';
}

/** Prints `value` as JSON on stdout. */
export function printJson(value: unknown, compact = false): void {
  process.stdout.write(toJson(value, compact) + '\n');
}

/** Parses a JSON-object argument given on the command line; names the argument in the error. */
export function parseJsonArg(text: string | undefined, what: string): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new VigilError('VIGIL_INVALID_INPUT', `${what} is not valid JSON (${(err as Error).message}); write it as a JSON object, e.g. '{"id": "cam0"}'`, {
      cause: err,
      context: { field: what },
    });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new VigilError('VIGIL_INVALID_INPUT', `${what} must be a JSON object, e.g. '{"id": "cam0"}'`, { context: { field: what } });
  }
  return value as Record<string, unknown>;
}

/** Reports an error on stderr and returns the exit status for it. */
export function reportError(err: unknown): number {
  const ve = toVigilError(err);
  process.stderr.write(`vigil: ${ve.message} [${ve.code}]\n`);
  if (process.env.VIGIL_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
  return exitCodeFor(ve.code);
}
