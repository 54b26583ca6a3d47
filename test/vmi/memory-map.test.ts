/**
 * The guest-physical map as QEMU builds it when RAM does not fit below the PCI hole: q35 with 3 GiB puts 2 GiB
 * below and 1 GiB from 4 GiB up; "pc" with 4 GiB puts 3 GiB below and 1 GiB above (the 3.5 GiB split is used only below 3.5 GiB of RAM, where nothing is split). Paused QEMUs with no OS
 * (nothing touches RAM; the sparse RAM files cost nothing); each byte read above 4 GiB is checked against
 * pmemsave, and reads into the hole fail with its first address.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bootGuest, type Guest } from '../../guest/launch.js';
import { isVigilError } from '../../src/core/errors.js';
import { QmpClient } from '../../src/qmp/client.js';
import { GuestMemory } from '../../src/vmi/memory/guest-memory.js';
import { mainMemdevId, readQemuLayout } from '../../src/vmi/memory/qemu-map.js';
import { RamFileBackend } from '../../src/vmi/memory/ram-file-backend.js';

const GiB = 1 << 30;
const MiB = 1 << 20;

async function check(machine: string, memoryMiB: number, lowEnd: number): Promise<void> {
  let guest: Guest | undefined;
  const qmp = new QmpClient();
  try {
    guest = await bootGuest({ noOs: true, paused: true, machine, memoryMiB });
    await qmp.connect({ path: guest.qmpSocket });
    const memdevs = await qmp.execute<{ id?: string; size: number }[]>('query-memdev');
    const block = mainMemdevId(memdevs);
    assert.equal(block, 'ram');
    const layout = await readQemuLayout(qmp, new Set([block]));
    const ranges = layout.map.ranges;
    const last = ranges[ranges.length - 1];
    // Low RAM ends at the machine's split; the rest starts at 4 GiB, at file offset `lowEnd`.
    assert.ok(ranges.some((r) => r.start + r.size === lowEnd), `${machine}: low RAM ends at 0x${lowEnd.toString(16)}: ${JSON.stringify(ranges)}`);
    assert.deepEqual([last?.start, last?.size, last?.blockOffset], [4 * GiB, memoryMiB * MiB - lowEnd, lowEnd]);
    // Before the BIOS shadows itself, 0xc0000-0xfffff shows the option ROM and BIOS, not RAM.
    assert.equal(layout.map.totalBytes, memoryMiB * MiB - 0x40000);
    assert.equal(layout.baseMemory, memoryMiB * MiB);

    const memory = new GuestMemory(layout.map, new RamFileBackend(guest.ramPath, block, { writable: true }), { vm: machine, principal: 'tester', sinks: [] });
    try {
      // Written through the map at 4 GiB + 1 MiB: QEMU reads it at the same guest-physical address.
      const data = Buffer.from(`high RAM of ${machine}`);
      await memory.writePhys(4 * GiB + MiB, data, { allowDangerous: true });
      const file = join(guest.dir, 'pmem.bin');
      await qmp.execute('pmemsave', { val: 4 * GiB + MiB, size: data.length, filename: file });
      assert.deepEqual(readFileSync(file), data);
      rmSync(file);
      // And it sits in the RAM file at lowEnd + 1 MiB, not at 4 GiB + 1 MiB.
      const raw = Buffer.alloc(data.length);
      const fd = openSync(guest.ramPath, 'r');
      readSync(fd, raw, 0, raw.length, lowEnd + MiB);
      closeSync(fd);
      assert.deepEqual(raw, data);

      await assert.rejects(memory.readPhys(lowEnd - 8, 16), (err) => isVigilError(err, 'VIGIL_VMI_HOLE') && err.context.address === `0x${lowEnd.toString(16)}`);
      await assert.rejects(memory.readPhys(4 * GiB - 4, 8), (err) => isVigilError(err, 'VIGIL_VMI_HOLE') && err.context.address === '0xfffffffc');
      await assert.rejects(memory.readPhys(4 * GiB + memoryMiB * MiB - lowEnd, 1), (err) => isVigilError(err, 'VIGIL_VMI_HOLE'));
      assert.deepEqual(await memory.search(`high RAM of ${machine}`), [4 * GiB + MiB]);
    } finally {
      await memory.close();
    }
  } finally {
    await qmp.close().catch(() => undefined);
    await guest?.stop();
  }
}

describe('guest-physical map from QEMU', () => {
  it('q35 with 3 GiB: 2 GiB below the PCI hole, 1 GiB from 4 GiB', () => check('q35', 3072, 2 * GiB));
  it('pc with 4 GiB: 3 GiB below (not 3.5: QEMU aligns the split to 1 GiB once RAM reaches 3.5 GiB), 1 GiB from 4 GiB', () => check('pc', 4096, 3 * GiB));
});
