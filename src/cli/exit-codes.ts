/** The CLI's exit statuses (documented in docs/CLI.md); scripts can rely on them. */
import type { ErrorCode } from '../core/errors.js';

/** Exit statuses by meaning. */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  CANCELLED: 2,
  BAD_CONFIG: 3,
  REFUSED: 4,
  QMP_ERROR: 5,
  UNREACHABLE: 6,
  AUDIT_TAMPERED: 7,
  NOT_FOUND: 8,
} as const;

/** The exit status for an error code. */
export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'VIGIL_INVALID_INPUT':
    case 'VIGIL_CONFIG_INVALID':
      return EXIT.BAD_CONFIG;
    case 'VIGIL_ABORTED':
      return EXIT.CANCELLED;
    case 'VIGIL_GUARD_REFUSED':
    case 'VIGIL_IMAGE_IN_USE':
      return EXIT.REFUSED;
    case 'VIGIL_QMP_EXECUTE':
    case 'VIGIL_QMP_UNPLUG_REFUSED':
    case 'VIGIL_QMP_UNPLUG_PENDING':
      return EXIT.QMP_ERROR;
    case 'VIGIL_QMP_CONNECT':
    case 'VIGIL_QMP_TIMEOUT':
    case 'VIGIL_QMP_DISCONNECTED':
    case 'VIGIL_QMP_PROTOCOL':
    case 'VIGIL_QMP_FRAME_TOO_LARGE':
    case 'VIGIL_GDB_CONNECT':
    case 'VIGIL_GDB_TIMEOUT':
    case 'VIGIL_GDB_DISCONNECTED':
    case 'VIGIL_GDB_PROTOCOL':
      return EXIT.UNREACHABLE;
    case 'VIGIL_AUDIT_TAMPERED':
      return EXIT.AUDIT_TAMPERED;
    case 'VIGIL_NOT_FOUND':
      return EXIT.NOT_FOUND;
    default:
      return EXIT.FAILURE;
  }
}
