/**
 * QMP client: one connection to one QEMU monitor. Explicit run state (idle -> connecting -> running ->
 * disconnecting -> idle), replies matched by id, events routed apart, and no call ever left hanging: a closed
 * socket, a protocol violation, a timeout or an abort each settles every affected promise with a typed error.
 */
import { createConnection, type Socket } from 'node:net';
import { VigilError, type ErrorCode } from '../core/errors.js';
import { rootLogger, type Logger } from '../core/log.js';
import { formatQmpAddress, type QmpAddress } from './address.js';
import { EventHub, type EventStreamOptions } from './event-hub.js';
import { DEFAULT_MAX_LINE_BYTES, LineFramer } from './framer.js';
import { parseQmpJson, stringifyQmpJson } from './json.js';
import type { ExecuteOptions, QmpChannel, QmpErrorBody, QmpEvent, QmpGreeting } from './types.js';

/** The connection's life cycle; methods check it before acting. */
export type QmpRunState = 'idle' | 'connecting' | 'running' | 'disconnecting';

/** Reconnection after an unexpected close: exponential backoff from `initialDelayMs` up to `maxDelayMs`. */
export interface ReconnectOptions {
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Give up after this many failed attempts in a row (default: never). */
  maxAttempts?: number;
}

/** Client settings; every field has a default. */
export interface QmpClientOptions {
  /** Deadline for connect + greeting + capabilities negotiation (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Default deadline of a command (default 30000 ms). */
  commandTimeoutMs?: number;
  /** Longest accepted message (default 16 MiB). */
  maxLineBytes?: number;
  logger?: Logger;
  /** Reconnect after an unexpected close (off by default). */
  reconnect?: ReconnectOptions | false;
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: VigilError) => void;
  timer: NodeJS.Timeout;
  cleanup?: () => void;
}

interface Handshake {
  resolve: (greeting: QmpGreeting) => void;
  reject: (err: VigilError) => void;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isGreeting(msg: Record<string, unknown>): msg is Record<string, unknown> & QmpGreeting {
  const qmp = msg.QMP;
  return isRecord(qmp) && isRecord(qmp.version) && Array.isArray(qmp.capabilities);
}

/** A QMP connection. Create, `connect()`, `execute()`, `close()`. */
export class QmpClient implements QmpChannel {
  private socket: Socket | undefined;
  private framer: LineFramer;
  private readonly pending = new Map<string, Pending>();
  private readonly hub: EventHub;
  private handshake: Handshake | undefined;
  private seq = 0;
  private runState: QmpRunState = 'idle';
  private stateListeners = new Set<(state: QmpRunState) => void>();
  private closeReason: VigilError | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAttempts = 0;
  private reconnecting = false;
  private address: QmpAddress | undefined;
  private readonly log: Logger;
  private readonly opts: Required<Omit<QmpClientOptions, 'logger' | 'reconnect'>> & { reconnect: ReconnectOptions | false };
  /** The greeting of the current (or last) connection. */
  greeting: QmpGreeting | undefined;
  /** Whether out-of-band execution was negotiated. */
  oobEnabled = false;

  constructor(options: QmpClientOptions = {}) {
    this.opts = {
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      commandTimeoutMs: options.commandTimeoutMs ?? 30000,
      maxLineBytes: options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
      reconnect: options.reconnect ?? false,
    };
    this.log = (options.logger ?? rootLogger()).child({ mod: 'qmp' });
    this.framer = new LineFramer(this.opts.maxLineBytes);
    this.hub = new EventHub(this.log);
  }

  /** The current run state. */
  get state(): QmpRunState {
    return this.runState;
  }

