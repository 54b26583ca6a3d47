/**
 * Guest physical memory: reads and writes by guest-physical address over a backend, split at the map's range
 * edges and refused in holes; typed reads, batches coalesced by page and a fast search.
 */
import { VigilError } from '../../core/errors.js';
import type { QmpAuditRecord, QmpAuditSink } from '../../qmp/audit-record.js';
import type { MemoryBackend } from './backend.js';
import { checkPhysArgs, type PhysMap, type PhysSegment } from './phys-map.js';

/** Where writes are audited, like dangerous QMP commands are. */
export interface MemoryAudit {
  vm: string;
  principal: string;
  sinks: readonly QmpAuditSink[];
}

/** Options of a physical write. */
export interface WriteOptions {
  /** Writing guest memory can crash or subvert the guest: refused (and audited as refused) unless true. */
  allowDangerous?: boolean;
  /** Why, recorded in the audit log. */
  purpose?: string;
}

/** One request of a scatter-gather batch. */
export interface PhysRequest {
  pa: number;
  len: number;
}

/** Bounds and limits of a search. */
export interface SearchOptions {
  /** First guest-physical address searched (default 0). */
  start?: number;
  /** Address after the last one searched (default: end of the map). */
  end?: number;
  /** Stop after this many matches (default 1000). */
  limit?: number;
  /** Bytes read per backend call (default 1 MiB: larger buffers fall out of the CPU caches and read slower). */
  chunkBytes?: number;
}

/** The audit log's name for a physical write. */
export const WRITE_PHYS_COMMAND = 'vmi-write-phys';
/** The audit log's name for a virtual write. */
export const WRITE_VIRT_COMMAND = 'vmi-write-virt';

const PAGE = 4096;

/** Accepts a number or a bigint address and gives a safe number. */
export function toPhys(pa: number | bigint): number {
  if (typeof pa === 'bigint') {
    if (pa < 0n || pa > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new VigilError('VIGIL_INVALID_INPUT', `physical address 0x${pa.toString(16)} is outside 0..2^53`, { context: { field: 'pa', value: `0x${pa.toString(16)}` } });
    }
    return Number(pa);
  }
  return pa;
}

/** Reads and writes guest physical memory through one backend. */
export class GuestMemory {
  constructor(
    readonly map: PhysMap,
    readonly backend: MemoryBackend,
    private readonly auditTo?: MemoryAudit,
  ) {}

  /** `len` bytes at guest-physical `pa`; VIGIL_VMI_HOLE if any byte lies outside RAM. */
  async readPhys(pa: number | bigint, len: number): Promise<Buffer> {
    const dst = Buffer.allocUnsafe(len);
    await this.readPhysInto(toPhys(pa), dst);
    return dst;
  }

  /** Fills `dst` from guest-physical `pa` (no allocation: for hot loops). */
  async readPhysInto(pa: number, dst: Buffer): Promise<void> {
    // Fast path (page-table entries, single pages): one range, one backend call, no segment list.
    const r = this.map.find(pa);
    if (r !== undefined && pa + dst.length <= r.start + r.size && dst.length <= this.backend.capabilities.maxTransfer && this.backend.serves(r)) {
      checkPhysArgs(pa, dst.length);
      await this.backend.read(r, r.blockOffset + (pa - r.start), pa, dst);
      return;
    }
    for (const seg of this.segments(pa, dst.length)) {
      await this.transfer(seg, dst, (s, b) => this.backend.read(s.range, s.blockOffset, s.pa, b));
    }
  }

  /** Writes `data` at guest-physical `pa`: refused without allowDangerous, audited either way. */
  async writePhys(pa: number | bigint, data: Buffer, options: WriteOptions = {}): Promise<void> {
    const at = toPhys(pa);
    await this.audited(WRITE_PHYS_COMMAND, { pa: `0x${at.toString(16)}`, len: data.length }, options, async () => {
      if (!this.backend.capabilities.write) {
        throw new VigilError('VIGIL_VMI_BACKEND', `the ${this.backend.name} backend is read-only here; open the VM's memory with writable: true`, { context: { backend: this.backend.name } });
      }
      const segs = this.segments(at, data.length);
      for (const s of segs) {
        if (!s.range.writable) throw new VigilError('VIGIL_INVALID_INPUT', `guest-physical 0x${s.pa.toString(16)} is ROM, which the guest cannot write either`, { context: { pa: `0x${s.pa.toString(16)}` } });
      }
      for (const seg of segs) await this.transfer(seg, data, (s, b) => this.backend.write(s.range, s.blockOffset, s.pa, b));
    });
  }

