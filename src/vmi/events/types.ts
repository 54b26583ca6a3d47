/** The shapes of the events API: what an event says, how a subscription filters, what a handler may answer. */
import type { ThreadId } from '../../gdb/stop-reply.js';
import type { Registers, VmiCpu } from '../cpu/vcpu.js';

/** What happened. `pause` is a stop the user asked for; `stop` is a stop with no known cause. */
export type EventKind = 'breakpoint' | 'watchpoint' | 'step' | 'pause' | 'stop' | 'exit';

/** A trap to arm: a breakpoint (software int3-style Z0 or hardware Z1) or a watchpoint (Z2 write, Z3 read, Z4 access). */
export type Trap =
  | { type: 'breakpoint'; address: bigint; hardware?: boolean }
  | { type: 'watchpoint'; address: bigint; length: number; access: 'write' | 'read' | 'access' };

/** One event, numbered in arrival order (seq 1, 2, 3 ... with no gaps). */
export interface VmiEvent {
  seq: number;
  kind: EventKind;
  vcpu: number;
  thread?: ThreadId;
  /** The instruction pointer of the vCPU that stopped (after the access, for watchpoints). */
  rip: bigint;
  /** The breakpoint's address, or the watchpoint's address (the start of the watched range). */
  address?: bigint;
  /** For watchpoints: the access that fired it. */
  access?: 'write' | 'read' | 'access';
  /** For `step` events that follow a step-then-re-arm: the seq of the event that asked for the step. */
  cause?: number;
  /** Ids of the subscriptions whose filter matched. */
  subscriptions: number[];
  /** For `exit`: the code or signal QEMU reported. */
  exit?: { code?: number; signal?: number };
  /** Host time the stop arrived (performance.now(), ms). */
  receivedAt: number;
}

/** Which events a subscription receives; every given field must match. */
export interface EventFilter {
  kind?: EventKind | readonly EventKind[];
  /** Breakpoint address, or an address inside the watched range. */
  address?: bigint;
  vcpu?: number | readonly number[];
}

/**
 * What a handler wants done before the guest goes on. With several handlers: register writes merge, the first
 * skip applies (after the writes), and the strongest flow wins: pause > step-then-re-arm > continue.
 */
export type EventAction =
  | 'continue'
  | 'step-then-re-arm'
  | 'pause'
  | { action: 'continue' }
  | { action: 'step-then-re-arm' }
  | { action: 'pause' }
  /** Write these registers of the event's vCPU, then continue. */
  | { action: 'set-registers'; registers: Registers }
  /** Move RIP past the instruction (its length in bytes; Vigil has no x86 decoder) and go on without running it. */
  | { action: 'skip'; length: number };

/** What a handler can do while the guest is paused for its event. */
export interface EventContext {
  cpu: VmiCpu;
  /** All registers of the event's vCPU. */
  registers(): Promise<Registers>;
  /** Guest virtual memory as the event's vCPU sees it. */
  read(address: bigint, length: number): Promise<Buffer>;
}

/** A subscription's callback; returning nothing means continue. */
export type EventHandler = (event: VmiEvent, ctx: EventContext) => EventAction | void | Promise<EventAction | void>;

/** A live subscription. */
export interface Subscription {
  id: number;
  filter: EventFilter;
  trap?: Trap;
  /** Removes the handler and disarms its trap (when no other subscription uses it). */
  unsubscribe(): Promise<void>;
}
