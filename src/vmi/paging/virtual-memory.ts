/**
 * Guest virtual memory: translations cached per DTB (CR3), reads and writes that cross page boundaries. The
 * cache must be dropped when the guest may have changed its tables: `invalidate()` (all, or one DTB) is called
 * by the events layer on every resume; a DTB never seen before simply starts empty.
 */
import type { GuestMemory, WriteOptions } from '../memory/guest-memory.js';
import { WRITE_VIRT_COMMAND } from '../memory/guest-memory.js';
import { toVa, walk, type PagingLevels, type PhysReader, type Translation } from './walker.js';

/**
 * Which address space a virtual access uses: a DTB (CR3) given outright, or the one vCPU `vcpu` runs in now
 * (asked of the `cr3Of` source at each access, since the guest switches address spaces all the time).
 */
export type VirtualAccess = { dtb: bigint } | { vcpu: number };

/** Where a vCPU's current CR3 comes from: QEMU's monitor here, the gdbstub once that layer is wired in. */
export type Cr3Source = (vcpu: number) => Promise<bigint>;

/** Tuning and wiring of a VirtualMemory. */
export interface VirtualMemoryOptions {
  /** Cached 4 KiB translations per DTB before the oldest half is dropped (default 65536). */
  maxEntriesPerDtb?: number;
  /** Page-table pages kept, 4 KiB each (default 4096; 0 turns the table cache off). */
  maxTablePages?: number;
  /** Needed for `{ vcpu }` accesses. */
  cr3Of?: Cr3Source;
}

/** Cache counters, for the benchmark and diagnostics. */
export interface CacheStats {
  hits: number;
  misses: number;
  entries: number;
}

interface CachedPage {
  /** Guest-physical address of this 4 KiB page of the mapping. */
  pa4k: number;
  t: Translation;
}

const PAGE = 4096;
const PAGE_SHIFT = 12n;

/**
 * Page-table pages read whole and kept, like a CPU's paging-structure caches: walks of nearby addresses share
 * their upper tables, so a cold translation costs about one backend read instead of four or five. Stale under
 * the same conditions as cached translations, and dropped with them.
 */
class TablePages implements PhysReader {
  private readonly pages = new Map<number, Buffer>();

  constructor(
    private readonly phys: PhysReader,
    private readonly maxPages: number,
  ) {}

  async readPhysInto(pa: number, dst: Buffer): Promise<void> {
    const base = pa - (pa % PAGE);
    if (pa + dst.length > base + PAGE) return this.phys.readPhysInto(pa, dst);
    let page = this.pages.get(base);
    if (page === undefined) {
      page = Buffer.allocUnsafe(PAGE);
      await this.phys.readPhysInto(base, page);
      if (this.pages.size >= this.maxPages) evictOldestHalf(this.pages);
      this.pages.set(base, page);
    }
    page.copy(dst, 0, pa - base, pa - base + dst.length);
  }

  clear(): void {
    this.pages.clear();
  }
}

/** Translates and accesses guest virtual memory over guest physical memory. */
export class VirtualMemory {
  private readonly cache = new Map<bigint, Map<number, CachedPage>>();
  private readonly tables: TablePages;
  private hits = 0;
  private misses = 0;

  private readonly maxEntriesPerDtb: number;
  private readonly walkReader: PhysReader;
  private readonly cr3Of: Cr3Source | undefined;

  constructor(
    readonly phys: PhysReader & Partial<Pick<GuestMemory, 'writePhys' | 'audited'>>,
    /** 5 when the guest runs with CR4.LA57 set. */
    readonly levels: PagingLevels = 4,
    options: VirtualMemoryOptions = {},
  ) {
    this.maxEntriesPerDtb = options.maxEntriesPerDtb ?? 1 << 16;
    const maxTablePages = options.maxTablePages ?? 4096;
    this.tables = new TablePages(phys, maxTablePages);
    this.walkReader = maxTablePages > 0 ? this.tables : phys;
    this.cr3Of = options.cr3Of;
  }

  /** The DTB of an access: given, or the vCPU's current CR3. */
  async dtbOf(access: VirtualAccess): Promise<bigint> {
    if ('dtb' in access) return access.dtb;
    if (this.cr3Of === undefined) throw new TypeError('this VirtualMemory has no CR3 source: give { dtb } or construct it with cr3Of');
    return this.cr3Of(access.vcpu);
  }

  /** The translation of `va` under `dtb`, from the cache when possible; VIGIL_VMI_PAGE_FAULT if not mapped. */
  async translate(va: number | bigint, dtb: bigint): Promise<Translation> {
    const v = toVa(va);
    const vpn = Number(v >> PAGE_SHIFT);
    let perDtb = this.cache.get(dtb);
    const hit = perDtb?.get(vpn);
    if (hit !== undefined) {
      this.hits++;
      const off = Number(v & 0xfffn);
      return { ...hit.t, va: v, pa: hit.pa4k + off };
    }
    this.misses++;
    // No shared scratch buffer: concurrent walks interleave at every await.
    const t = await walk(this.walkReader, v, dtb, this.levels);
    if (perDtb === undefined) {
      perDtb = new Map();
      this.cache.set(dtb, perDtb);
    }
    if (perDtb.size >= this.maxEntriesPerDtb) evictOldestHalf(perDtb);
    perDtb.set(vpn, { pa4k: t.pa - Number(v & 0xfffn), t });
    return t;
  }

