/**
 * The one error root of Vigil. Callers match on `code`, never on message text; the table of codes with their
 * meaning lives in docs/ERRORS.md and a test keeps the two in step.
 */

/** Every stable error code Vigil raises, with the one-line meaning shown in docs/ERRORS.md. */
export const ERROR_CODES = {
  VIGIL_INTERNAL: 'An unexpected internal failure (a bug); the cause says more.',
  VIGIL_INVALID_INPUT: 'Input (an argument, a file, a request body) failed validation; the message names the field and the fix.',
  VIGIL_NOT_FOUND: 'The named thing (VM, socket, file, audit row) does not exist.',
  VIGIL_ABORTED: 'The operation was cancelled through its AbortSignal.',
  VIGIL_CONFIG_INVALID: 'A configuration file could not be read or failed validation.',
  VIGIL_QMP_CONNECT: 'Could not connect to a QMP socket, or the greeting/capabilities negotiation failed.',
  VIGIL_QMP_EXECUTE: 'QEMU answered a command with an error (see qmpClass, qmpDesc and the command sent).',
  VIGIL_QMP_TIMEOUT: 'A QMP command, greeting or awaited event did not arrive within its deadline.',
  VIGIL_QMP_DISCONNECTED: 'The QMP connection closed (or was not open) while a call was pending.',
  VIGIL_QMP_PROTOCOL: 'The QMP peer sent something the protocol does not allow (garbage, an id-less error, a bad greeting).',
  VIGIL_QMP_FRAME_TOO_LARGE: 'A QMP message exceeded the line limit (16 MiB by default) and the connection was dropped.',
  VIGIL_QMP_STATE: 'The QMP client was asked to do something its current state does not allow.',
  VIGIL_QMP_UNPLUG_PENDING: 'A removal of this device is already in flight; wait for it or its timeout.',
  VIGIL_QMP_UNPLUG_REFUSED: 'The guest reported DEVICE_UNPLUG_GUEST_ERROR: it refused to release the device.',
  VIGIL_GUARD_REFUSED: 'The QMP guard refused a command (dangerous, or unknown to this QEMU); the message says how to allow it.',
  VIGIL_AUDIT_TAMPERED: 'The audit log hash chain does not verify: a row was changed, removed or inserted.',
  VIGIL_STORE: 'The SQLite store failed (open, migration or query).',
  VIGIL_VM_EXISTS: 'A VM with this name is already defined; pick another name or use apply to change it.',
  VIGIL_VM_STATE: 'The VM is not in a state that allows this (already running, not running, busy starting or stopping).',
  VIGIL_QEMU_MISSING: 'The QEMU binary was not found; install qemu-system-x86 or set qemu.binary in config.yaml.',
  VIGIL_QEMU_START: 'QEMU refused to start the VM; its own error message is included.',
  VIGIL_SOCKET_IN_USE: "A VM's socket path is already in use by a live process.",
  VIGIL_HOST_NET: "The host network setup a NIC needs (a bridge port's VLAN, a VF's MAC and VLAN, a macvtap's VLAN) is missing or failed; the message says what to fix.",
  VIGIL_VMI_BTF: "The guest kernel's BTF type information is missing, malformed or lacks a needed type; supply the kernel's BTF or vmlinux.",
  VIGIL_VMI_KERNEL: 'The guest kernel could not be identified in memory (no VMCOREINFO, a DTB or task list that does not hold together); the message says what to supply.',
  VIGIL_DISK_MISSING: 'A disk image, kernel, initrd or firmware file named in the definition does not exist.',
  VIGIL_DAEMON: 'vigild could not start (another instance runs, or its directories are unusable).',
  VIGIL_GUEST_BUILD: 'The test guest (kernel + initramfs) could not be built from Debian packages.',
  VIGIL_GUEST_BOOT: 'The test guest did not start or did not print its ready line in time.',
  VIGIL_AUTH_MISSING: 'A signed request lacks a required header (X-Signature, X-Recovery-ID, X-Timestamp; v2: X-Nonce, X-Signer, ...).',
  VIGIL_AUTH_MALFORMED: 'An authentication header is present but not in its required format (the message names the header).',
  VIGIL_AUTH_EXPIRED: "X-Timestamp is outside the server's window (too old or in the future); check the client's clock.",
  VIGIL_AUTH_REPLAY: 'This signed request (v1: same signer and message; v2: same signer and nonce) was already accepted.',
  VIGIL_AUTH_BAD_SIGNATURE: 'The signature does not verify: wrong length, bad v, high s, recovery-id mismatch, or an unknown/mismatched signer.',
  VIGIL_AUTH_BODY: 'The body cannot be authenticated: not canonicalizable JSON (invalid, duplicate keys) or X-Content-SHA256 mismatch.',
  VIGIL_AUTH_VERSION: 'The request uses a signature version this server does not accept (unknown X-Auth-Version, or v2 required).',
  VIGIL_GDB_CONNECT: 'Could not connect to a gdbstub socket, or it did not answer (QEMU serves one debugger at a time: is another attached?).',
  VIGIL_GDB_TIMEOUT: 'A gdbstub reply (or an awaited stop) did not arrive within its deadline.',
  VIGIL_GDB_DISCONNECTED: 'The gdbstub connection closed (or was not open) while a call was pending.',
  VIGIL_GDB_PROTOCOL: 'The gdbstub sent something the remote protocol does not allow (bad checksum after retries, oversize or malformed packet).',
  VIGIL_GDB_ERROR: 'The gdbstub answered a request with an error reply (Exx); the request and the code are in the context.',
  VIGIL_GDB_UNSUPPORTED: 'The gdbstub does not offer a feature this call needs (a packet, a register, a breakpoint kind).',
  VIGIL_GDB_STATE: 'The gdbstub client was asked to do something its state does not allow (e.g. read registers while the guest runs).',
  VIGIL_FORBIDDEN: "The caller's role does not allow this (the message names the role needed).",
  VIGIL_VMI_HOLE: 'A guest-physical address is not backed by guest RAM (a hole such as the PCI window); the message names the address.',
  VIGIL_VMI_PAGE_FAULT: 'A guest-virtual address does not translate under the given DTB (a non-present or non-canonical entry); the message names the level.',
  VIGIL_VMI_BACKEND: 'The guest-memory backend cannot do this (no RAM file, no ptrace rights, read-only backend, short read).',
  VIGIL_DEVICE_BLOCKED: 'A host device plugged while the kill switch was engaged is blocked; Vigil attaches it to no VM until it is unblocked.',
  VIGIL_QEMU_IMG: 'qemu-img failed or is missing (install qemu-utils); its own error message is included.',
  VIGIL_IMAGE_IN_USE: 'A running VM uses this image (as a disk, a backing file or a snapshot overlay); stop the VM first.',
  VIGIL_SNAPSHOT: 'A snapshot could not be taken, restored, listed or deleted (no qcow2 disk, unknown name, or the QEMU job failed).',
  VIGIL_RATE_LIMITED: 'Too many requests from this client (or the replay cache is full); retry after the delay given.',
} as const;

/** A stable Vigil error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Context fields attached to an error: small, serialisable facts (ids, paths, commands). */
export type ErrorContext = Record<string, unknown>;

/** The root of every error Vigil throws on purpose. */
export class VigilError extends Error {
  override readonly name: string = 'VigilError';
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; context?: ErrorContext } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = options.context ?? {};
  }

  /** A plain object for JSON output (CLI `--json`, API error bodies, logs). */
  toJSON(): { code: ErrorCode; message: string; context?: ErrorContext } {
    return Object.keys(this.context).length > 0
      ? { code: this.code, message: this.message, context: this.context }
      : { code: this.code, message: this.message };
  }
}

/** True when `err` is a VigilError, optionally with the given code. */
export function isVigilError(err: unknown, code?: ErrorCode): err is VigilError {
  return err instanceof VigilError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a VigilError, keeping VigilErrors as they are. */
export function toVigilError(err: unknown, code: ErrorCode = 'VIGIL_INTERNAL'): VigilError {
  if (err instanceof VigilError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new VigilError(code, message, { cause: err });
}
