/**
 * Parsers for the small structured replies of the remote protocol: thread ids (`p1.2`, `2`, `-1`), stop replies
 * (`T05thread:p01.02;swbreak:;`, `S05`, `W00`, `X09`), qSupported feature lists and thread lists.
 */
import { VigilError } from '../core/errors.js';

/** A thread id; `pid` only in multiprocess syntax. -1 means all, 0 means any. */
export interface ThreadId {
  pid?: number;
  tid: number;
}

/** Why the target stopped, as the stub reported it. */
export type StopReply =
  | {
      kind: 'signal';
      /** The GDB signal number (5 = SIGTRAP for breakpoints, watchpoints and steps; 2 = SIGINT for an interrupt). */
      signal: number;
      thread?: ThreadId;
      /** Set for watchpoint stops: which kind and the data address that triggered it. */
      watch?: { kind: 'watch' | 'rwatch' | 'awatch'; address: bigint };
      /** The stub said it was a software (`swbreak`) or hardware (`hwbreak`) breakpoint. */
      breakpoint?: 'sw' | 'hw';
      /** Register values sent with the stop (regnum in hex -> raw target-order bytes). */
      registers: Map<number, Buffer>;
      /** Every other `key:value` pair, kept verbatim. */
      extra: Record<string, string>;
    }
  | { kind: 'exited'; code: number; pid?: number }
  | { kind: 'terminated'; signal: number; pid?: number };

function hexInt(text: string, what: string): number {
  if (!/^-?[0-9a-fA-F]+$/.test(text)) throw new VigilError('VIGIL_GDB_PROTOCOL', `bad ${what} '${text}' from the gdbstub`, { context: { what, text } });
  return Number.parseInt(text, 16);
}

/** Parses `p<pid>.<tid>`, `p<pid>`, `<tid>` (hex; -1 all, 0 any). */
export function parseThreadId(text: string): ThreadId {
  if (text.startsWith('p')) {
    const [pid, tid] = text.slice(1).split('.', 2);
    return { pid: hexInt(pid ?? '', 'process id'), tid: tid === undefined ? -1 : hexInt(tid, 'thread id') };
  }
  return { tid: hexInt(text, 'thread id') };
}

/** The wire form of a thread id (multiprocess syntax when it has a pid). */
export function formatThreadId(t: ThreadId): string {
  const hex = (n: number): string => (n < 0 ? '-1' : n.toString(16));
  return t.pid === undefined ? hex(t.tid) : `p${hex(t.pid)}.${hex(t.tid)}`;
}

/** Parses a stop reply (`S`, `T`, `W`, `X`); throws VIGIL_GDB_PROTOCOL on anything else. */
export function parseStopReply(text: string): StopReply {
  const type = text[0];
  if (type === 'S' || type === 'T') {
    const signal = hexInt(text.slice(1, 3), 'stop signal');
    const reply: StopReply = { kind: 'signal', signal, registers: new Map(), extra: {} };
    if (type === 'S') return reply;
    for (const pair of text.slice(3).split(';')) {
      if (pair === '') continue;
      const colon = pair.indexOf(':');
      const key = colon === -1 ? pair : pair.slice(0, colon);
      const value = colon === -1 ? '' : pair.slice(colon + 1);
      if (key === 'thread') reply.thread = parseThreadId(value);
      else if (key === 'watch' || key === 'rwatch' || key === 'awatch') reply.watch = { kind: key, address: BigInt(`0x${value}`) };
      else if (key === 'swbreak') reply.breakpoint = 'sw';
      else if (key === 'hwbreak') reply.breakpoint = 'hw';
      else if (/^[0-9a-fA-F]+$/.test(key)) reply.registers.set(Number.parseInt(key, 16), Buffer.from(value, 'hex'));
      else reply.extra[key] = value;
    }
    return reply;
  }
  if (type === 'W' || type === 'X') {
    const [num, proc] = text.slice(1).split(';', 2);
    const pid = proc?.startsWith('process:') ? hexInt(proc.slice(8), 'process id') : undefined;
    const n = hexInt(num ?? '', type === 'W' ? 'exit code' : 'signal');
    const base = type === 'W' ? { kind: 'exited' as const, code: n } : { kind: 'terminated' as const, signal: n };
    return pid === undefined ? base : { ...base, pid };
  }
  throw new VigilError('VIGIL_GDB_PROTOCOL', `'${text.slice(0, 40)}' is not a stop reply`, { context: { reply: text.slice(0, 200) } });
}

/** True when a packet is a stop reply (what arrives when a resumed target stops). */
export function isStopReply(text: string): boolean {
  return /^(S[0-9a-fA-F]{2}|T[0-9a-fA-F]{2}|W[0-9a-fA-F]|X[0-9a-fA-F])/.test(text);
}

/** The features of a qSupported reply: `name+` -> true, `name-` -> false, `name=value` -> value. */
export function parseSupported(text: string): Map<string, string | boolean> {
  const out = new Map<string, string | boolean>();
  for (const item of text.split(';')) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq !== -1) out.set(item.slice(0, eq), item.slice(eq + 1));
    else if (item.endsWith('+')) out.set(item.slice(0, -1), true);
    else if (item.endsWith('-') || item.endsWith('?')) out.set(item.slice(0, -1), false);
    else out.set(item, true);
  }
  return out;
}

/** The ids of one qfThreadInfo/qsThreadInfo reply (`m1,2` -> [1,2]); `done` when it was `l`. */
export function parseThreadList(text: string): { ids: ThreadId[]; done: boolean } {
  if (text.startsWith('l')) return { ids: text.length > 1 ? text.slice(1).split(',').map(parseThreadId) : [], done: true };
  if (text.startsWith('m')) return { ids: text.slice(1).split(',').filter((s) => s !== '').map(parseThreadId), done: false };
  throw new VigilError('VIGIL_GDB_PROTOCOL', `'${text.slice(0, 40)}' is not a thread list reply`, { context: { reply: text.slice(0, 200) } });
}
