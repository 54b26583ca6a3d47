/**
 * Events from a VM's vCPUs: breakpoints, watchpoints and single-steps, delivered to filtered subscriptions whose
 * handlers decide what happens next (continue, step-then-re-arm, set registers, skip the instruction, stay
 * paused), and to async iterators. One driver loop reads the gdbstub's stop replies in order and handles each
 * completely before the guest runs again, so events are numbered without gaps and never reordered; a slow
 * iterator holds the guest paused instead of losing events.
 */
import { performance } from 'node:perf_hooks';
import { VigilError, toVigilError } from '../../core/errors.js';
import { rootLogger, type Logger } from '../../core/log.js';
import type { StopReply } from '../../gdb/stop-reply.js';
import type { VmiCpu } from '../cpu/vcpu.js';
import { EventQueue } from './event-queue.js';
import { TrapTable } from './traps.js';
import type { EventAction, EventContext, EventFilter, EventHandler, EventKind, Subscription, Trap, VmiEvent } from './types.js';

/** Options of VmiEvents. */
export interface VmiEventsOptions {
  logger?: Logger;
  /** Deadline for a single-step or a pause to complete (default 10000 ms). */
  stepTimeoutMs?: number;
}

/** Options of an event iterator. */
export interface EventStreamOptions {
  filter?: EventFilter;
  signal?: AbortSignal;
  /** Queue length at which the guest is kept paused until the consumer catches up (default 10000). */
  highWaterMark?: number;
}

interface Sub {
  id: number;
  filter: EventFilter;
  trap?: Trap;
  handler: EventHandler;
}

type Flow = { kind: 'continue' } | { kind: 'step-then-re-arm' } | { kind: 'pause' };

const FLOW_RANK: Record<Flow['kind'], number> = { continue: 0, 'step-then-re-arm': 1, pause: 2 };

/** What the handlers of one event asked for, merged: register writes, a skip, and the strongest flow. */
interface Verdict {
  flow: Flow;
  registers?: Record<string, bigint>;
  skip?: number;
}

function asList<T>(v: T | readonly T[] | undefined): readonly T[] | undefined {
  return v === undefined ? undefined : Array.isArray(v) ? (v as readonly T[]) : [v as T];
}

/** True when the event passes the filter's kind, vCPU and address tests. */
export function filterMatches(filter: EventFilter, event: VmiEvent): boolean {
  const kinds = asList<EventKind>(filter.kind);
  if (kinds !== undefined && !kinds.includes(event.kind)) return false;
  const vcpus = asList<number>(filter.vcpu);
  if (vcpus !== undefined && !vcpus.includes(event.vcpu)) return false;
  if (filter.address !== undefined && event.address !== filter.address) return false;
  return true;
}

function trapMatches(trap: Trap, event: VmiEvent): boolean {
  if (event.address === undefined) return false;
  if (trap.type === 'breakpoint') return event.kind === 'breakpoint' && event.address === trap.address;
  return event.kind === 'watchpoint' && event.address >= trap.address && event.address < trap.address + BigInt(trap.length);
}

function toVerdict(a: EventAction | void): Verdict {
  if (a === undefined) return { flow: { kind: 'continue' } };
  const name = typeof a === 'string' ? a : a.action;
  if (typeof a === 'object' && a.action === 'set-registers') return { flow: { kind: 'continue' }, registers: a.registers };
  if (typeof a === 'object' && a.action === 'skip') {
    if (!Number.isInteger(a.length) || a.length <= 0 || a.length > 15) {
      throw new VigilError('VIGIL_INVALID_INPUT', `skip length ${a.length} must be the instruction's length in bytes (1..15)`, { context: { field: 'length', value: a.length } });
    }
    return { flow: { kind: 'continue' }, skip: a.length };
  }
  if (name === 'continue' || name === 'pause' || name === 'step-then-re-arm') return { flow: { kind: name } };
  throw new VigilError('VIGIL_INVALID_INPUT', `unknown event action ${JSON.stringify(a)}; use continue, step-then-re-arm, pause, set-registers or skip`, { context: { field: 'action' } });
}