  /**
   * Runs `action` as the audited operation `command`: refused (and recorded as refused) without allowDangerous.
   * Exposed for the virtual-address writer, which audits under its own name.
   */
  async audited(command: string, args: Record<string, unknown>, options: WriteOptions, action: () => Promise<void>): Promise<void> {
    const time = new Date();
    const started = performance.now();
    const base = { time, vm: this.auditTo?.vm ?? 'unknown', principal: this.auditTo?.principal ?? 'unknown', command, args, class: 'dangerous' as const, purpose: options.purpose };
    const reason = 'writing guest memory can crash or subvert the guest';
    if (options.allowDangerous !== true) {
      this.record({ ...base, reason, outcome: 'refused', error: 'VIGIL_GUARD_REFUSED', durationMs: performance.now() - started });
      throw new VigilError('VIGIL_GUARD_REFUSED', `${command} refused: ${reason}; pass allowDangerous (CLI: --allow-dangerous) to do it anyway (it is audited)`, {
        context: { command, class: 'dangerous' },
      });
    }
    try {
      await action();
    } catch (err) {
      this.record({ ...base, reason, outcome: 'failed', error: err instanceof VigilError ? err.code : 'error', durationMs: performance.now() - started });
      throw err;
    }
    this.record({ ...base, reason, outcome: 'ok', durationMs: performance.now() - started });
  }

  /** Records a bulk copy of guest memory (a dump) in the audit sinks, as QMP's pmemsave is: class memory-dump, with its purpose. */
  recordDump(command: string, args: Record<string, unknown>, purpose: string | undefined, outcome: 'ok' | 'failed', durationMs: number, error?: string): void {
    const vm = this.auditTo?.vm ?? 'unknown';
    const principal = this.auditTo?.principal ?? 'unknown';
    this.record({ time: new Date(), vm, principal, command, args, class: 'memory-dump', reason: 'it copies guest physical memory, which may hold secrets', purpose: purpose ?? 'unspecified', outcome, error, durationMs });
  }

  /** Unsigned 8-bit value at `pa`. */
  async readU8(pa: number | bigint): Promise<number> {
    return (await this.readPhys(pa, 1)).readUInt8(0);
  }

  /** Unsigned 16-bit little-endian value at `pa`. */
  async readU16(pa: number | bigint): Promise<number> {
    return (await this.readPhys(pa, 2)).readUInt16LE(0);
  }

  /** Unsigned 32-bit little-endian value at `pa`. */
  async readU32(pa: number | bigint): Promise<number> {
    return (await this.readPhys(pa, 4)).readUInt32LE(0);
  }

  /** Unsigned 64-bit little-endian value at `pa`, as a bigint (page-table entries and pointers exceed 2^53). */
  async readU64(pa: number | bigint): Promise<bigint> {
    return (await this.readPhys(pa, 8)).readBigUInt64LE(0);
  }

  /** The NUL-terminated string at `pa` (at most `max` bytes, read a page at a time so a hole after it is no error). */
  async readCString(pa: number | bigint, max = 4096, encoding: BufferEncoding = 'utf8'): Promise<string> {
    let at = toPhys(pa);
    const parts: Buffer[] = [];
    let total = 0;
    while (total < max) {
      const n = Math.min(PAGE - (at % PAGE), max - total);
      const chunk = await this.readPhys(at, n);
      const nul = chunk.indexOf(0);
      if (nul >= 0) {
        parts.push(chunk.subarray(0, nul));
        break;
      }
      parts.push(chunk);
      total += n;
      at += n;
    }
    return Buffer.concat(parts).toString(encoding);
  }

  /**
   * Reads many small pieces: requests touching the same or adjacent pages are merged into one backend read.
   * Results come back in request order; a request in a hole fails the whole batch (VIGIL_VMI_HOLE).
   */
  async readBatch(requests: readonly PhysRequest[]): Promise<Buffer[]> {
    const order = requests.map((r, i) => ({ ...r, i })).sort((a, b) => a.pa - b.pa);
    const out: Buffer[] = new Array<Buffer>(requests.length);
    let k = 0;
    while (k < order.length) {
      const first = order[k];
      if (first === undefined) break;
      checkPhysArgs(first.pa, first.len);
      const spanStart = first.pa - (first.pa % PAGE);
      let spanEnd = pageCeil(first.pa + first.len);
      let j = k + 1;
      for (; j < order.length; j++) {
        const next = order[j];
        if (next === undefined) break;
        checkPhysArgs(next.pa, next.len);
        const nextStart = next.pa - (next.pa % PAGE);
        if (nextStart > spanEnd) break;
        spanEnd = Math.max(spanEnd, pageCeil(next.pa + next.len));
      }
      const span = await this.readSpanForBatch(spanStart, spanEnd, order.slice(k, j));
      for (let m = k; m < j; m++) {
        const r = order[m];
        if (r === undefined) continue;
        out[r.i] = Buffer.from(span.buf.subarray(r.pa - span.start, r.pa - span.start + r.len));
      }
      k = j;
    }
    return out;
  }

