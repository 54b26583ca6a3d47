/** The shapes of QMP messages on the wire (QEMU's docs/interop/qmp-spec). */

/** QEMU's version as the greeting and `query-version` report it. */
export interface QmpVersion {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}

/** The first message a QMP server sends. */
export interface QmpGreeting {
  QMP: { version: QmpVersion; capabilities: string[] };
}

/** An asynchronous event. */
export interface QmpEvent<D = Record<string, unknown>> {
  event: string;
  data: D;
  timestamp: { seconds: number; microseconds: number };
}

/** The error object of a failed command. */
export interface QmpErrorBody {
  class: string;
  desc: string;
}

/** Options for one command. */
export interface ExecuteOptions {
  /** Reject with VIGIL_QMP_TIMEOUT after this long (default: the client's `commandTimeoutMs`). */
  timeoutMs?: number;
  /** Cancels the wait (the command may still run in QEMU). */
  signal?: AbortSignal;
  /** Send as `exec-oob` (needs the oob capability and a command that allows it). */
  oob?: boolean;
}

/** Anything that can run a QMP command and wait for events: the raw client or the guard in front of it. */
export interface QmpChannel {
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options?: ExecuteOptions): Promise<T>;
  waitForEvent<D = Record<string, unknown>>(
    name: string,
    predicate?: (event: QmpEvent<D>) => boolean,
    timeoutMs?: number,
    signal?: AbortSignal,
  ): Promise<QmpEvent<D>>;
  onEvent(listener: (event: QmpEvent) => void, names?: readonly string[]): () => void;
}
