/**
 * Every present mapping in a range of virtual addresses, by descending only into present table entries: the
 * way to enumerate a sparse region (the kernel's module area, a vmalloc range) without a walk per page.
 */
import { dtbBase, type PagingLevels, type PhysReader } from './walker.js';

/** One present leaf: `size` bytes at `va` map to `pa`. */
export interface Mapping {
  va: bigint;
  pa: number;
  size: number;
}

const MASK_64 = (1n << 64n) - 1n;

/** Sign-extends a virtual address built from table indexes (bit 47 or 56 copied upward). */
function canonical(va: bigint, levels: PagingLevels): bigint {
  const top = levels === 5 ? 56n : 47n;
  return (va >> top) & 1n ? (va | (MASK_64 ^ ((1n << (top + 1n)) - 1n))) & MASK_64 : va;
}

/** The present leaves overlapping [start, end), in address order. */
export async function* mappedRanges(mem: PhysReader, dtb: bigint, levels: PagingLevels, start: bigint, end: bigint): AsyncGenerator<Mapping> {
  const table = Buffer.allocUnsafe(4096);
  async function* descend(tablePa: number, level: number, base: bigint): AsyncGenerator<Mapping> {
    const span = 1n << BigInt(12 + 9 * (level - 1));
    await mem.readPhysInto(tablePa, table);
    // Copy the entries out: the recursion reuses the buffer.
    const entries: [number, number][] = [];
    for (let i = 0; i < 512; i++) entries.push([table.readUInt32LE(i * 8), table.readUInt32LE(i * 8 + 4)]);
    for (let i = 0; i < 512; i++) {
      const va = canonical(base + BigInt(i) * span, levels);
      if (va + span <= start || va >= end) continue;
      const [lo, hi] = entries[i]!;
      if ((lo & 1) === 0) continue;
      const frame = (hi & 0xfffff) * 2 ** 32 + ((lo & 0xfffff000) >>> 0);
      if (level === 1 || ((level === 2 || level === 3) && (lo & 0x80) !== 0)) {
        const size = Number(span);
        yield { va, pa: frame - (frame % size), size };
      } else {
        yield* descend(frame, level - 1, va);
      }
    }
  }
  yield* descend(dtbBase(dtb), levels, 0n);
}
