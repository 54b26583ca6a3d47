/**
 * GDB remote serial protocol client: one connection to one gdbstub (QEMU's, in practice). Explicit run state
 * (idle -> connecting -> stopped <-> running -> idle); requests are serialised (the protocol allows one at a
 * time) and every call settles: a closed socket, a timeout or a protocol violation rejects it with a typed error.
 * Stop replies that arrive while the target runs are queued in order and handed out by `nextStop()`.
 */
import { createConnection, type Socket } from 'node:net';
import { VigilError } from '../core/errors.js';
import { rootLogger, type Logger } from '../core/log.js';
import { DEFAULT_MAX_PACKET_BYTES, encodePacket, RspFramer, type RspFrame } from './framer.js';
import { addrHex, bigIntToLe, leToBigInt } from './hex.js';
import { formatThreadId, isStopReply, parseStopReply, parseSupported, parseThreadList, type StopReply, type ThreadId } from './stop-reply.js';
import { loadTargetDescription, type RegisterInfo, type TargetDescription } from './target-description.js';

/** The connection's life cycle. `stopped`/`running` are the target's state as the client last saw it. */
export type GdbRunState = 'idle' | 'connecting' | 'stopped' | 'running';

/** Where the stub listens: a Unix socket path, or TCP. */
export type GdbAddress = { path: string } | { host: string; port: number };

/** Client settings; every field has a default. */
export interface GdbClientOptions {
  /** Deadline for connect + handshake (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Deadline of one request (default 10000 ms). */
  requestTimeoutMs?: number;
  /** Largest packet accepted from the stub (default 1 MiB). */
  maxPacketBytes?: number;
  /** Turn acks off when the stub offers QStartNoAckMode (default true: halves the packets on the wire). */
  noAck?: boolean;
  logger?: Logger;
}

/** Breakpoint and watchpoint types, numbered as the Z packets number them. */
export const Z_TYPE = { software: 0, hardware: 1, write: 2, read: 3, access: 4 } as const;
/** A Z packet type name. */
export type ZType = keyof typeof Z_TYPE;

/** A register value as read: raw target bytes and, for integer registers, the number. */
export interface RegisterValue {
  info: RegisterInfo;
  /** Target byte order; undefined when the stub reported it unavailable ('xx'). */
  raw: Buffer | undefined;
  /** Little-endian interpretation of raw (x86); undefined when unavailable. */
  value: bigint | undefined;
}

/** One vCPU as the stub lists it. */
export interface GdbThread {
  id: ThreadId;
  /** Index of the vCPU (QEMU: thread id - 1; confirmed with qThreadExtraInfo's `CPU#n` when available). */
  vcpu: number;
  /** What qThreadExtraInfo said (QEMU: `CPU#0 [halted ]`). */
  extra?: string;
}

interface Pending {
  what: string;
  /** Only '?' is answered with a stop reply; any other stop reply is an asynchronous one. */
  acceptsStop: boolean;
  resolve: (reply: string) => void;
  reject: (err: VigilError) => void;
  timer: NodeJS.Timeout;
}

const MAX_RETRANSMITS = 3;
const ERROR_REPLY = /^E([0-9a-fA-F]{2})$|^E\.(.*)$/s;

function where(a: GdbAddress): string {
  return 'path' in a ? a.path : `${a.host}:${a.port}`;
}

/** A gdbstub connection. Create, `connect()`, use, `detach()` or `close()`. */
export class GdbClient {
  private socket: Socket | undefined;
  private framer: RspFramer;
  private runState: GdbRunState = 'idle';
  private pending: Pending | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private ackMode = true;
  private awaitingAck: { packet: Buffer; tries: number; done: () => void } | undefined;
  private readonly stops: StopReply[] = [];
  private stopWaiters: { resolve: (s: StopReply) => void; reject: (e: VigilError) => void; timer: NodeJS.Timeout | undefined }[] = [];
  private stopListeners = new Set<(s: StopReply) => void>();
  private closeReason: VigilError | undefined;
  private addr: GdbAddress | undefined;
  private readonly log: Logger;
  private readonly opts: Required<Omit<GdbClientOptions, 'logger'>>;
  private regByName = new Map<string, RegisterInfo>();
  private gRegs: RegisterInfo[] | undefined;
  private currentG: string | undefined;
  /** What the stub offered in its qSupported reply. */
  features = new Map<string, string | boolean>();
  /** Largest packet the stub accepts (its PacketSize; 400 bytes when it says nothing, as GDB assumes). */
  packetSize = 400;
  /** The registers of the target, from its target description. */
  description: TargetDescription = { registers: [], features: [] };
  /** The stop reason reported when we attached ('?'). */
  initialStop: StopReply | undefined;
  /** Packets sent and received (for benchmarks and debugging). */
  readonly stats = { sent: 0, received: 0, retransmits: 0 };