  /**
   * Every guest-physical address where `needle` occurs in RAM the backend serves, in ascending order. Reads
   * big chunks and keeps the last needle.length-1 bytes of each, so matches across chunk edges (and across
   * adjacent RAM ranges) are found.
   */
  async search(needle: Buffer | string, options: SearchOptions = {}): Promise<number[]> {
    const pattern = typeof needle === 'string' ? Buffer.from(needle, 'utf8') : needle;
    if (pattern.length === 0) throw new VigilError('VIGIL_INVALID_INPUT', 'search pattern is empty: give at least one byte', { context: { field: 'pattern' } });
    const limit = options.limit ?? 1000;
    const chunk = Math.max(options.chunkBytes ?? 1 << 20, pattern.length);
    const lo = options.start ?? 0;
    const hi = options.end ?? Number.MAX_SAFE_INTEGER;
    const keep = pattern.length - 1;
    const buf = Buffer.allocUnsafe(chunk + keep);
    const hits: number[] = [];
    for (const run of this.servedRuns()) {
      const start = Math.max(run.start, lo);
      const end = Math.min(run.end, hi);
      if (start >= end) continue;
      // `carried` bytes at the front of buf are the tail of the previous chunk (addresses at - carried ...).
      let carried = 0;
      for (let at = start; at < end; ) {
        const n = Math.min(chunk, end - at);
        await this.readPhysInto(at, buf.subarray(carried, carried + n));
        const filled = carried + n;
        const base = at - carried;
        let from = 0;
        for (;;) {
          const idx = buf.indexOf(pattern, from);
          if (idx < 0 || idx + pattern.length > filled) break;
          hits.push(base + idx);
          if (hits.length >= limit) return hits;
          from = idx + 1;
        }
        const tail = Math.min(keep, filled);
        buf.copy(buf, 0, filled - tail, filled);
        carried = tail;
        at += n;
      }
    }
    return hits;
  }

  /** Closes the backend. */
  close(): Promise<void> {
    return this.backend.close();
  }

  /** Contiguous stretches of RAM the backend serves, as [start, end). */
  servedRuns(): { start: number; end: number }[] {
    const runs: { start: number; end: number }[] = [];
    for (const r of this.map.ranges) {
      if (!this.backend.serves(r)) continue;
      const last = runs[runs.length - 1];
      if (last !== undefined && last.end === r.start) last.end = r.start + r.size;
      else runs.push({ start: r.start, end: r.start + r.size });
    }
    return runs;
  }

  private segments(pa: number, len: number): PhysSegment[] {
    const segs = this.map.segments(pa, len);
    for (const s of segs) {
      if (!this.backend.serves(s.range)) {
        throw new VigilError('VIGIL_VMI_BACKEND', `the ${this.backend.name} backend cannot reach guest-physical 0x${s.pa.toString(16)} (${s.range.block}); use the proc-mem backend for ROMs`, {
          context: { pa: `0x${s.pa.toString(16)}`, block: s.range.block, backend: this.backend.name },
        });
      }
    }
    return segs;
  }

  /** One segment, split into the backend's preferred transfer size. */
  private async transfer(seg: PhysSegment, buf: Buffer, op: (s: PhysSegment, b: Buffer) => Promise<void>): Promise<void> {
    const max = this.backend.capabilities.maxTransfer;
    for (let done = 0; done < seg.len; done += max) {
      const n = Math.min(max, seg.len - done);
      const part: PhysSegment = { ...seg, pa: seg.pa + done, blockOffset: seg.blockOffset + done, len: n, bufOffset: seg.bufOffset + done };
      await op(part, buf.subarray(part.bufOffset, part.bufOffset + n));
    }
  }

  /** Reads a merged span; if it crosses a hole, falls back to reading the requests one by one so the error names the right address. */
  private async readSpanForBatch(start: number, end: number, reqs: readonly PhysRequest[]): Promise<{ start: number; buf: Buffer }> {
    const buf = Buffer.allocUnsafe(end - start);
    try {
      await this.readPhysInto(start, buf);
    } catch (err) {
      if (!(err instanceof VigilError) || (err.code !== 'VIGIL_VMI_HOLE' && err.code !== 'VIGIL_VMI_BACKEND')) throw err;
      // The page-rounded span touched a hole that the requests themselves may not: read each one exactly.
      for (const r of reqs) await this.readPhysInto(r.pa, buf.subarray(r.pa - start, r.pa - start + r.len));
    }
    return { start, buf };
  }

  private record(entry: QmpAuditRecord): void {
    for (const sink of this.auditTo?.sinks ?? []) sink.record(entry);
  }
}

function pageCeil(n: number): number {
  return Math.ceil(n / PAGE) * PAGE;
}