  /** Calls `listener` on every state change; returns the unsubscribe function. */
  onStateChange(listener: (state: QmpRunState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /**
   * Connects, reads the greeting and negotiates capabilities (oob when offered). On any failure the client is
   * back to idle with the socket closed.
   */
  async connect(address: QmpAddress, options: { signal?: AbortSignal } = {}): Promise<QmpGreeting> {
    if (this.runState !== 'idle') {
      throw new VigilError('VIGIL_QMP_STATE', `cannot connect: the QMP client is ${this.runState}`, {
        context: { state: this.runState },
      });
    }
    this.address = address;
    this.closeReason = undefined;
    this.setState('connecting');
    const where = formatQmpAddress(address);
    const deadline = setTimeout(() => {
      this.abortConnect(
        new VigilError('VIGIL_QMP_TIMEOUT', `no QMP greeting from ${where} within ${this.opts.connectTimeoutMs} ms`, {
          context: { address: where, phase: 'greeting', timeoutMs: this.opts.connectTimeoutMs },
        }),
      );
    }, this.opts.connectTimeoutMs);
    const onAbort = (): void => this.abortConnect(new VigilError('VIGIL_ABORTED', `connect to ${where} was aborted`));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const greeting = await new Promise<QmpGreeting>((resolve, reject) => {
        this.handshake = { resolve, reject };
        this.openSocket(address, where);
      });
      this.greeting = greeting;
      const offered = greeting.QMP.capabilities;
      const enable = offered.includes('oob') ? ['oob'] : [];
      await this.send('qmp_capabilities', enable.length > 0 ? { enable } : undefined, {
        timeoutMs: this.opts.connectTimeoutMs,
      });
      this.oobEnabled = enable.includes('oob');
      this.reconnectAttempts = 0;
      this.setState('running');
      return greeting;
    } catch (err) {
      const failure =
        err instanceof VigilError && err.code !== 'VIGIL_QMP_DISCONNECTED'
          ? err
          : new VigilError('VIGIL_QMP_CONNECT', `QMP handshake with ${where} failed`, { cause: err, context: { address: where } });
      this.rollback(failure);
      throw failure;
    } finally {
      clearTimeout(deadline);
      options.signal?.removeEventListener('abort', onAbort);
      this.handshake = undefined;
    }
  }

  /** Runs a command and resolves with its `return` value; rejects with a typed VigilError. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options: ExecuteOptions = {}): Promise<T> {
    if (this.runState !== 'running') {
      return Promise.reject(
        new VigilError('VIGIL_QMP_DISCONNECTED', `cannot run '${command}': the QMP client is ${this.runState}, not connected`, {
          context: { command, state: this.runState },
          cause: this.closeReason,
        }),
      );
    }
    if (options.oob && !this.oobEnabled) {
      return Promise.reject(
        new VigilError('VIGIL_QMP_STATE', `cannot run '${command}' out-of-band: this QEMU did not offer the oob capability`, {
          context: { command },
        }),
      );
    }
    return this.send(command, args, options) as Promise<T>;
  }

  /** Subscribes to events (all, or only `names`); returns the unsubscribe function. */
  onEvent(listener: (event: QmpEvent) => void, names?: readonly string[]): () => void {
    return this.hub.subscribe(listener, names);
  }

  /** Events as an async iterator with a bounded queue; ends on close() or when `signal` aborts. */
  events(options: EventStreamOptions = {}): AsyncIterableIterator<QmpEvent> {
    return this.hub.stream(options);
  }

  /**
   * Resolves with the first event called `name` that satisfies `predicate`, or rejects with VIGIL_QMP_TIMEOUT
   * (or VIGIL_QMP_DISCONNECTED when the connection drops). Subscribe before sending the command that causes it.
   */
  waitForEvent<D = Record<string, unknown>>(
    name: string,
    predicate?: (event: QmpEvent<D>) => boolean,
    timeoutMs: number = this.opts.commandTimeoutMs,
    signal?: AbortSignal,
  ): Promise<QmpEvent<D>> {
    if (this.runState !== 'running') {
      return Promise.reject(
        new VigilError('VIGIL_QMP_DISCONNECTED', `cannot wait for ${name}: the QMP client is ${this.runState}`, {
          context: { event: name, state: this.runState },
        }),
      );
    }
    return this.hub.waitFor(name, predicate, timeoutMs, signal);
  }

  /** Closes the connection (and stops reconnecting); pending calls are rejected with VIGIL_QMP_DISCONNECTED. */
  async close(): Promise<void> {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.opts.reconnect = false;
    this.reconnecting = false;
    const socket = this.socket;
    if (!socket || this.runState === 'idle') {
      this.hub.end();
      return;
    }
    this.setState('disconnecting');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => socket.destroy(), 1000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
    this.hub.end();
  }

  private openSocket(address: QmpAddress, where: string): void {
    this.framer = new LineFramer(this.opts.maxLineBytes);
    const socket = 'path' in address ? createConnection({ path: address.path }) : createConnection(address);
    this.socket = socket;
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const code: ErrorCode = this.runState === 'connecting' ? 'VIGIL_QMP_CONNECT' : 'VIGIL_QMP_DISCONNECTED';
      const hint = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? ' (is QEMU running with this -qmp socket?)' : '';
      this.closeReason ??= new VigilError(code, `QMP socket ${where}: ${err.message}${hint}`, {
        cause: err,
        context: { address: where, errno: err.code },
      });
    });
    socket.on('close', () => this.onClose(socket, where));
  }