  constructor(options: GdbClientOptions = {}) {
    this.opts = {
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      requestTimeoutMs: options.requestTimeoutMs ?? 10000,
      maxPacketBytes: options.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES,
      noAck: options.noAck ?? true,
    };
    this.log = (options.logger ?? rootLogger()).child({ mod: 'gdb' });
    this.framer = new RspFramer(this.opts.maxPacketBytes);
  }

  /** The current run state. */
  get state(): GdbRunState {
    return this.runState;
  }

  /** The stub's register list (from the target description). */
  get registers(): readonly RegisterInfo[] {
    return this.description.registers;
  }

  /**
   * Connects and negotiates: qSupported, no-ack mode, the target description, the stop reason. QEMU stops the
   * guest when a debugger attaches. On failure the client is idle again with the socket closed.
   */
  async connect(address: GdbAddress): Promise<void> {
    if (this.runState !== 'idle') throw this.stateError('connect');
    this.addr = address;
    this.closeReason = undefined;
    this.framer = new RspFramer(this.opts.maxPacketBytes);
    this.ackMode = true;
    this.runState = 'connecting';
    const w = where(address);
    try {
      await this.openSocket(address, w);
      const deadline = { timeoutMs: this.opts.connectTimeoutMs };
      this.features = parseSupported(await this.request('qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+;xmlRegisters=i386', deadline));
      const size = this.features.get('PacketSize');
      if (typeof size === 'string' && /^[0-9a-fA-F]+$/.test(size)) this.packetSize = Number.parseInt(size, 16);
      if (this.opts.noAck && this.features.get('QStartNoAckMode') === true) {
        await this.expectOk('QStartNoAckMode', deadline);
        this.ackMode = false;
      }
      if (this.features.get('qXfer:features:read') === true) {
        this.description = await loadTargetDescription((annex) => this.readXfer('features', annex));
      }
      this.indexRegisters();
      this.initialStop = parseStopReply(await this.request('?', deadline));
      this.runState = 'stopped';
    } catch (err) {
      const failure =
        err instanceof VigilError && err.code !== 'VIGIL_GDB_DISCONNECTED' && err.code !== 'VIGIL_GDB_TIMEOUT'
          ? err
          : new VigilError('VIGIL_GDB_CONNECT', `gdbstub handshake with ${w} failed (QEMU serves one debugger at a time: is another attached?)`, {
              cause: err,
              context: { address: w },
            });
      this.teardown(failure);
      throw failure;
    }
  }

  /**
   * Sends one packet and resolves with the reply text (latin1). Serialised behind earlier requests. Rejects with
   * VIGIL_GDB_ERROR on an `Exx` reply, VIGIL_GDB_TIMEOUT, VIGIL_GDB_DISCONNECTED.
   */
  request(packet: string, options: { timeoutMs?: number; allowRunning?: boolean } = {}): Promise<string> {
    return this.serial(() => this.exchange(packet, options));
  }

  /** Sends a request that must answer `OK`; an empty reply means the stub lacks it (VIGIL_GDB_UNSUPPORTED). */
  async expectOk(packet: string, options: { timeoutMs?: number } = {}): Promise<void> {
    const reply = await this.request(packet, options);
    if (reply === 'OK') return;
    if (reply === '') throw this.unsupported(packet);
    throw new VigilError('VIGIL_GDB_PROTOCOL', `gdbstub answered '${reply.slice(0, 40)}' to ${packetName(packet)}, expected OK`, { context: { packet: packetName(packet), reply: reply.slice(0, 200) } });
  }

