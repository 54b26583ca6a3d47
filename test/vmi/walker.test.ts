/**
 * The page walker on synthetic page tables built in a Buffer: 4 KiB, 2 MiB and 1 GiB pages, 4- and 5-level
 * paging, non-present entries at each level, NX/user/write rights, non-canonical addresses, and the cache.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isVigilError } from '../../src/core/errors.js';
import { VirtualMemory } from '../../src/vmi/paging/virtual-memory.js';
import { walk, type PhysReader } from '../../src/vmi/paging/walker.js';

const P = 1n;
const RW = 2n;
const US = 4n;
const PS = 0x80n;
const NX = 1n << 63n;

/** Guest "physical memory" in a Buffer, with a bump allocator for page tables. */
class Image implements PhysReader {
  readonly buf = Buffer.alloc(16 << 20);
  private next = 0x100000;
  reads = 0;

  table(): number {
    const at = this.next;
    this.next += 4096;
    return at;
  }

  set(table: number, index: number, value: bigint): void {
    this.buf.writeBigUInt64LE(value, table + index * 8);
  }

  readPhysInto(pa: number, dst: Buffer): Promise<void> {
    this.reads++;
    if (pa + dst.length > this.buf.length) return Promise.reject(new Error(`read outside the image at 0x${pa.toString(16)}`));
    this.buf.copy(dst, 0, pa, pa + dst.length);
    return Promise.resolve();
  }
}

const idx = (va: bigint, level: number): number => Number((va >> (12n + 9n * BigInt(level - 1))) & 0x1ffn);

/** Maps `va` in a 4-level hierarchy rooted at `root`, creating tables; the leaf at `leafLevel` (1, 2 or 3). */
function map(img: Image, root: number, va: bigint, pa: number, leafLevel: 1 | 2 | 3, flags: bigint, upper: bigint = P | RW | US, levels = 4): void {
  let table = root;
  for (let level = levels; level > leafLevel; level--) {
    const i = idx(va, level);
    const e = img.buf.readBigUInt64LE(table + i * 8);
    if ((e & P) === 0n) {
      const t = img.table();
      img.set(table, i, BigInt(t) | upper);
      table = t;
    } else {
      table = Number(e & 0x000f_ffff_ffff_f000n);
    }
  }
  img.set(table, idx(va, leafLevel), BigInt(pa) | flags | (leafLevel > 1 ? PS : 0n));
}