/** The event layer over one VmiCpu. Create, subscribe, `start()`, and `close()` at the end. */
export class VmiEvents {
  readonly cpu: VmiCpu;
  private readonly traps: TrapTable;
  private readonly subs = new Map<number, Sub>();
  private readonly streams = new Set<{ queue: EventQueue<VmiEvent>; filter?: EventFilter }>();
  private readonly log: Logger;
  private readonly stepTimeoutMs: number;
  private nextSub = 1;
  private seq = 0;
  /** How the guest goes on when released; set while we hold it stopped. */
  private held: (() => Promise<void>) | undefined;
  /** True between a plain continue and the stop that ends it: the only time an interrupt is sent. */
  private freeRunning = false;
  private pauseWaiters: { resolve: () => void; reject: (e: VigilError) => void }[] = [];
  private driver: Promise<void> = Promise.resolve();
  private opChain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private failure: VigilError | undefined;
  /** Whether a single-step passes a breakpoint under RIP (undefined until the first step over one shows it). */
  private stepPassesBreakpoints: boolean | undefined;
  /** Counts for benchmarks: handled stops, internal steps. */
  readonly stats = { stops: 0, steps: 0 };

  constructor(cpu: VmiCpu, options: VmiEventsOptions = {}) {
    this.cpu = cpu;
    this.traps = new TrapTable(cpu.gdb);
    this.log = (options.logger ?? rootLogger()).child({ mod: 'vmi-events' });
    this.stepTimeoutMs = options.stepTimeoutMs ?? 10_000;
    // The guest is stopped when we attach: hold it until start().
    this.held = cpu.running ? undefined : () => this.plainContinue();
    if (cpu.running) {
      this.freeRunning = true;
      this.startDriver();
    }
  }

  /** Whether this QEMU's single-step passes a breakpoint under RIP (learned at the first step over one). */
  get stepPassesBreakpoint(): boolean | undefined {
    return this.stepPassesBreakpoints;
  }

  /** True while the guest is held stopped by this layer (before start(), after pause(), or a handler's pause). */
  get paused(): boolean {
    return this.held !== undefined;
  }

  /**
   * Subscribes a handler. With a trap, arms it (pausing the guest for a moment if it runs); the handler then sees
   * that trap's events and the step events that follow its step-then-re-arm. Without a trap it sees every event
   * its filter admits.
   */
  subscribe(filter: EventFilter & { trap?: Trap }, handler: EventHandler): Promise<Subscription> {
    const { trap, ...rest } = filter;
    return this.exclusive(async () => {
      this.checkOpen();
      if (trap !== undefined) await this.whilePaused(() => this.traps.add(trap));
      const sub: Sub = { id: this.nextSub++, filter: rest, handler, ...(trap === undefined ? {} : { trap }) };
      this.subs.set(sub.id, sub);
      return {
        id: sub.id,
        filter: rest,
        ...(trap === undefined ? {} : { trap }),
        unsubscribe: () => this.unsubscribe(sub.id),
      };
    });
  }

  /** Events as an async iterator (ordered, none dropped); ends on close() or when the signal aborts. */
  events(options: EventStreamOptions = {}): AsyncIterableIterator<VmiEvent> {
    const entry: { queue: EventQueue<VmiEvent>; filter?: EventFilter } = {
      queue: new EventQueue<VmiEvent>(options.highWaterMark ?? 10_000, () => this.streams.delete(entry), options.signal),
      ...(options.filter === undefined ? {} : { filter: options.filter }),
    };
    if (this.closed) entry.queue.end();
    else this.streams.add(entry);
    return entry.queue;
  }

  /** Lets the guest run (the first time, or after a pause); a held event's pending step-over happens first. */
  resume(): Promise<void> {
    return this.exclusive(() => this.release());
  }

  /** Alias of resume() for the first start. */
  start(): Promise<void> {
    return this.resume();
  }

  /** Stops every vCPU and holds the guest until resume(). Events that were under way are delivered first. */
  pause(): Promise<void> {
    return this.exclusive(() => this.hold());
  }

  /**
   * The consistent-view helper: pauses the guest (if it runs), runs `fn` with the vCPU API while nothing moves,
   * and resumes it afterwards (only if it was running before).
   */
  withPaused<T>(fn: (cpu: VmiCpu) => Promise<T>): Promise<T> {
    return this.exclusive(() => this.whilePaused(() => fn(this.cpu)));
  }