  /** A failed connect leaves nothing behind: socket gone, calls rejected, state idle at once. */
  private rollback(err: VigilError): void {
    const socket = this.socket;
    this.socket = undefined;
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(err);
    socket?.destroy();
    this.setState('idle');
    if (!this.reconnecting) this.hub.end();
  }

  private abortConnect(err: VigilError): void {
    this.closeReason ??= err;
    this.handshake?.reject(err);
    this.socket?.destroy();
  }

  private send(command: string, args: Record<string, unknown> | undefined, options: ExecuteOptions): Promise<unknown> {
    const socket = this.socket;
    const id = `v${++this.seq}`;
    const message: Record<string, unknown> = { [options.oob ? 'exec-oob' : 'execute']: command, id };
    if (args !== undefined) message.arguments = args;
    const timeoutMs = options.timeoutMs ?? this.opts.commandTimeoutMs;
    return new Promise((resolve, reject) => {
      if (options.signal?.aborted) {
        reject(new VigilError('VIGIL_ABORTED', `'${command}' was aborted before it was sent`, { context: { command } }));
        return;
      }
      const timer = setTimeout(() => {
        this.settle(id);
        reject(
          new VigilError('VIGIL_QMP_TIMEOUT', `QMP command '${command}' got no reply within ${timeoutMs} ms`, {
            context: { command, id, timeoutMs },
          }),
        );
      }, timeoutMs);
      const entry: Pending = { command, resolve, reject, timer };
      const signal = options.signal;
      if (signal) {
        const onAbort = (): void => {
          this.settle(id);
          reject(new VigilError('VIGIL_ABORTED', `'${command}' was aborted (QEMU may still run it)`, { context: { command, id } }));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        entry.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      this.pending.set(id, entry);
      socket?.write(stringifyQmpJson(message) + '\n');
    });
  }

  /** Removes a pending call and its timers; returns it if it was still there. */
  private settle(id: string): Pending | undefined {
    const entry = this.pending.get(id);
    if (!entry) return undefined;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    entry.cleanup?.();
    return entry;
  }

  private onData(chunk: Buffer): void {
    let lines: string[];
    try {
      lines = this.framer.push(chunk);
    } catch (err) {
      this.protocolFailure(err as VigilError);
      return;
    }
    for (const line of lines) {
      if (!this.socket || this.socket.destroyed) return;
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    let msg: unknown;
    try {
      msg = parseQmpJson(line);
    } catch (err) {
      this.protocolFailure(
        new VigilError('VIGIL_QMP_PROTOCOL', `QMP peer sent a line that is not JSON: ${line.slice(0, 120)}`, { cause: err }),
      );
      return;
    }
    if (!isRecord(msg)) {
      this.protocolFailure(new VigilError('VIGIL_QMP_PROTOCOL', `QMP peer sent a non-object message: ${line.slice(0, 120)}`));
      return;
    }
    if (typeof msg.event === 'string') {
      this.hub.dispatch(msg as unknown as QmpEvent);
      return;
    }
    if ('return' in msg || 'error' in msg) {
      this.onReply(msg);
      return;
    }
    if (isGreeting(msg) && this.handshake) {
      this.handshake.resolve(msg);
      return;
    }
    this.protocolFailure(new VigilError('VIGIL_QMP_PROTOCOL', `QMP peer sent an unexpected message: ${line.slice(0, 120)}`));
  }

  private onReply(msg: Record<string, unknown>): void {
    const id = msg.id;
    if (id === undefined) {
      // QEMU only omits the id when it could not parse what it was sent, so it cannot be tied to one call.
      const body = msg.error as QmpErrorBody | undefined;
      this.protocolFailure(
        new VigilError('VIGIL_QMP_PROTOCOL', `QMP peer sent a reply without an id: ${body?.desc ?? 'no description'}`, {
          context: { qmpClass: body?.class, qmpDesc: body?.desc },
        }),
      );
      return;
    }
    const entry = typeof id === 'string' ? this.settle(id) : undefined;
    if (!entry) {
      this.log.warn({ id }, 'dropping QMP reply with an unknown id (timed out or aborted earlier?)');
      return;
    }
    if ('error' in msg) {
      const body = (isRecord(msg.error) ? msg.error : {}) as Partial<QmpErrorBody>;
      entry.reject(
        new VigilError('VIGIL_QMP_EXECUTE', `QMP command '${entry.command}' failed: ${body.desc ?? 'no description'} (${body.class ?? 'no class'})`, {
          context: { command: entry.command, qmpClass: body.class, qmpDesc: body.desc },
        }),
      );
    } else {
      entry.resolve(msg.return);
    }
  }

  /** A peer that breaks the protocol cannot be trusted further: fail every call and drop the connection. */
  private protocolFailure(err: VigilError): void {
    this.log.warn({ code: err.code, err: err.message }, 'QMP protocol failure; closing the connection');
    this.closeReason ??= err;
    this.handshake?.reject(err);
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(err);
    this.socket?.destroy();
  }

  private onClose(socket: Socket, where: string): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    const wasRunning = this.runState === 'running';
    const reason =
      this.closeReason ??
      new VigilError('VIGIL_QMP_DISCONNECTED', `QMP connection to ${where} closed`, { context: { address: where } });
    const err =
      reason.code === 'VIGIL_QMP_DISCONNECTED' ||
      reason.code === 'VIGIL_QMP_PROTOCOL' ||
      reason.code === 'VIGIL_QMP_FRAME_TOO_LARGE' ||
      reason.code === 'VIGIL_QMP_TIMEOUT'
        ? reason
        : new VigilError('VIGIL_QMP_DISCONNECTED', `QMP connection to ${where} closed`, { cause: reason, context: { address: where } });
    this.handshake?.reject(
      reason.code === 'VIGIL_QMP_DISCONNECTED'
        ? new VigilError('VIGIL_QMP_CONNECT', `QMP socket ${where} closed before the handshake finished`, { cause: reason })
        : reason,
    );
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(err);
    this.hub.rejectWaiters(err);
    this.setState('idle');
    if (wasRunning && this.opts.reconnect) {
      this.reconnecting = true;
      this.scheduleReconnect(this.opts.reconnect);
    } else if (!this.reconnecting) {
      this.hub.end();
    }
  }

  private scheduleReconnect(policy: ReconnectOptions): void {
    const address = this.address;
    if (!address) return;
    const max = policy.maxAttempts ?? Number.POSITIVE_INFINITY;
    if (this.reconnectAttempts >= max) {
      this.log.warn({ attempts: this.reconnectAttempts }, 'QMP reconnect gave up');
      this.reconnecting = false;
      this.hub.end();
      return;
    }
    const base = policy.initialDelayMs ?? 100;
    const delay = Math.min(base * 2 ** this.reconnectAttempts, policy.maxDelayMs ?? 10000);
    this.reconnectAttempts += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect(address).then(
        () => {
          this.reconnecting = false;
          this.log.info({ address: formatQmpAddress(address) }, 'QMP reconnected');
        },
        (err: unknown) => {
          this.log.debug({ err: String(err) }, 'QMP reconnect attempt failed');
          if (this.opts.reconnect) this.scheduleReconnect(this.opts.reconnect);
          else this.reconnecting = false;
        },
      );
    }, delay);
  }

  private setState(state: QmpRunState): void {
    if (state === this.runState) return;
    this.runState = state;
    for (const listener of [...this.stateListeners]) listener(state);
  }
}
