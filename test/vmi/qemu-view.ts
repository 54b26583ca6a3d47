/** QEMU's own view of a guest's paging, for differential tests: HMP 'info tlb' parsed and compared with ours. */
import assert from 'node:assert/strict';
import type { QmpChannel } from '../../src/qmp/types.js';
import { VirtualMemory } from '../../src/vmi/paging/virtual-memory.js';
import type { PagingLevels, PhysReader } from '../../src/vmi/paging/walker.js';

/** What the comparison covered. */
export interface TlbCheck {
  checked: number;
  pageSizes: number[];
}

/**
 * Translates every mapping QEMU lists in 'info tlb' (VA, PA, the leaf entry's flags) under `dtb` and asserts the
 * same page base, page size class and leaf NX/user/write bits; each is translated again from the cache. The
 * vCPU must be stopped so that its CR3 and tables stay those of `dtb`.
 */
export async function compareWithInfoTlb(qmp: QmpChannel, phys: PhysReader, dtb: bigint, levels: PagingLevels): Promise<TlbCheck> {
  const tlb = (await qmp.execute<string>('human-monitor-command', { 'command-line': 'info tlb' })).split(/\r?\n/);
  const virt = new VirtualMemory(phys, levels);
  let checked = 0;
  const sizes = new Set<number>();
  for (const line of tlb) {
    const e = /^([0-9a-f]+): ([0-9a-f]+) ([-X])[-G]([-P])[-D][-A][-C][-T]([-U])([-W])$/.exec(line);
    if (e === null) continue;
    const va = BigInt(`0x${e[1] ?? ''}`);
    const t = await virt.translate(va, dtb);
    const leaf = t.entries[t.entries.length - 1]?.value ?? 0n;
    const want = { pa: Number.parseInt(e[2] ?? '', 16), large: e[4] === 'P', nx: e[3] === 'X', user: e[5] === 'U', write: e[6] === 'W' };
    const got = { pa: t.pageBase, large: t.pageSize > 4096, nx: leaf >> 63n === 1n, user: (leaf & 4n) !== 0n, write: (leaf & 2n) !== 0n };
    assert.deepEqual(got, want, `translation of 0x${e[1] ?? ''} differs from QEMU's: ${line}`);
    assert.equal((await virt.translate(va, dtb)).pa, t.pa);
    sizes.add(t.pageSize);
    checked++;
  }
  assert.equal(virt.stats().misses, checked);
  assert.equal(virt.stats().hits, checked);
  return { checked, pageSizes: [...sizes].sort((a, b) => a - b) };
}