  /** Guest-physical address of `va` (translate(...).pa). */
  async toPhys(va: number | bigint, dtb: bigint): Promise<number> {
    return (await this.translate(va, dtb)).pa;
  }

  /** `len` bytes at `va`, translated page by page (a fault on any page fails the read and names it). */
  async read(va: number | bigint, len: number, access: VirtualAccess): Promise<Buffer> {
    const out = Buffer.allocUnsafe(len);
    await this.readInto(va, out, access);
    return out;
  }

  /** Fills `dst` from `va` (no allocation: for hot loops). */
  async readInto(va: number | bigint, dst: Buffer, access: VirtualAccess): Promise<void> {
    const dtb = await this.dtbOf(access);
    const v = toVa(va);
    const inPage = PAGE - Number(v & 0xfffn);
    if (dst.length <= inPage) {
      // One page: no piece list.
      await this.phys.readPhysInto((await this.translate(v, dtb)).pa, dst);
      return;
    }
    await this.pieces(v, dst.length, dtb, async (pa, off, n) => this.phys.readPhysInto(pa, dst.subarray(off, off + n)));
  }

  /** Unsigned 8-bit value at `va`. */
  async readU8(va: number | bigint, access: VirtualAccess): Promise<number> {
    return (await this.read(va, 1, access)).readUInt8(0);
  }

  /** Unsigned 16-bit little-endian value at `va`. */
  async readU16(va: number | bigint, access: VirtualAccess): Promise<number> {
    return (await this.read(va, 2, access)).readUInt16LE(0);
  }

  /** Unsigned 32-bit little-endian value at `va`. */
  async readU32(va: number | bigint, access: VirtualAccess): Promise<number> {
    return (await this.read(va, 4, access)).readUInt32LE(0);
  }

  /** Unsigned 64-bit little-endian value at `va` (a pointer, typically), as a bigint. */
  async readU64(va: number | bigint, access: VirtualAccess): Promise<bigint> {
    return (await this.read(va, 8, access)).readBigUInt64LE(0);
  }

  /** The NUL-terminated string at `va`, at most `max` bytes, read a page at a time (an unmapped page after it is no error). */
  async readCString(va: number | bigint, access: VirtualAccess, max = 4096, encoding: BufferEncoding = 'utf8'): Promise<string> {
    const dtb = await this.dtbOf(access);
    let at = toVa(va);
    const parts: Buffer[] = [];
    let total = 0;
    while (total < max) {
      const n = Math.min(PAGE - Number(at & 0xfffn), max - total);
      const chunk = await this.read(at, n, { dtb });
      const nul = chunk.indexOf(0);
      if (nul >= 0) {
        parts.push(chunk.subarray(0, nul));
        break;
      }
      parts.push(chunk);
      total += n;
      at = (at + BigInt(n)) & ((1n << 64n) - 1n);
    }
    return Buffer.concat(parts).toString(encoding);
  }

  /** Writes `data` at `va`; guarded and audited like writePhys (allowDangerous required). */
  async write(va: number | bigint, data: Buffer, access: VirtualAccess, options: WriteOptions = {}): Promise<void> {
    const { writePhys, audited } = this.phys;
    if (writePhys === undefined || audited === undefined) throw new TypeError('this VirtualMemory sits on a read-only reader');
    const v = toVa(va);
    const dtb = await this.dtbOf(access);
    await audited.call(this.phys, WRITE_VIRT_COMMAND, { va: `0x${v.toString(16)}`, dtb: `0x${dtb.toString(16)}`, len: data.length }, options, async () => {
      // Translate every page first: a fault half way must not leave a half-written buffer.
      const plan: { pa: number; off: number; n: number }[] = [];
      await this.pieces(v, data.length, dtb, (pa, off, n) => {
        plan.push({ pa, off, n });
        return Promise.resolve();
      });
      for (const p of plan) await writePhys.call(this.phys, p.pa, data.subarray(p.off, p.off + p.n), options);
    });
  }

  /** Drops cached translations: of one DTB, or all of them (on resume, the guest may have changed any table). */
  invalidate(dtb?: bigint): void {
    if (dtb === undefined) this.cache.clear();
    else this.cache.delete(dtb);
    // Table pages are shared between address spaces (the kernel half): drop them all either way.
    this.tables.clear();
  }

  /** Hit and miss counters since creation, and cached pages now. */
  stats(): CacheStats {
    let entries = 0;
    for (const m of this.cache.values()) entries += m.size;
    return { hits: this.hits, misses: this.misses, entries };
  }

  private async pieces(va: number | bigint, len: number, dtb: bigint, each: (pa: number, off: number, n: number) => Promise<void>): Promise<void> {
    const v = toVa(va);
    let off = 0;
    while (off < len) {
      const cur = (v + BigInt(off)) & ((1n << 64n) - 1n);
      const inPage = PAGE - Number(cur & 0xfffn);
      const n = Math.min(inPage, len - off);
      const t = await this.translate(cur, dtb);
      await each(t.pa, off, n);
      off += n;
    }
  }
}

function evictOldestHalf(m: Map<number, unknown>): void {
  // Maps iterate in insertion order: the first keys are the oldest.
  let drop = m.size >> 1;
  for (const k of m.keys()) {
    if (drop-- <= 0) break;
    m.delete(k);
  }
}
