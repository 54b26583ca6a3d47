/** Searching guest RAM for a byte pattern in large chunks (the kernel's BTF blob, its VMCOREINFO note). */

/** Guest RAM as a flat range of bytes (a RAM backend file, or physical memory through any backend). */
export interface RamSource {
  /** Bytes in the range. */
  size: number;
  /** Reads `length` bytes at `offset` (short only at the end). */
  read(offset: number, length: number): Promise<Buffer>;
}

const CHUNK = 16 << 20;

/** Every offset where `pattern` occurs, in order; chunks overlap so that a match across an edge is found once. */
export async function* findAll(ram: RamSource, pattern: Buffer): AsyncGenerator<number> {
  const overlap = pattern.length - 1;
  for (let base = 0; base < ram.size; base += CHUNK) {
    const chunk = await ram.read(base, Math.min(CHUNK + overlap, ram.size - base));
    for (let i = chunk.indexOf(pattern); i !== -1; i = chunk.indexOf(pattern, i + 1)) {
      // A match starting in the overlap belongs to the next chunk.
      if (i >= CHUNK) break;
      yield base + i;
    }
  }
}