  /**
   * Single-steps one vCPU of a held guest and delivers the `step` event to the subscriptions (the guest stays held
   * after it, whatever the handlers answer, except that their register writes are applied).
   */
  step(vcpu = 0): Promise<VmiEvent> {
    return this.exclusive(async () => {
      this.checkOpen();
      if (this.held === undefined) throw new VigilError('VIGIL_GDB_STATE', 'step needs a paused guest: call pause() first', { context: { vcpu } });
      const stop = await this.cpu.step(vcpu, this.stepTimeoutMs);
      if (stop.kind !== 'signal') throw new VigilError('VIGIL_GDB_DISCONNECTED', 'the guest exited during a single-step', { context: { vcpu } });
      const event = await this.classify(stop, true);
      await this.applyEdits(event, await this.dispatch(event, this.matchingSubs(event)));
      return event;
    });
  }

  /**
   * Removes every trap, ends the iterators and detaches (QEMU resumes the guest). With `resume: false` the guest
   * is left paused: the connection is closed without detaching.
   */
  async close(options: { resume?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    await this.exclusive(async () => {
      try {
        if (this.cpu.gdb.state !== 'idle') {
          await this.hold();
          await this.traps.clear();
        }
      } catch (err) {
        this.log.debug({ err }, 'pause before close failed');
      }
      this.closed = true;
      this.endStreams();
      if (options.resume === false) this.cpu.gdb.close();
      else await this.cpu.close();
    });
  }

  // ---------------------------------------------------------------- driver

  private async unsubscribe(id: number): Promise<void> {
    await this.exclusive(async () => {
      const sub = this.subs.get(id);
      if (sub === undefined) return;
      this.subs.delete(id);
      if (sub.trap !== undefined && !this.closed && this.cpu.gdb.state !== 'idle') {
        const trap = sub.trap;
        await this.whilePaused(() => this.traps.remove(trap));
      }
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.opChain.then(fn, fn);
    this.opChain = run.catch(() => undefined);
    return run;
  }

  private checkOpen(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.closed) throw new VigilError('VIGIL_GDB_STATE', 'the event layer is closed');
  }

  private async whilePaused<T>(fn: () => Promise<T>): Promise<T> {
    const wasRunning = this.held === undefined;
    if (wasRunning) await this.hold();
    try {
      return await fn();
    } finally {
      if (wasRunning && !this.closed && this.failure === undefined) await this.release();
    }
  }

  /** Gets the guest to a held stop. */
  private hold(): Promise<void> {
    this.checkOpen();
    if (this.held !== undefined) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.pauseWaiters.push({ resolve, reject }));
    if (this.freeRunning) this.cpu.gdb.interrupt();
    return p;
  }

  /** Lets a held guest go. */
  private async release(): Promise<void> {
    this.checkOpen();
    const go = this.held;
    if (go === undefined) return;
    this.held = undefined;
    await go();
  }

  private async plainContinue(): Promise<void> {
    await this.waitForConsumers();
    // A pause asked for while this stop was being handled: hold here instead of running.
    if (this.pauseWaiters.length > 0) {
      this.holdWith(() => this.plainContinue());
      return;
    }
    this.freeRunning = true;
    await this.cpu.gdb.continue();
    this.startDriver();
    if (this.pauseWaiters.length > 0) this.cpu.gdb.interrupt();
  }

  private startDriver(): void {
    this.driver = this.drive().catch((err: unknown) => this.fail(toVigilError(err)));
  }

  private async drive(): Promise<void> {
    const stop = await this.cpu.gdb.nextStop();
    this.freeRunning = false;
    this.stats.stops++;
    await this.handleStop(stop, false, undefined);
  }

  /** Handles one stop to the end: dispatches it, then either resumes (starting the driver again) or holds. */
  private async handleStop(stop: StopReply, stepping: boolean, cause: number | undefined): Promise<void> {
    if (stop.kind !== 'signal') {
      const event = this.newEvent({ kind: 'exit', vcpu: 0, rip: 0n, exit: stop.kind === 'exited' ? { code: stop.code } : { signal: stop.signal }, receivedAt: performance.now() });
      event.subscriptions = this.matchingSubs(event).map((s) => s.id);
      this.publish(event);
      this.fail(new VigilError('VIGIL_GDB_DISCONNECTED', 'the guest exited', { context: { exit: event.exit } }));
      return;
    }
    // Our own interrupt: the stop pause() asked for; nothing to report.
    if (stop.signal === 2 && this.pauseWaiters.length > 0 && !stepping) {
      this.holdWith(() => this.plainContinue());
      return;
    }
    const event = await this.classify(stop, stepping, cause);
    const subs = this.matchingSubs(event, cause);
    const verdict = await this.dispatch(event, subs);
    await this.applyEdits(event, verdict);
    const flow = verdict.flow;
    const ripMoved = verdict.skip !== undefined || verdict.registers?.rip !== undefined;
    const go = await this.plan(event, flow, ripMoved);
    if (go === undefined) return;
    if (flow.kind === 'pause' || this.pauseWaiters.length > 0 || event.kind === 'pause') this.holdWith(go);
    else await go();
  }

  /** What "go on" means after this event; undefined when the plan already continued (a step chain). */
  private async plan(event: VmiEvent, flow: Flow, ripMoved: boolean): Promise<(() => Promise<void>) | undefined> {
    const trapKind = event.kind === 'breakpoint' ? 'breakpoint' : event.kind === 'watchpoint' ? 'watchpoint' : undefined;
    if (flow.kind === 'step-then-re-arm') {
      return () => this.stepOver(event, trapKind, true);
    }
    // Continue. A breakpoint under RIP would fire again at once (QEMU re-checks it): step over it silently.
    if (event.kind === 'breakpoint' && event.address !== undefined) {
      const rip = ripMoved ? await this.cpu.register('rip', event.vcpu) : event.rip;
      if (rip === event.address && this.traps.hasBreakpointAt(rip)) return () => this.stepOver(event, 'breakpoint', false);
    }
    return () => this.plainContinue();
  }

  /** Register writes first, then a skip (RIP moved past the instruction, measured from the RIP they leave). */
  private async applyEdits(event: VmiEvent, verdict: Verdict): Promise<void> {
    if (verdict.registers !== undefined) await this.cpu.setRegisters(verdict.registers, event.vcpu);
    if (verdict.skip !== undefined) {
      const rip = await this.cpu.register('rip', event.vcpu);
      await this.cpu.setRegisters({ rip: rip + BigInt(verdict.skip) }, event.vcpu);
    }
  }

  /** Lifts the trap, steps the vCPU, re-arms; reports the step as an event when `report`, then goes on. */
  private async stepOver(event: VmiEvent, trapKind: 'breakpoint' | 'watchpoint' | undefined, report: boolean): Promise<void> {
    // QEMU (7.x) lets a single-step pass its own breakpoint under RIP, which saves the z0/Z0 pair; older ones
    // report the breakpoint again. Learned from the first step over a breakpoint, then trusted.
    const keep = trapKind === 'breakpoint' && this.stepPassesBreakpoints !== false;
    const probing = keep && this.stepPassesBreakpoints === undefined;
    const lifted = keep || trapKind === undefined || event.address === undefined ? [] : await this.traps.lift(event.address, trapKind);
    this.stats.steps++;
    let stop: StopReply;
    try {
      stop = await this.cpu.step(event.vcpu, this.stepTimeoutMs);
    } finally {
      await this.traps.rearm(lifted);
    }
    if (probing && stop.kind === 'signal' && stop.watch === undefined) {
      const rip = await this.cpu.register('rip', event.vcpu);
      this.stepPassesBreakpoints = rip !== event.address;
      if (!this.stepPassesBreakpoints) {
        this.log.debug('this QEMU reports a breakpoint under RIP on a single-step: lifting breakpoints to step over them');
        await this.stepOver(event, trapKind, report);
        return;
      }
    }
    if (report) {
      await this.handleStop(stop, true, event.seq);
      return;
    }
    // A silent step over a breakpoint: only something other than the step itself (a watchpoint) is news.
    if (stop.kind === 'signal' && stop.watch === undefined && !(stop.signal === 2 && this.pauseWaiters.length > 0)) {
      if (this.pauseWaiters.length > 0) this.holdWith(() => this.plainContinue());
      else await this.plainContinue();
      return;
    }
    await this.handleStop(stop, false, undefined);
  }

  private holdWith(go: () => Promise<void>): void {
    this.held = go;
    const ws = this.pauseWaiters;
    this.pauseWaiters = [];
    for (const w of ws) w.resolve();
  }

  private async classify(stop: StopReply & { kind: 'signal' }, stepping: boolean, cause?: number): Promise<VmiEvent> {
    const receivedAt = performance.now();
    const vcpu = this.cpu.vcpuOfThread(stop.thread);
    const rip = await this.cpu.register('rip', vcpu);
    const base = { vcpu, rip, receivedAt, ...(stop.thread === undefined ? {} : { thread: stop.thread }) };
    if (stop.watch !== undefined) {
      const access = stop.watch.kind === 'watch' ? 'write' : stop.watch.kind === 'rwatch' ? 'read' : 'access';
      return this.newEvent({ ...base, kind: 'watchpoint', address: stop.watch.address, access });
    }
    if (stepping) return this.newEvent({ ...base, kind: 'step', ...(cause === undefined ? {} : { cause }) });
    if (stop.signal === 5 && this.traps.hasBreakpointAt(rip)) return this.newEvent({ ...base, kind: 'breakpoint', address: rip });
    return this.newEvent({ ...base, kind: stop.signal === 2 ? 'pause' : 'stop' });
  }

  private newEvent(e: Omit<VmiEvent, 'seq' | 'subscriptions'>): VmiEvent {
    return { seq: ++this.seq, subscriptions: [], ...e };
  }

  private matchingSubs(event: VmiEvent, cause?: number): Sub[] {
    const out: Sub[] = [];
    for (const sub of this.subs.values()) {
      if (!filterMatches(sub.filter, event)) continue;
      if (sub.trap !== undefined) {
        const viaCause = event.kind === 'step' && cause !== undefined && this.causeSubs.get(cause)?.includes(sub.id) === true;
        if (!viaCause && !trapMatches(sub.trap, event)) continue;
      }
      out.push(sub);
    }
    return out;
  }

  /** Which subscriptions saw an event, kept for the step event that may follow it. */
  private causeSubs = new Map<number, number[]>();

  private async dispatch(event: VmiEvent, subs: readonly Sub[]): Promise<Verdict> {
    event.subscriptions = subs.map((s) => s.id);
    this.causeSubs.clear();
    this.causeSubs.set(event.seq, event.subscriptions);
    const ctx: EventContext = {
      cpu: this.cpu,
      registers: () => this.cpu.registers(event.vcpu),
      read: (address, length) => this.cpu.readVirtual(address, length, event.vcpu),
    };
    const verdict: Verdict = { flow: { kind: 'continue' } };
    for (const sub of subs) {
      let result: Verdict;
      try {
        result = toVerdict(await sub.handler(event, ctx));
      } catch (err) {
        this.log.warn({ err, subscription: sub.id, seq: event.seq }, 'event handler failed; continuing');
        continue;
      }
      if (result.registers !== undefined) verdict.registers = { ...(verdict.registers ?? {}), ...result.registers };
      if (result.skip !== undefined) verdict.skip ??= result.skip;
      if (FLOW_RANK[result.flow.kind] > FLOW_RANK[verdict.flow.kind]) verdict.flow = result.flow;
    }
    this.publish(event);
    return verdict;
  }

  private publish(event: VmiEvent): void {
    for (const s of this.streams) if (s.filter === undefined || filterMatches(s.filter, event)) s.queue.push(event);
  }

  private async waitForConsumers(): Promise<void> {
    for (const s of this.streams) if (s.queue.length >= s.queue.highWaterMark) await s.queue.drained();
  }

  private endStreams(): void {
    for (const s of [...this.streams]) s.queue.end();
  }

  private fail(err: VigilError): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    if (!this.closed) this.log.warn({ err }, 'event loop stopped');
    const ws = this.pauseWaiters;
    this.pauseWaiters = [];
    for (const w of ws) w.reject(err);
    this.endStreams();
  }
}