  /** Reads a whole qXfer object (`qXfer:<object>:read:<annex>:offset,length` until an `l` reply). */
  async readXfer(object: string, annex: string): Promise<string> {
    let out = '';
    const chunk = Math.max(64, this.packetSize - 8);
    for (;;) {
      const reply = await this.request(`qXfer:${object}:read:${annex}:${out.length.toString(16)},${chunk.toString(16)}`);
      if (reply === '') throw this.unsupported(`qXfer:${object}:read`);
      const kind = reply[0];
      if (kind !== 'm' && kind !== 'l') throw new VigilError('VIGIL_GDB_PROTOCOL', `bad qXfer reply for ${annex}: '${reply.slice(0, 20)}'`, { context: { annex } });
      out += reply.slice(1);
      if (kind === 'l') return out;
    }
  }

  /** The vCPUs (qfThreadInfo/qsThreadInfo), each with its index; qThreadExtraInfo names the CPU when offered. */
  async threads(): Promise<GdbThread[]> {
    const ids: ThreadId[] = [];
    let page = parseThreadList(await this.request('qfThreadInfo'));
    ids.push(...page.ids);
    while (!page.done) {
      page = parseThreadList(await this.request('qsThreadInfo'));
      ids.push(...page.ids);
    }
    const out: GdbThread[] = [];
    for (const [i, id] of ids.entries()) {
      let vcpu = id.tid > 0 ? id.tid - 1 : i;
      let extra: string | undefined;
      const reply = await this.request(`qThreadExtraInfo,${formatThreadId(id)}`).catch(() => '');
      if (reply !== '' && /^[0-9a-fA-F]+$/.test(reply)) {
        extra = Buffer.from(reply, 'hex').toString('latin1');
        const m = /CPU#(\d+)/.exec(extra);
        if (m) vcpu = Number(m[1]);
      }
      out.push({ id, vcpu, ...(extra === undefined ? {} : { extra }) });
    }
    return out;
  }

  /** Selects the thread for register and memory operations (`Hg`); skipped when already selected. */
  async selectThread(thread: ThreadId): Promise<void> {
    const t = formatThreadId(thread);
    if (this.currentG === t) return;
    await this.expectOk(`Hg${t}`);
    this.currentG = t;
  }

  /** The register named `name` (as the target description names it: rip, cr3, eflags ...). */
  register(name: string): RegisterInfo {
    const info = this.regByName.get(name);
    if (info === undefined) {
      throw new VigilError('VIGIL_GDB_UNSUPPORTED', `the target has no register '${name}'; it has: ${this.description.registers.map((r) => r.name).join(', ')}`, {
        context: { register: name },
      });
    }
    return info;
  }

  /** Reads every register of `thread` (default: the selected one): one `g`, then `p` for those `g` leaves out. */
  async readRegisters(thread?: ThreadId): Promise<Map<string, RegisterValue>> {
    if (thread !== undefined) await this.selectThread(thread);
    const out = new Map<string, RegisterValue>();
    const g = await this.request('g');
    let off = 0;
    const gRegs: RegisterInfo[] = [];
    for (const info of this.description.registers) {
      const hexLen = (info.bitsize / 8) * 2;
      if (off + hexLen > g.length) break;
      out.set(info.name, decodeRegister(info, g.slice(off, off + hexLen)));
      gRegs.push(info);
      off += hexLen;
    }
    this.gRegs = gRegs;
    for (const info of this.description.registers) {
      if (!out.has(info.name)) out.set(info.name, await this.readRegisterInfo(info));
    }
    return out;
  }

  /** Reads one register by name with `p` (falls back to `g` when the stub lacks `p`). */
  async readRegister(name: string, thread?: ThreadId): Promise<RegisterValue> {
    if (thread !== undefined) await this.selectThread(thread);
    return this.readRegisterInfo(this.register(name));
  }

