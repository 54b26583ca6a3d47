/**
 * The x86-64 page walk (IA-32e paging, 4-level and 5-level/LA57) done in software over guest physical memory:
 * 4 KiB, 2 MiB and 1 GiB pages; the effective present/write/user/NX rights of the whole walk are reported.
 */
import { VigilError } from '../../core/errors.js';

/** Anything that can fill a buffer from a guest-physical address (GuestMemory, or a Buffer in tests). */
export interface PhysReader {
  readPhysInto(pa: number, dst: Buffer): Promise<void>;
}

/** Paging depth: 4 (48-bit virtual addresses) or 5 (LA57, 57-bit). */
export type PagingLevels = 4 | 5;

/** The result of a successful walk. */
export interface Translation {
  va: bigint;
  /** Guest-physical address of `va`. */
  pa: number;
  /** Guest-physical address of the first byte of the page. */
  pageBase: number;
  /** 4096, 2 MiB or 1 GiB. */
  pageSize: number;
  /** Effective rights: writable and user only if every level allows it; NX if any level sets it. */
  writable: boolean;
  user: boolean;
  nx: boolean;
  /** The entries read, top level first (for diagnostics). */
  entries: { level: number; pa: number; value: bigint }[];
}

/** Level names, by number of levels left (5 = PML5E ... 1 = PTE). */
export const LEVEL_NAMES: Readonly<Record<number, string>> = { 5: 'PML5E', 4: 'PML4E', 3: 'PDPTE', 2: 'PDE', 1: 'PTE' };

/** Bits 51:12 of an entry or of CR3: the physical frame. */
export const ADDR_MASK = 0x000f_ffff_ffff_f000n;
const MASK_64 = (1n << 64n) - 1n;

/** The table base CR3 points at (PCID bits 11:0 and the no-flush bit 63 dropped). */
export function dtbBase(dtb: bigint): number {
  return Number(dtb & ADDR_MASK);
}

/** True when `va` is canonical for this paging depth (bits above the top one copy it). */
export function isCanonical(va: bigint, levels: PagingLevels): boolean {
  const bits = levels === 5 ? 57n : 48n;
  const top = va >> (bits - 1n);
  return top === 0n || top === (MASK_64 >> (bits - 1n));
}

/** Normalizes a virtual address given as number or bigint (negative numbers become their 64-bit pattern). */
export function toVa(va: number | bigint): bigint {
  const v = typeof va === 'number' ? BigInt(va) : va;
  return v & MASK_64;
}

/** The page-fault error for `va`: which level was not present (or that the address is not canonical). */
export function faultError(va: bigint, dtb: bigint, why: string, level?: number): VigilError {
  return new VigilError('VIGIL_VMI_PAGE_FAULT', `virtual address 0x${va.toString(16)} does not translate under DTB 0x${dtb.toString(16)}: ${why}`, {
    context: { va: `0x${va.toString(16)}`, dtb: `0x${dtb.toString(16)}`, ...(level === undefined ? {} : { level: LEVEL_NAMES[level] }) },
  });
}

/** Bits 51:32 of an entry's frame, from its high 32-bit half. */
const HI_FRAME = 0xfffff;
const TWO_32 = 2 ** 32;

/**
 * Walks the tables under `dtb` for `va`; throws VIGIL_VMI_PAGE_FAULT when an entry on the way is not present.
 * Entries are decoded from their two 32-bit halves as Numbers (a bigint per bit test costs several times more);
 * each entry's full value is kept as a bigint for the report.
 */
export async function walk(mem: PhysReader, va: number | bigint, dtb: bigint, levels: PagingLevels = 4, scratch: Buffer = Buffer.allocUnsafe(8)): Promise<Translation> {
  const v = toVa(va);
  if (!isCanonical(v, levels)) throw faultError(v, dtb, `not canonical for ${levels}-level paging`);
  // Bits 56:0 of the address as a Number are exact (< 2^53 after dropping the low 12 bits, which are added back).
  const vpn = Number((v >> 12n) & 0x1f_ffff_ffff_ffffn);
  const low12 = Number(v & 0xfffn);
  let table = dtbBase(dtb);
  let writable = true;
  let user = true;
  let nx = false;
  const entries: Translation['entries'] = [];
  for (let level: number = levels; level >= 1; level--) {
    const index = Math.floor(vpn / 2 ** (9 * (level - 1))) % 512;
    const entryPa = table + index * 8;
    await mem.readPhysInto(entryPa, scratch);
    const lo = scratch.readUInt32LE(0);
    const hi = scratch.readUInt32LE(4);
    entries.push({ level, pa: entryPa, value: scratch.readBigUInt64LE(0) });
    if ((lo & 1) === 0) throw faultError(v, dtb, `${LEVEL_NAMES[level] ?? 'entry'} at 0x${entryPa.toString(16)} is not present`, level);
    writable &&= (lo & 2) !== 0;
    user &&= (lo & 4) !== 0;
    nx ||= hi >>> 31 === 1;
    const frameHi = (hi & HI_FRAME) * TWO_32;
    // PS in a PDPTE maps a 1 GiB page, in a PDE a 2 MiB page; in a PML4E/PML5E it is reserved.
    if ((level === 3 || level === 2) && (lo & 0x80) !== 0) {
      const pageSize = level === 3 ? 1 << 30 : 1 << 21;
      // Bits below the page size (PAT at bit 12 included) are not part of the frame.
      const pageBase = frameHi + (lo - (lo % pageSize));
      const offset = ((vpn % (pageSize / 4096)) * 4096) + low12;
      return { va: v, pa: pageBase + offset, pageBase, pageSize, writable, user, nx, entries };
    }
    table = frameHi + ((lo & 0xfffff000) >>> 0);
  }
  return { va: v, pa: table + low12, pageBase: table, pageSize: 4096, writable, user, nx, entries };
}
