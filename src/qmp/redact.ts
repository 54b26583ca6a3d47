/** Secrets never reach the audit log: argument values under these keys are replaced before anything is stored. */

const SECRET_KEYS = new Set(['password', 'passwd', 'passphrase', 'secret', 'token', 'key', 'private-key', 'keysecret', 'key-secret']);
const SECRET_OBJECT_TYPES = new Set(['secret', 'secret_keyring']);

/** The marker that replaces a secret. */
export const REDACTED = '[redacted]';

function redactValue(value: unknown, secretData: boolean): unknown {
  if (Array.isArray(value)) return value.map((v) => redactValue(v, secretData));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (SECRET_KEYS.has(k.toLowerCase()) || (secretData && k === 'data')) out[k] = REDACTED;
    else out[k] = redactValue(v, secretData);
  }
  return out;
}

/** A deep copy of `args` with secrets (passwords, keys, a secret object's `data`) replaced. */
export function redactArgs(command: string, args: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!args) return {};
  const secretData = command === 'object-add' && typeof args['qom-type'] === 'string' && SECRET_OBJECT_TYPES.has(args['qom-type']);
  return redactValue(args, secretData) as Record<string, unknown>;
}
