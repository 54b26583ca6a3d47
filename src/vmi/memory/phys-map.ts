/**
 * The guest-physical map: which guest-physical ranges are RAM, and where each lies inside its RAM block.
 * It is parsed from QEMU's own flat view (`info mtree -f`), never assumed: q35 splits RAM at 2 GiB below the
 * PCI hole when RAM exceeds 2 GiB ("pc" at 3.5 GiB) and maps the rest from 4 GiB up.
 */
import { VigilError } from '../../core/errors.js';

/** One range of the flat view of the "memory" address space. */
export interface FlatRange {
  /** First guest-physical address. */
  start: number;
  /** Bytes covered. */
  size: number;
  /** QEMU's kind: ram, rom, i/o, romd, ... */
  kind: string;
  /** The memory region that backs it (for RAM: the RAM block's name, e.g. the memory backend's id). */
  region: string;
  /** Offset of `start` inside that region. */
  offset: number;
}

/** One RAM range of the guest-physical map. */
export interface RamRange {
  start: number;
  size: number;
  /** The RAM block (memory region) it belongs to. */
  block: string;
  /** Offset of `start` inside the block (for a memory-backend-file: the offset in the file). */
  blockOffset: number;
  /** False for ROM-like ranges (rom, romd): the guest cannot write them. */
  writable: boolean;
}

/** A piece of a physical access that falls inside one RAM range. */
export interface PhysSegment {
  range: RamRange;
  /** Guest-physical address of the piece. */
  pa: number;
  /** Offset of the piece inside its RAM block. */
  blockOffset: number;
  len: number;
  /** Offset of the piece inside the caller's buffer. */
  bufOffset: number;
}

const LINE = /^\s*([0-9a-f]+)-([0-9a-f]+) \(prio -?\d+, ([^)]+)\): (.+?)(?: @([0-9a-f]+))?(?: \[disabled\])?(?: KVM)?\s*$/i;

function hexToNumber(text: string, what: string): number {
  const n = BigInt(`0x${text}`);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new VigilError('VIGIL_INTERNAL', `${what} 0x${text} in QEMU's memory tree is beyond 2^53`);
  return Number(n);
}

/**
 * The flat ranges of the view that serves address space `as` (default "memory", the CPUs' and DMA's view)
 * in the text of HMP `info mtree -f`.
 */
export function parseFlatView(text: string, as = 'memory'): FlatRange[] {
  const lines = text.split('\n');
  let inView = false;
  let found = false;
  const out: FlatRange[] = [];
  for (const line of lines) {
    if (/^FlatView #\d+/.test(line)) {
      if (found) break;
      inView = false;
      continue;
    }
    const asLine = /^\s*AS "([^"]+)"/.exec(line);
    if (asLine !== null) {
      if (asLine[1] === as) {
        inView = true;
        found = true;
      }
      continue;
    }
    if (!inView) continue;
    const m = LINE.exec(line);
    if (m === null) continue;
    const start = hexToNumber(m[1] ?? '0', 'start');
    const last = hexToNumber(m[2] ?? '0', 'end');
    out.push({ start, size: last - start + 1, kind: (m[3] ?? '').trim(), region: (m[4] ?? '').trim(), offset: m[5] === undefined ? 0 : hexToNumber(m[5], 'offset') });
  }
  if (!found) throw new VigilError('VIGIL_INTERNAL', `QEMU's memory tree has no flat view for address space "${as}"`, { context: { as } });
  return out;
}

/** The guest-physical RAM ranges, sorted, with lookups that split accesses at range edges and refuse holes. */
export class PhysMap {
  readonly ranges: readonly RamRange[];

  constructor(ranges: readonly RamRange[]) {
    this.ranges = [...ranges].sort((a, b) => a.start - b.start);
  }

  /** The map of the RAM (and ROM) ranges of a flat view; `blocks` limits it to those RAM blocks. */
  static fromFlatView(flat: readonly FlatRange[], blocks?: ReadonlySet<string>): PhysMap {
    const ranges: RamRange[] = [];
    for (const r of flat) {
      if (r.kind !== 'ram' && r.kind !== 'rom' && r.kind !== 'romd') continue;
      if (blocks !== undefined && !blocks.has(r.region)) continue;
      const prev = ranges[ranges.length - 1];
      // QEMU lists one RAM block in several adjacent pieces when something above was carved out and put back.
      if (prev !== undefined && prev.block === r.region && prev.start + prev.size === r.start && prev.blockOffset + prev.size === r.offset && prev.writable === (r.kind === 'ram')) {
        prev.size += r.size;
        continue;
      }
      ranges.push({ start: r.start, size: r.size, block: r.region, blockOffset: r.offset, writable: r.kind === 'ram' });
    }
    return new PhysMap(ranges);
  }

  /** Total bytes of RAM mapped. */
  get totalBytes(): number {
    return this.ranges.reduce((n, r) => n + r.size, 0);
  }

  /** The RAM range holding `pa`, or undefined in a hole. */
  find(pa: number): RamRange | undefined {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.ranges[mid];
      if (r === undefined) break;
      if (pa < r.start) hi = mid - 1;
      else if (pa >= r.start + r.size) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  /** Splits [pa, pa+len) at range edges; throws VIGIL_VMI_HOLE naming the first unbacked address. */
  segments(pa: number, len: number): PhysSegment[] {
    checkPhysArgs(pa, len);
    const out: PhysSegment[] = [];
    let done = 0;
    while (done < len) {
      const at = pa + done;
      const r = this.find(at);
      if (r === undefined) throw holeError(at, pa, len);
      const n = Math.min(len - done, r.start + r.size - at);
      out.push({ range: r, pa: at, blockOffset: r.blockOffset + (at - r.start), len: n, bufOffset: done });
      done += n;
    }
    return out;
  }
}

/** Refuses negative, fractional or too large addresses and lengths. */
export function checkPhysArgs(pa: number, len: number): void {
  if (!Number.isSafeInteger(pa) || pa < 0) {
    throw new VigilError('VIGIL_INVALID_INPUT', `physical address ${String(pa)} is not a non-negative integer below 2^53`, { context: { field: 'pa', value: String(pa) } });
  }
  if (!Number.isSafeInteger(len) || len < 0) {
    throw new VigilError('VIGIL_INVALID_INPUT', `length ${String(len)} is not a non-negative integer`, { context: { field: 'len', value: String(len) } });
  }
}

/** The typed error of an access that touches a hole, naming the first address without RAM. */
export function holeError(at: number, pa: number, len: number): VigilError {
  const hex = `0x${at.toString(16)}`;
  return new VigilError('VIGIL_VMI_HOLE', `guest-physical address ${hex} is not backed by RAM (access 0x${pa.toString(16)}+${len}); see 'vigil vmi <vm> map' for the RAM ranges`, {
    context: { address: hex, pa: `0x${pa.toString(16)}`, len },
  });
}