  /** Writes one register with `P` (or `g`/`G` when the stub lacks `P`). */
  async writeRegister(name: string, value: bigint, thread?: ThreadId): Promise<void> {
    const info = this.register(name);
    if (thread !== undefined) await this.selectThread(thread);
    const bytes = bigIntToLe(value, info.bitsize / 8).toString('hex');
    const reply = await this.request(`P${info.regnum.toString(16)}=${bytes}`);
    if (reply === 'OK') return;
    if (reply !== '') throw new VigilError('VIGIL_GDB_PROTOCOL', `unexpected reply '${reply.slice(0, 40)}' to P`, { context: { register: name } });
    // No P: rewrite the whole g block with this register changed.
    const g = await this.request('g');
    const regs = this.gRegs ?? this.description.registers;
    let off = 0;
    for (const r of regs) {
      const hexLen = (r.bitsize / 8) * 2;
      if (r.name === name) {
        await this.expectOk(`G${g.slice(0, off)}${bytes}${g.slice(off + hexLen)}`);
        return;
      }
      off += hexLen;
    }
    throw this.unsupported(`P (register ${name} is outside the g block)`);
  }

  /** Largest memory read per `m` packet: the hex reply must fit in PacketSize. */
  get maxReadChunk(): number {
    return Math.max(1, Math.floor(this.packetSize / 2));
  }

  /** Reads guest memory (virtual, or physical in PhyMemMode), split into packet-size pieces. */
  async readMemory(address: bigint, length: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let done = 0;
    const chunk = this.maxReadChunk;
    while (done < length) {
      const n = Math.min(chunk, length - done);
      const a = address + BigInt(done);
      const reply = await this.request(`m${addrHex(a)},${n.toString(16)}`);
      if (reply.length === 0 || reply.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(reply)) {
        throw new VigilError('VIGIL_GDB_PROTOCOL', `bad memory reply at 0x${addrHex(a)}`, { context: { address: `0x${addrHex(a)}`, reply: reply.slice(0, 40) } });
      }
      const bytes = Buffer.from(reply, 'hex');
      parts.push(bytes);
      done += bytes.length;
      // A short read means the rest is not readable; the next request would fail with Exx and say where.
    }
    return Buffer.concat(parts, length);
  }