describe('page walker (synthetic tables)', () => {
  const img = new Image();
  const pml4 = img.table();
  const cr3 = BigInt(pml4) | 0x5n; // PCID bits in CR3 must be ignored
  const kva = 0xffff_8880_0000_1000n;
  map(img, pml4, kva, 0x5000, 1, P | RW | NX);
  const uva = 0x0000_7fff_1234_5000n;
  map(img, pml4, uva, 0x6000, 1, P | US);
  const big2m = 0xffff_ffff_8120_0000n;
  map(img, pml4, big2m, 0x0060_0000, 2, P | RW);
  const big1g = 0xffff_c900_4000_0000n;
  map(img, pml4, big1g, 0x4000_0000, 3, P | RW | NX);
  const missingPte = 0xffff_8880_0000_3000n; // same PT as kva, entry absent

  it('translates a 4 KiB kernel page with its rights (RW, supervisor, NX)', async () => {
    const t = await walk(img, kva + 0x123n, cr3);
    assert.equal(t.pa, 0x5123);
    assert.equal(t.pageSize, 4096);
    assert.deepEqual([t.writable, t.user, t.nx], [true, false, true]);
    assert.equal(t.entries.length, 4);
  });

  it('translates a read-only user page', async () => {
    const t = await walk(img, uva + 0xfffn, cr3);
    assert.equal(t.pa, 0x6fff);
    assert.deepEqual([t.writable, t.user, t.nx], [false, true, false]);
  });

  it('translates inside a 2 MiB page (PDE.PS)', async () => {
    const t = await walk(img, big2m + 0x1_2345n, cr3);
    assert.equal(t.pageSize, 2 << 20);
    assert.equal(t.pageBase, 0x60_0000);
    assert.equal(t.pa, 0x61_2345);
    assert.equal(t.entries.length, 3);
  });

  it('translates inside a 1 GiB page (PDPTE.PS), NX reported', async () => {
    const t = await walk(img, big1g + 0x2345_6789n, cr3);
    assert.equal(t.pageSize, 1 << 30);
    assert.equal(t.pa, 0x4000_0000 + 0x2345_6789);
    assert.equal(t.nx, true);
    assert.equal(t.entries.length, 2);
  });

  it('ignores the PAT bit (bit 12) of a large-page entry', async () => {
    const img2 = new Image();
    const root = img2.table();
    map(img2, root, 0xffff_ffff_8000_0000n, 0x20_0000, 2, P | (1n << 12n));
    const t = await walk(img2, 0xffff_ffff_8000_0010n, BigInt(root));
    assert.equal(t.pa, 0x20_0010);
  });

  it('reports a non-present entry with the level that is missing', async () => {
    await assert.rejects(walk(img, missingPte, cr3), (err) => isVigilError(err, 'VIGIL_VMI_PAGE_FAULT') && err.context.level === 'PTE' && err.message.includes('0xffff888000003000'));
    await assert.rejects(walk(img, 0xffff_a000_0000_0000n, cr3), (err) => isVigilError(err, 'VIGIL_VMI_PAGE_FAULT') && err.context.level === 'PML4E');
  });

  it('refuses non-canonical addresses', async () => {
    await assert.rejects(walk(img, 0x0000_8000_0000_0000n, cr3), (err) => isVigilError(err, 'VIGIL_VMI_PAGE_FAULT') && err.message.includes('canonical'));
  });

  it('walks 5-level (LA57) tables, including an address only 57-bit paging can reach', async () => {
    const img5 = new Image();
    const pml5 = img5.table();
    const va57 = 0xff11_2233_4455_6000n; // canonical for 57 bits, not for 48
    map(img5, pml5, va57, 0x9000, 1, P | RW, P | RW | US, 5);
    const t = await walk(img5, va57 + 8n, BigInt(pml5), 5);
    assert.equal(t.pa, 0x9008);
    assert.equal(t.entries.length, 5);
    assert.equal(t.entries[0]?.level, 5);
    await assert.rejects(walk(img5, va57, BigInt(pml5), 4), (err) => isVigilError(err, 'VIGIL_VMI_PAGE_FAULT'));
    const big = 0xff22_0000_4000_0000n;
    map(img5, pml5, big, 0x8000_0000, 3, P, P | RW | US, 5);
    assert.equal((await walk(img5, big + 5n, BigInt(pml5), 5)).pa, 0x8000_0005);
  });

  it('rights are the AND (write, user) and OR (NX) over all levels', async () => {
    const img3 = new Image();
    const root = img3.table();
    map(img3, root, 0x40_0000n, 0x7000, 1, P | RW | US, P | US | NX); // upper levels read-only, NX
    const t = await walk(img3, 0x40_0000n, BigInt(root));
    assert.deepEqual([t.writable, t.user, t.nx], [false, true, true]);
  });

  it('VirtualMemory reads across a page boundary into discontiguous frames, and caches per DTB', async () => {
    const img4 = new Image();
    const root = img4.table();
    const va = 0xffff_8880_1000_0000n;
    map(img4, root, va, 0xa000, 1, P | RW);
    map(img4, root, va + 0x1000n, 0x3000, 1, P | RW);
    img4.buf.fill(0x41, 0xaff0, 0xb000);
    img4.buf.fill(0x42, 0x3000, 0x3010);
    const vm = new VirtualMemory(img4);
    const out = await vm.read(va + 0xff0n, 32, { dtb: BigInt(root) });
    assert.equal(out.toString('latin1'), 'A'.repeat(16) + 'B'.repeat(16));
    const before = img4.reads;
    await vm.read(va + 0xff0n, 32, { dtb: BigInt(root) });
    assert.equal(img4.reads - before, 2, 'only the two data reads: both translations came from the cache');
    assert.equal(vm.stats().hits, 2);
    // The guest remaps the second page: stale until invalidated, right afterwards.
    map(img4, root, va + 0x1000n, 0xc000, 1, P | RW);
    img4.buf.fill(0x43, 0xc000, 0xc010);
    assert.equal((await vm.read(va + 0x1000n, 1, { dtb: BigInt(root) })).toString('latin1'), 'B');
    vm.invalidate(BigInt(root));
    assert.equal((await vm.read(va + 0x1000n, 1, { dtb: BigInt(root) })).toString('latin1'), 'C');
    vm.invalidate();
    assert.equal(vm.stats().entries, 0);
  });

  it('cold walks share page-table pages: 512 addresses under one page table cost 4 table reads, not 2048', async () => {
    const img7 = new Image();
    const root = img7.table();
    const base = 0xffff_8880_2000_0000n;
    for (let i = 0; i < 512; i++) map(img7, root, base + BigInt(i) * 4096n, 0x100000 + i * 4096, 1, P | RW);
    const vm = new VirtualMemory(img7);
    for (let i = 0; i < 512; i++) assert.equal(await vm.toPhys(base + BigInt(i) * 4096n + 7n, BigInt(root)), 0x100000 + i * 4096 + 7);
    assert.equal(img7.reads, 4);
    const bare = new VirtualMemory(img7, 4, { maxTablePages: 0 });
    const before = img7.reads;
    for (let i = 0; i < 512; i++) await bare.toPhys(base + BigInt(i) * 4096n, BigInt(root));
    assert.equal(img7.reads - before, 2048);
  });

  it('typed virtual reads: little-endian integers, and a C string that ends right before an unmapped page', async () => {
    const img8 = new Image();
    const root = img8.table();
    const va = 0xffff_9000_0000_0000n;
    map(img8, root, va, 0xd000, 1, P | RW);
    img8.buf.writeBigUInt64LE(0xffff_8880_1234_5678n, 0xd000);
    img8.buf.write('init\0', 0xd010, 'latin1');
    img8.buf.write('edge', 0xdffc, 'latin1'); // no NUL before the unmapped page: the read stops at the page end
    const vm = new VirtualMemory(img8);
    const dtb = BigInt(root);
    assert.equal(await vm.readU64(va, { dtb }), 0xffff_8880_1234_5678n);
    assert.equal(await vm.readU32(va, { dtb }), 0x1234_5678);
    assert.equal(await vm.readU16(va + 2n, { dtb }), 0x1234);
    assert.equal(await vm.readU8(va + 7n, { dtb }), 0xff);
    assert.equal(await vm.readCString(va + 0x10n, { dtb }), 'init');
    await assert.rejects(vm.readCString(va + 0xffcn, { dtb }), (err) => isVigilError(err, 'VIGIL_VMI_PAGE_FAULT'));
    assert.equal(await vm.readCString(va + 0xffcn, { dtb }, 4), 'edge');
    await assert.rejects(vm.read(va, 8, { vcpu: 0 }), /no CR3 source/);
    const withCpu = new VirtualMemory(img8, 4, { cr3Of: (n) => Promise.resolve(n === 1 ? dtb : 0n) });
    assert.equal(await withCpu.readU64(va, { vcpu: 1 }), 0xffff_8880_1234_5678n);
  });

  it('concurrent translations do not mix up each other\'s entries', async () => {
    const img9 = new Image();
    const root = img9.table();
    const vas = Array.from({ length: 64 }, (_, i) => 0xffff_8880_0000_0000n + BigInt(i) * 0x4020_1000n);
    vas.forEach((va, i) => map(img9, root, va, 0x200000 + i * 4096, 1, P | RW));
    const vm = new VirtualMemory(img9);
    const got = await Promise.all(vas.map((va) => vm.toPhys(va, BigInt(root))));
    assert.deepEqual(got, vas.map((_, i) => 0x200000 + i * 4096));
  });

  it('a read that faults on its second page names that page', async () => {
    const img6 = new Image();
    const root = img6.table();
    const va = 0x1000_0000n;
    map(img6, root, va, 0xa000, 1, P | RW);
    const vm = new VirtualMemory(img6);
    await assert.rejects(vm.read(va + 0xff0n, 32, { dtb: BigInt(root) }), (err) => isVigilError(err, 'VIGIL_VMI_PAGE_FAULT') && err.message.includes('0x10001000'));
  });
});
