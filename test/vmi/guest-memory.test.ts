/**
 * GuestMemory over a real RAM file (a temp file standing in for a memory-backend-file) and a split map like
 * q35's with more than 2 GiB: holes refused by address, typed reads, batches, search across chunk edges, and
 * guarded, audited writes. The same code against a real QEMU is in vmi-guest.test.ts and memory-map.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isVigilError } from '../../src/core/errors.js';
import type { QmpAuditRecord } from '../../src/qmp/audit-record.js';
import { GuestMemory } from '../../src/vmi/memory/guest-memory.js';
import { hexdump } from '../../src/vmi/memory/hexdump.js';
import { parseFlatView, PhysMap } from '../../src/vmi/memory/phys-map.js';
import { RamFileBackend } from '../../src/vmi/memory/ram-file-backend.js';

// The shape of `info mtree -f` on q35 (abridged), with "low" RAM of 1 MiB and 1 MiB above a hole.
const MTREE = `FlatView #0
 AS "memory", root: system
 AS "cpu-memory-0", root: system
 Root memory region: system
  0000000000000000-000000000009ffff (prio 0, ram): ram
  00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem
  00000000000c0000-00000000000dffff (prio 1, rom): pc.rom
  00000000000e0000-00000000000fffff (prio 0, ram): ram @00000000000e0000
  0000000000100000-00000000001fffff (prio 0, ram): ram @0000000000100000
  00000000fec00000-00000000fec00fff (prio 0, i/o): ioapic
  0000000000400000-00000000004fffff (prio 0, ram): ram @0000000000200000

FlatView #1
 AS "I/O", root: io
 Root memory region: io
  0000000000000000-0000000000000007 (prio 0, i/o): dma-chan
`;

describe('guest physical memory over a RAM file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-vmi-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'ram');
  const ram = Buffer.alloc(0x300000);
  for (let i = 0; i < ram.length; i += 4) ram.writeUInt32LE(i, i);
  writeFileSync(file, ram);
  const flat = parseFlatView(MTREE);
  const map = PhysMap.fromFlatView(flat, new Set(['ram']));
  const records: QmpAuditRecord[] = [];
  const memory = new GuestMemory(map, new RamFileBackend(file, 'ram', { writable: true }), { vm: 't', principal: 'tester', sinks: [{ record: (r) => records.push(r) }] });
  after(() => memory.close());

  it('parses only the "memory" view and merges adjacent pieces of one block', () => {
    assert.equal(flat.length, 7);
    assert.deepEqual(
      map.ranges.map((r) => [r.start, r.size, r.blockOffset]),
      [
        [0, 0xa0000, 0],
        [0xe0000, 0x120000, 0xe0000],
        [0x400000, 0x100000, 0x200000],
      ],
    );
  });

  it('reads RAM above the hole at its offset in the file', async () => {
    const got = await memory.readPhys(0x400010, 8);
    assert.deepEqual(got, ram.subarray(0x200010, 0x200018));
    assert.equal(await memory.readU32(0x400010), 0x200010);
    assert.equal(await memory.readU64(0x400010n), (0x200014n << 32n) | 0x200010n);
    assert.equal(await memory.readU16(0x2), 0);
    assert.equal(await memory.readU8(0x5), 0);
  });

  it('refuses a read across a hole, naming the first address without RAM', async () => {
    await assert.rejects(memory.readPhys(0x1ffff0, 0x20), (err) => isVigilError(err, 'VIGIL_VMI_HOLE') && err.context.address === '0x200000' && err.message.includes('0x200000'));
    await assert.rejects(memory.readPhys(0xa0000, 1), (err) => isVigilError(err, 'VIGIL_VMI_HOLE') && err.context.address === '0xa0000');
  });

  it('reads C strings up to their NUL, even right before a hole', async () => {
    await memory.writePhys(0x1ffffa, Buffer.from('hello\0'), { allowDangerous: true });
    assert.equal(await memory.readCString(0x1ffffa), 'hello');
  });

  it('batches: pieces on the same pages are read once and returned in request order', async () => {
    // Count the backend's calls: four requests on two page runs are two reads.
    const counting = new RamFileBackend(file, 'ram');
    let calls = 0;
    const read = counting.read.bind(counting);
    counting.read = (...args) => {
      calls++;
      return read(...args);
    };
    const counted = new GuestMemory(map, counting);
    await counted.readBatch([
      { pa: 0x1008, len: 8 },
      { pa: 0x400000, len: 4 },
      { pa: 0x1ff0, len: 0x20 },
      { pa: 0x401ffc, len: 4 },
    ]);
    assert.equal(calls, 2);
    await counted.close();

    const reqs = [
      { pa: 0x400ff8, len: 16 },
      { pa: 0x10, len: 4 },
      { pa: 0x400000, len: 4 },
      { pa: 0x14, len: 4 },
    ];
    const out = await memory.readBatch(reqs);
    reqs.forEach((r, i) => assert.deepEqual(out[i], r.pa >= 0x400000 ? ram.subarray(r.pa - 0x200000, r.pa - 0x200000 + r.len) : ram.subarray(r.pa, r.pa + r.len)));
    // A request at the very end of a range: its page-rounded span may not cross into the hole.
    assert.equal((await memory.readBatch([{ pa: 0x9fffc, len: 4 }]))[0]?.readUInt32LE(0), 0x9fffc);
  });

  it('search finds matches across chunk edges and adjacent ranges, and honours the range and limit', async () => {
    const needle = Buffer.from('VIGIL-NEEDLE-0123456789');
    await memory.writePhys(0x4_0ff0, needle, { allowDangerous: true }); // straddles a 64 KiB chunk edge at 0x41000? (chunks start at 0)
    await memory.writePhys(0x40_fff8, needle, { allowDangerous: true }); // straddles 0x410000
    await memory.writePhys(0x4f_ffe0, needle, { allowDangerous: true });
    const hits = await memory.search('VIGIL-NEEDLE-0123456789', { chunkBytes: 0x1000 });
    assert.deepEqual(hits, [0x4_0ff0, 0x40_fff8, 0x4f_ffe0]);
    assert.deepEqual(await memory.search(needle, { start: 0x400000, chunkBytes: 4096 }), [0x40_fff8, 0x4f_ffe0]);
    assert.deepEqual(await memory.search(needle, { limit: 1 }), [0x4_0ff0]);
    await assert.rejects(memory.search(''), (err) => isVigilError(err, 'VIGIL_INVALID_INPUT'));
  });

  it('writes are refused without allowDangerous and every attempt is audited', async () => {
    records.length = 0;
    await assert.rejects(memory.writePhys(0x100, Buffer.from('x')), (err) => isVigilError(err, 'VIGIL_GUARD_REFUSED'));
    await memory.writePhys(0x100, Buffer.from('xy'), { allowDangerous: true, purpose: 'test' });
    await assert.rejects(memory.writePhys(0x1fffff, Buffer.from('xy'), { allowDangerous: true }), (err) => isVigilError(err, 'VIGIL_VMI_HOLE'));
    assert.deepEqual(
      records.map((r) => [r.command, r.class, r.outcome, r.principal, r.vm]),
      [
        ['vmi-write-phys', 'dangerous', 'refused', 'tester', 't'],
        ['vmi-write-phys', 'dangerous', 'ok', 'tester', 't'],
        ['vmi-write-phys', 'dangerous', 'failed', 'tester', 't'],
      ],
    );
    assert.equal((await memory.readPhys(0x100, 2)).toString(), 'xy');
    // A refused or failed write changes nothing.
    assert.equal((await memory.readPhys(0x1fffff, 1))[0], ram[0x1fffff]);
  });

  it('formats hex dumps like xxd', () => {
    assert.equal(hexdump(Buffer.from('ABCDEFGHIJKLMNOPQR'), 0x1000), '00001000: 4142 4344 4546 4748 494a 4b4c 4d4e 4f50  ABCDEFGHIJKLMNOP\n00001010: 5152                                     QR');
    assert.equal(hexdump(Buffer.from([0, 1]), 0xffff888000000000n), `ffff888000000000: 0001${' '.repeat(37)}..`);
  });
});