  /** Writes guest memory with `M`, split so every packet fits in PacketSize. */
  async writeMemory(address: bigint, data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const a = address + BigInt(done);
      const header = `M${addrHex(a)},${'0'.repeat(8)}:`;
      const n = Math.min(data.length - done, Math.max(1, Math.floor((this.packetSize - header.length - 4) / 2)));
      await this.expectOk(`M${addrHex(a)},${n.toString(16)}:${Buffer.from(data.subarray(done, done + n)).toString('hex')}`);
      done += n;
    }
  }

  /** Inserts a breakpoint (`software`, `hardware`) or watchpoint (`write`, `read`, `access`) with Z. */
  async insertBreakpoint(type: ZType, address: bigint, kind: number): Promise<void> {
    const reply = await this.request(`Z${Z_TYPE[type]},${addrHex(address)},${kind.toString(16)}`);
    if (reply === 'OK') return;
    if (reply === '') throw this.unsupported(`Z${Z_TYPE[type]} (${type} breakpoints)`);
    throw new VigilError('VIGIL_GDB_PROTOCOL', `unexpected reply '${reply.slice(0, 40)}' to Z${Z_TYPE[type]}`);
  }

  /** Removes what insertBreakpoint inserted (same type, address and kind). */
  async removeBreakpoint(type: ZType, address: bigint, kind: number): Promise<void> {
    await this.expectOk(`z${Z_TYPE[type]},${addrHex(address)},${kind.toString(16)}`);
  }

  /**
   * Resumes with vCont: `c` continues, `s` steps one instruction; a thread limits the action to one vCPU (the
   * others stay stopped), none applies it to all. Does not wait: the stop comes through nextStop().
   */
  resume(actions: readonly { action: 'c' | 's'; thread?: ThreadId }[]): Promise<void> {
    const packet = `vCont${actions.map((a) => `;${a.action}${a.thread === undefined ? '' : `:${formatThreadId(a.thread)}`}`).join('')}`;
    return this.serial(async () => {
      if (this.runState !== 'stopped') throw this.stateError('resume');
      this.runState = 'running';
      await this.sendPacket(encodePacket(packet));
    });
  }

  /** Continues every vCPU. */
  continue(): Promise<void> {
    return this.resume([{ action: 'c' }]);
  }

  /** Single-steps one vCPU (the others stay stopped). */
  step(thread: ThreadId): Promise<void> {
    return this.resume([{ action: 's', thread }]);
  }

  /** Interrupts a running target (the 0x03 byte); the stop (signal 2) comes through nextStop(). No-op when stopped. */
  interrupt(): void {
    if (this.runState !== 'running' || this.socket === undefined) return;
    this.socket.write(Buffer.from([0x03]));
    this.stats.sent++;
  }

  /** Resolves with the next stop reply, in arrival order; rejects with VIGIL_GDB_TIMEOUT or VIGIL_GDB_DISCONNECTED. */
  nextStop(timeoutMs?: number): Promise<StopReply> {
    const queued = this.stops.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.runState === 'idle') return Promise.reject(this.disconnected('wait for a stop'));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        timer:
          timeoutMs === undefined
            ? undefined
            : setTimeout(() => {
                this.stopWaiters = this.stopWaiters.filter((w) => w !== waiter);
                reject(new VigilError('VIGIL_GDB_TIMEOUT', `the target did not stop within ${timeoutMs} ms`, { context: { timeoutMs } }));
              }, timeoutMs),
      };
      this.stopWaiters.push(waiter);
    });
  }

  /** Calls `listener` on every stop reply as it arrives (before nextStop() hands it out); returns the unsubscribe. */
  onStop(listener: (s: StopReply) => void): () => void {
    this.stopListeners.add(listener);
    return () => this.stopListeners.delete(listener);
  }

  /** Interrupts, waits for the stop and returns it (or the stop that was already under way). */
  async pause(timeoutMs = this.opts.requestTimeoutMs): Promise<StopReply> {
    if (this.runState === 'stopped') throw this.stateError('pause');
    const stop = this.nextStop(timeoutMs);
    this.interrupt();
    return stop;
  }

  /** QEMU only: switches `m`/`M` to guest physical addresses (true) or back to virtual ones (false). */
  async setPhysicalMemoryMode(physical: boolean): Promise<void> {
    const reply = await this.request(`Qqemu.PhyMemMode:${physical ? 1 : 0}`);
    if (reply === 'OK') return;
    if (reply === '') throw this.unsupported('Qqemu.PhyMemMode (physical memory mode; QEMU >= 4.1 only)');
    throw new VigilError('VIGIL_GDB_PROTOCOL', `unexpected reply '${reply.slice(0, 40)}' to Qqemu.PhyMemMode`);
  }

  /** QEMU only: whether `m`/`M` address physical memory. */
  async physicalMemoryMode(): Promise<boolean> {
    const reply = await this.request('qqemu.PhyMemMode');
    if (reply === '') throw this.unsupported('qqemu.PhyMemMode');
    return reply === '1';
  }

  /**
   * Detaches (`D`): QEMU removes our breakpoints and resumes the guest. Then closes; rejects (after closing) when
   * the stub refused, since the guest may then still be paused.
   */
  async detach(): Promise<void> {
    if (this.runState === 'idle') return;
    try {
      if (this.runState === 'running') await this.pause();
      // With multiprocess negotiated QEMU wants the process id (`D;1`) and answers a bare `D` with E22.
      const pid = this.initialStop?.kind === 'signal' ? this.initialStop.thread?.pid : undefined;
      const packet = this.features.get('multiprocess') === true ? `D;${(pid ?? 1).toString(16)}` : 'D';
      await this.expectOk(packet, { timeoutMs: 2000 });
    } catch (err) {
      this.close();
      throw err;
    }
    this.close();
  }

  /** Closes the socket; every pending call rejects with VIGIL_GDB_DISCONNECTED. QEMU leaves the guest as it is. */
  close(): void {
    this.teardown(this.disconnected('finish', 'the client closed the connection'));
  }

  // ---------------------------------------------------------------- internals

  private indexRegisters(): void {
    this.regByName = new Map(this.description.registers.map((r) => [r.name, r]));
  }

  private async readRegisterInfo(info: RegisterInfo): Promise<RegisterValue> {
    const reply = await this.request(`p${info.regnum.toString(16)}`);
    if (reply === '') throw this.unsupported(`p (register ${info.name})`);
    return decodeRegister(info, reply);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private exchange(packet: string, options: { timeoutMs?: number; allowRunning?: boolean }): Promise<string> {
    const name = packetName(packet);
    if (this.socket === undefined || (this.runState !== 'stopped' && this.runState !== 'connecting')) {
      if (this.runState === 'running' && !options.allowRunning) return Promise.reject(this.stateError(`send ${name}`));
      if (this.socket === undefined) return Promise.reject(this.disconnected(`send ${name}`));
    }
    const timeoutMs = options.timeoutMs ?? this.opts.requestTimeoutMs;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        const err = new VigilError('VIGIL_GDB_TIMEOUT', `no reply to ${name} within ${timeoutMs} ms`, { context: { packet: name, timeoutMs } });
        reject(err);
        // Replies carry no ids: a late one would be taken for the next request's. The connection cannot be trusted.
        this.teardown(err);
      }, timeoutMs);
      this.pending = {
        what: name,
        acceptsStop: packet === '?',
        resolve: (reply) => {
          clearTimeout(timer);
          const m = ERROR_REPLY.exec(reply);
          if (m === null) resolve(reply);
          else {
            const code = m[1] === undefined ? undefined : Number.parseInt(m[1], 16);
            reject(
              new VigilError('VIGIL_GDB_ERROR', `gdbstub refused ${name}: ${m[2] ?? `error ${String(code)}`}`, {
                context: { packet: packet.length > 80 ? `${packet.slice(0, 80)}...` : packet, ...(code === undefined ? { text: m[2] } : { errno: code }) },
              }),
            );
          }
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
        timer,
      };
      this.sendPacket(encodePacket(packet)).catch((err: unknown) => this.pending?.reject(err as VigilError));
    });
  }

  /** Writes a packet; in ack mode waits for '+' (retransmitting on '-'). */
  private sendPacket(packet: Buffer): Promise<void> {
    const socket = this.socket;
    if (socket === undefined) return Promise.reject(this.disconnected('send'));
    this.stats.sent++;
    if (!this.ackMode) {
      socket.write(packet);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.awaitingAck = { packet, tries: 0, done: resolve };
      socket.write(packet);
    });
  }

  private openSocket(address: GdbAddress, w: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = 'path' in address ? createConnection({ path: address.path }) : createConnection({ host: address.host, port: address.port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new VigilError('VIGIL_GDB_CONNECT', `could not connect to the gdbstub at ${w} within ${this.opts.connectTimeoutMs} ms`, { context: { address: w } }));
      }, this.opts.connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        this.socket = socket;
        socket.on('data', (chunk: Buffer) => this.onData(chunk));
        socket.on('close', () => this.teardown(this.disconnected('continue', `the gdbstub at ${w} closed the connection`)));
        socket.on('error', (err) => this.log.debug({ err }, 'gdbstub socket error'));
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new VigilError('VIGIL_GDB_CONNECT', `could not connect to the gdbstub at ${w}: ${err.message}`, { cause: err, context: { address: w } }));
      });
    });
  }

  private onData(chunk: Buffer): void {
    let frames: RspFrame[];
    try {
      frames = this.framer.push(chunk);
    } catch (err) {
      this.teardown(err as VigilError);
      return;
    }
    for (const f of frames) this.onFrame(f);
  }

  private onFrame(f: RspFrame): void {
    if (f.kind === 'ack' || f.kind === 'nack') {
      const a = this.awaitingAck;
      if (a === undefined) return;
      if (f.kind === 'ack') {
        this.awaitingAck = undefined;
        a.done();
      } else if (++a.tries > MAX_RETRANSMITS) {
        this.teardown(new VigilError('VIGIL_GDB_PROTOCOL', `the gdbstub refused a packet ${MAX_RETRANSMITS} times (bad link?)`));
      } else {
        this.stats.retransmits++;
        this.socket?.write(a.packet);
      }
      return;
    }
    if (f.kind === 'notification') return;
    this.stats.received++;
    if (this.ackMode) this.socket?.write(f.ok ? '+' : '-');
    if (!f.ok) {
      if (!this.ackMode) this.teardown(new VigilError('VIGIL_GDB_PROTOCOL', 'bad checksum on a packet from the gdbstub in no-ack mode'));
      return;
    }
    const text = f.payload.toString('latin1');
    // Console output (qRcmd, or a stub that prints while running) is not a reply.
    if (text.startsWith('O') && text !== 'OK' && /^O([0-9a-fA-F]{2})+$/.test(text)) return;
    const p = this.pending;
    if (isStopReply(text) && !(p?.acceptsStop ?? false)) {
      // QEMU announces the stop it makes when a debugger attaches (T02) before any request: not a reply.
      if (this.runState === 'running') this.onStopReply(text);
      else this.log.debug({ packet: text.slice(0, 80) }, 'stop reply while stopped dropped');
      return;
    }
    if (p !== undefined) {
      this.pending = undefined;
      clearTimeout(p.timer);
      p.resolve(text);
      return;
    }
    this.log.debug({ packet: text.slice(0, 80) }, 'unsolicited gdbstub packet dropped');
  }

  private onStopReply(text: string): void {
    let stop: StopReply;
    try {
      stop = parseStopReply(text);
    } catch (err) {
      this.teardown(err as VigilError);
      return;
    }
    this.runState = 'stopped';
    // QEMU makes the vCPU that stopped the current one for g/m (gdb_set_stop_cpu): no Hg needed for it.
    this.currentG = stop.kind === 'signal' && stop.thread !== undefined ? formatThreadId(stop.thread) : undefined;
    for (const l of this.stopListeners) l(stop);
    const w = this.stopWaiters.shift();
    if (w === undefined) this.stops.push(stop);
    else {
      if (w.timer) clearTimeout(w.timer);
      w.resolve(stop);
    }
  }

  private teardown(reason: VigilError): void {
    if (this.runState === 'idle' && this.socket === undefined) return;
    this.closeReason = reason;
    this.runState = 'idle';
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
    this.currentG = undefined;
    this.awaitingAck?.done();
    this.awaitingAck = undefined;
    const p = this.pending;
    this.pending = undefined;
    if (p !== undefined) {
      clearTimeout(p.timer);
      p.reject(reason.code === 'VIGIL_GDB_DISCONNECTED' ? this.disconnected(p.what) : reason);
    }
    for (const w of this.stopWaiters) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(reason);
    }
    this.stopWaiters = [];
  }

  private disconnected(what: string, why?: string): VigilError {
    return new VigilError('VIGIL_GDB_DISCONNECTED', why ?? `cannot ${what}: the gdbstub connection is closed`, {
      ...(this.closeReason ? { cause: this.closeReason } : {}),
      context: { ...(this.addr ? { address: where(this.addr) } : {}) },
    });
  }

  private stateError(what: string): VigilError {
    const hint = this.runState === 'running' ? ' (pause the guest first)' : '';
    return new VigilError('VIGIL_GDB_STATE', `cannot ${what}: the gdbstub client is ${this.runState}${hint}`, { context: { state: this.runState } });
  }

  private unsupported(what: string): VigilError {
    return new VigilError('VIGIL_GDB_UNSUPPORTED', `the gdbstub does not support ${what}`, { context: { packet: what } });
  }
}

/** The command part of a packet, for messages (never its data). */
function packetName(packet: string): string {
  const m = /^(q[A-Za-z.]+|Q[A-Za-z.]+|v[A-Za-z]+|[A-Za-z?])/.exec(packet);
  return m?.[1] ?? packet.slice(0, 1);
}

/** Decodes one register's hex (target order); 'x' digits mean unavailable. */
export function decodeRegister(info: RegisterInfo, hex: string): RegisterValue {
  if (hex.includes('x')) return { info, raw: undefined, value: undefined };
  const raw = Buffer.from(hex, 'hex');
  return { info, raw, value: leToBigInt(raw) };
}
