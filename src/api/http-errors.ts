/** The one mapping from Vigil's error codes to HTTP: every error leaves the API as `{ error: { code, message } }`. */
import type { ErrorCode } from '../core/errors.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  VIGIL_INVALID_INPUT: 400,
  VIGIL_CONFIG_INVALID: 400,
  VIGIL_AUTH_BODY: 400,
  VIGIL_AUTH_MISSING: 401,
  VIGIL_AUTH_MALFORMED: 401,
  VIGIL_AUTH_EXPIRED: 401,
  VIGIL_AUTH_REPLAY: 401,
  VIGIL_AUTH_BAD_SIGNATURE: 401,
  VIGIL_AUTH_VERSION: 401,
  VIGIL_FORBIDDEN: 403,
  VIGIL_GUARD_REFUSED: 403,
  VIGIL_NOT_FOUND: 404,
  VIGIL_VM_EXISTS: 409,
  VIGIL_VM_STATE: 409,
  VIGIL_SOCKET_IN_USE: 409,
  VIGIL_QMP_UNPLUG_PENDING: 409,
  VIGIL_QMP_UNPLUG_REFUSED: 409,
  VIGIL_QMP_STATE: 409,
  VIGIL_IMAGE_IN_USE: 409,
  VIGIL_SNAPSHOT: 409,
  VIGIL_QEMU_IMG: 502,
  VIGIL_QEMU_MISSING: 503,
  VIGIL_DISK_MISSING: 422,
  VIGIL_RATE_LIMITED: 429,
  VIGIL_QMP_EXECUTE: 502,
  VIGIL_QMP_CONNECT: 502,
  VIGIL_QMP_DISCONNECTED: 502,
  VIGIL_QMP_PROTOCOL: 502,
  VIGIL_QEMU_START: 502,
  VIGIL_QMP_TIMEOUT: 504,
};

/** The HTTP status for an error code (500 for anything not listed: a bug or an internal failure). */
export function httpStatusFor(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}
