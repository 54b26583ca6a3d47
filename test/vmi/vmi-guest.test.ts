/**
 * Guest memory and address translation against a real guest (a Vigil VM with `introspection: true`, TCG):
 * a marker the guest's init computes is found by search in physical memory and read back through the kernel's
 * direct map (whose base, randomized by KASLR, the test derives from the page tables); every virtual read is
 * checked against QEMU's own view (QMP memsave with the vCPU's paging) and every physical read against
 * pmemsave; reading a hole fails cleanly; both backends agree; the CLI verbs work on the same VM.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { isVigilError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { vmFilesDir } from '../../src/qmp/guard.js';
import { Vigil } from '../../src/vigil.js';
import type { Monitor } from '../../src/vm/monitor.js';
import { openVmMemory, type VmMemory } from '../../src/vmi/memory/vm-memory.js';
import { readPagingRegisters, type PagingRegisters } from '../../src/vmi/paging/hmp-registers.js';
import { VirtualMemory } from '../../src/vmi/paging/virtual-memory.js';
import { vmVirtualMemory } from '../../src/vmi/paging/vm-virtual.js';
import { dtbBase, walk } from '../../src/vmi/paging/walker.js';
import { GUEST_READY_LINE } from '../../guest/init-script.js';
import { runVigil } from '../helpers/cli.js';
import { compareWithInfoTlb } from './qemu-view.js';
import { guestYaml, testHome, type TestHome } from '../helpers/vigil-home.js';

const TOKEN = randomBytes(8).toString('hex');
// The full marker never appears in the init script: the guest's shell computes it (6*7) and writes it to tmpfs.
const MARKER = `VIGIL-VMI-42-${TOKEN}`;
const INIT = `echo "VIGIL-VMI-$((6*7))-${TOKEN}" > /dev/shm/marker`;
const VM = 'vmi';

let h: TestHome;
let vigil: Vigil;
let mon: Monitor;
let m: VmMemory;
let regs: PagingRegisters;
let virt: VirtualMemory;
let markerPa: number;
let directMap: bigint;

/** QEMU's view of `size` bytes at guest-virtual `va` (memsave, with vCPU 0's paging), through the guard. */
async function memsave(va: bigint, size: number): Promise<Buffer> {
  const file = join(vmFilesDir(m.files.runtimeDir), `memsave-${size}.bin`);
  await mon.qmp.execute('memsave', { val: BigInt.asIntN(64, va), size, filename: file }, { purpose: 'vmi differential test' });
  const data = readFileSync(file);
  rmSync(file);
  return data;
}

/** QEMU's view of `size` bytes at guest-physical `pa` (pmemsave). */
async function pmemsave(pa: number, size: number): Promise<Buffer> {
  const file = join(vmFilesDir(m.files.runtimeDir), `pmemsave-${size}.bin`);
  await mon.qmp.execute('pmemsave', { val: pa, size, filename: file }, { purpose: 'vmi differential test' });
  const data = readFileSync(file);
  rmSync(file);
  return data;
}

/**
 * The base of Linux's direct map of physical memory: the kernel-half VA, 1 GiB aligned (KASLR moves it in 1 GiB
 * steps), that maps physical 0 and keeps mapping linearly (checked at `probe`). Walks the top levels of the
 * tables (4 or 5 of them) down to the 1 GiB entries. The kernel image mapping at 0xffffffff80000000 does not map
 * physical 0 once the kernel has trimmed it, and vmemmap/vmalloc do not map it.
 */
async function findDirectMap(dtb: bigint, levels: 4 | 5, probe: number): Promise<bigint> {
  const bits = levels === 5 ? 57 : 48;
  const sext = (va: bigint): bigint => BigInt.asUintN(64, BigInt.asIntN(bits, va));
  const visit = async (table: number, level: number, prefix: bigint): Promise<bigint | undefined> => {
    const first = level === levels ? 256 : 0;
    for (let i = first; i < 512; i++) {
      const e = await m.memory.readU64(table + i * 8);
      if ((e & 1n) === 0n) continue;
      const va = prefix | (BigInt(i) << BigInt(12 + 9 * (level - 1)));
      if (level === 3) {
        const cand = sext(va);
        try {
          if ((await walk(m.memory, cand, dtb, levels)).pa !== 0) continue;
          if ((await walk(m.memory, cand + BigInt(probe), dtb, levels)).pa === probe) return cand;
        } catch {
          // a partly mapped gigabyte: not the direct map
        }
        continue;
      }
      const found = await visit(Number(e & 0x000f_ffff_ffff_f000n), level - 1, va);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  const va = await visit(dtbBase(dtb), levels, 0n);
  if (va === undefined) throw new Error('no direct map found in the kernel half of the page tables');
  return va;
}

before(async () => {
  h = await testHome(INIT);
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  vigil.add([h.write('vmi.yaml', guestYaml(h, VM, 'introspection: true\n'))]);
  await vigil.start(VM);
  const deadline = Date.now() + 180_000;
  while (!vigil.logs(VM, 200).includes(GUEST_READY_LINE)) {
    if (Date.now() > deadline) throw new Error(`the guest never printed its ready line:\n${vigil.logs(VM, 30)}`);
    await sleep(200);
  }
  mon = await vigil.monitor(VM);
  // The public monitor is now held: openVmMemory falls back to the VM's second monitor socket.
  m = await openVmMemory(VM, { paths: h.paths, principal: 'tester', writable: true });
});

after(async () => {
  await m?.close();
  await mon?.close();
  vigil?.close();
  h?.killAll();
});

describe('guest physical memory of a real guest', () => {
  it('takes the map from QEMU: 256 MiB of RAM in the backend block, in pieces where the BIOS locked shadow RAM', () => {
    assert.equal(m.memory.backend.name, 'ram-file');
    assert.equal(m.layout.baseMemory, 256 << 20);
    const ranges = m.memory.map.ranges;
    assert.ok(ranges.every((r) => r.block === 'ram' && r.blockOffset === r.start), 'RAM below 2 GiB sits at the same offset in the file');
    ranges.forEach((r, i) => assert.equal(r.start, i === 0 ? 0 : (ranges[i - 1]?.start ?? 0) + (ranges[i - 1]?.size ?? 0), 'contiguous'));
    assert.equal(m.memory.map.totalBytes, 256 << 20);
    // SeaBIOS write-protects its shadow copy through the PAM registers: QEMU shows those pieces as rom.
    assert.ok(ranges.some((r) => !r.writable && r.start >= 0xc0000 && r.start < 0x100000));
    assert.equal(statSync(m.files.ramFile).size, 256 << 20);
  });

  it('finds the marker the guest wrote and reads it back through the direct map', async () => {
    const hits = await m.memory.search(MARKER);
    assert.ok(hits.length >= 1, 'the marker is in guest RAM');
    markerPa = hits[0] ?? 0;
    assert.equal((await m.memory.readPhys(markerPa, MARKER.length)).toString(), MARKER);
    assert.ok((await m.memory.readCString(markerPa, 64)).startsWith(MARKER));
    regs = await readPagingRegisters(m.qmp, 0);
    virt = new VirtualMemory(m.memory, regs.levels);
    directMap = await findDirectMap(regs.cr3, regs.levels, markerPa);
    assert.equal(directMap & 0x3fff_ffffn, 0n, 'the direct map is 1 GiB aligned');
    for (const pa of hits) {
      const t = await virt.translate(directMap + BigInt(pa), regs.cr3);
      assert.equal(t.pa, pa);
      assert.equal(t.entries.length, regs.levels - Math.log2(t.pageSize / 4096) / 9);
      assert.equal(t.user, false, 'the direct map is supervisor-only');
      assert.equal(t.nx, true, 'the direct map is not executable');
      assert.equal((await virt.read(directMap + BigInt(pa), MARKER.length, { dtb: regs.cr3 })).toString(), MARKER);
    }
  });

  it('agrees with QEMU: memsave of kernel virtual addresses equals read(va, {dtb}), pmemsave equals readPhys', async (t0) => {
    await m.qmp.execute('stop');
    try {
      const r = await readPagingRegisters(m.qmp, 0);
      const cases: [string, bigint, number][] = [
        ['RIP', r.rip & ~0xfffn, 8192],
        ['RIP (unaligned, across a page)', r.rip - 100n, 300],
        ['direct map of the marker', directMap + BigInt(markerPa) - 64n, 4096 + 128],
        ['direct map of physical 1 MiB', directMap + 0x100000n, 65536],
        ['direct map of the top page table', directMap + BigInt(dtbBase(r.cr3)), 4096],
        ['direct map at 128 MiB, across 4 pages', directMap + BigInt(128 << 20) - 8192n, 16384],
      ];
      for (const [what, va, len] of cases) {
        const ours = await virt.read(va, len, { dtb: r.cr3 });
        assert.ok(ours.equals(await memsave(va, len)), `${what} (0x${va.toString(16)}+${len}) differs from QEMU's memsave`);
      }
      for (const [pa, len] of [[0, 4096], [0x100000, 1 << 20], [markerPa & ~0xfff, 8192], [(256 << 20) - 4096, 4096]] as const) {
        assert.ok((await m.memory.readPhys(pa, len)).equals(await pmemsave(pa, len)), `physical 0x${pa.toString(16)}+${len} differs from pmemsave`);
      }
      // Every mapping QEMU itself sees for this vCPU translates the same here.
      const tlb = await compareWithInfoTlb(m.qmp, m.memory, r.cr3, r.levels);
      assert.ok(tlb.checked > 1000, `only ${tlb.checked} mappings in 'info tlb'`);
      assert.ok(tlb.pageSizes.includes(4096) && tlb.pageSizes.includes(2 << 20), `page sizes seen: ${tlb.pageSizes.join(', ')}`);
      t0.diagnostic(`${tlb.checked} translations agree with 'info tlb' (page sizes ${tlb.pageSizes.join(', ')}; ${r.levels}-level paging)`);
      // A kernel text page: 2 MiB or 4 KiB, executable, supervisor.
      const t = await virt.translate(r.rip, r.cr3);
      assert.equal(t.nx, false);
      assert.equal(t.user, false);
      assert.ok([4096, 2 << 20].includes(t.pageSize));
    } finally {
      await m.qmp.execute('cont');
    }
  });

  it('reads through a vCPU\'s current CR3, and drops cached translations when the VM resumes', async () => {
    const { virt: live, detach } = await vmVirtualMemory(m);
    try {
      await m.qmp.execute('stop');
      const r = await readPagingRegisters(m.qmp, 0);
      const va = directMap + BigInt(markerPa);
      const viaVcpu = await live.read(va, 12, { vcpu: 0 });
      assert.equal(viaVcpu.toString(), MARKER.slice(0, 12));
      assert.equal(await live.dtbOf({ vcpu: 0 }), r.cr3);
      assert.ok(live.stats().entries > 0);
      const resumed = m.qmp.waitForEvent('RESUME', undefined, 10000);
      await m.qmp.execute('cont');
      await resumed;
      assert.equal(live.stats().entries, 0, 'RESUME dropped the cache');
    } finally {
      detach();
    }
  });

  it('reading a hole fails cleanly with the address; the ROM window needs a backend that reaches ROMs', async () => {
    await assert.rejects(m.memory.readPhys((256 << 20) - 16, 32), (err) => isVigilError(err, 'VIGIL_VMI_HOLE') && err.context.address === '0x10000000');
    await assert.rejects(m.memory.readPhys(0xfee00000, 4), (err) => isVigilError(err, 'VIGIL_VMI_HOLE') && err.message.includes('0xfee00000'));
    // The BIOS ROM is another RAM block, outside the RAM file: a hole for this backend.
    await assert.rejects(m.memory.readPhys(0xfffffff0, 16), (err) => isVigilError(err, 'VIGIL_VMI_HOLE'));
    await assert.rejects(virt.read(0xffff_a000_0000_0000n, 8, { dtb: regs.cr3 }), (err) => isVigilError(err, 'VIGIL_VMI_PAGE_FAULT'));
  });

  it('the /proc/<pid>/mem backend reads the same bytes, and ROMs too', async () => {
    await mon.close();
    const p = await openVmMemory(VM, { paths: h.paths, backend: 'proc-mem' });
    let bios: Buffer = Buffer.alloc(0);
    try {
      assert.equal(p.memory.backend.name, 'proc-mem');
      assert.equal((await p.memory.readPhys(markerPa, MARKER.length)).toString(), MARKER);
      bios = await p.memory.readPhys(0xfffffff0, 16);
      assert.equal(bios[0], 0xea, 'the reset vector holds a far jump');
    } finally {
      await p.close();
      mon = await vigil.monitor(VM);
    }
    assert.ok(bios.equals(await pmemsave(0xfffffff0, 16)), 'ROM bytes differ from pmemsave');
  });

  it('writes need allowDangerous, reach the guest, and are audited', async () => {
    const pa = markerPa + MARKER.length - 4;
    await assert.rejects(m.memory.writePhys(pa, Buffer.from('ZZZZ')), (err) => isVigilError(err, 'VIGIL_GUARD_REFUSED'));
    await virt.write(directMap + BigInt(pa), Buffer.from('ZZZZ'), { dtb: regs.cr3 }, { allowDangerous: true, purpose: 'test' });
    assert.equal((await m.memory.readPhys(pa, 4)).toString(), 'ZZZZ');
    const rows = vigil.audit.query({ vm: VM }).filter((r) => r.command.startsWith('vmi-write'));
    // The virtual write is audited once as itself, after the physical write it made.
    assert.deepEqual(
      rows.map((r) => [r.command, r.outcome, r.principal]),
      [
        ['vmi-write-phys', 'refused', 'tester'],
        ['vmi-write-phys', 'ok', 'tester'],
        ['vmi-write-virt', 'ok', 'tester'],
      ],
    );
  });

  it('the CLI reads, translates, searches and dumps (both word orders)', async () => {
    await mon.close();
    try {
      const env = h.env;
      const read = await runVigil(['vmi', VM, 'read', `0x${markerPa.toString(16)}`, '16', '--phys'], env);
      assert.equal(read.code, 0, read.stderr);
      assert.match(read.stdout, new RegExp(`^${markerPa.toString(16).padStart(8, '0')}: 5649 4749 4c2d 564d 492d 3432 2d`));
      const va = directMap + BigInt(markerPa);
      const readV = await runVigil(['vmi', 'read', VM, `0x${va.toString(16)}`, String(MARKER.length), '--json'], env);
      assert.equal(readV.code, 0, readV.stderr);
      assert.equal(Buffer.from((JSON.parse(readV.stdout) as { hex: string }).hex, 'hex').toString().slice(0, 12), MARKER.slice(0, 12));
      const tr = await runVigil(['vmi', VM, 'translate', `0x${va.toString(16)}`, '--json'], env);
      assert.equal(tr.code, 0, tr.stderr);
      assert.equal((JSON.parse(tr.stdout) as { pa: string }).pa, `0x${markerPa.toString(16)}`);
      const se = await runVigil(['vmi', VM, 'search', MARKER.slice(0, 20), '--json'], env);
      assert.equal(se.code, 0, se.stderr);
      assert.ok((JSON.parse(se.stdout) as { matches: string[] }).matches.includes(`0x${markerPa.toString(16)}`));
      const hole = await runVigil(['vmi', VM, 'read', '0x10000000', '16', '--phys'], env);
      assert.notEqual(hole.code, 0);
      assert.match(hole.stderr, /0x10000000 is not backed by RAM.*VIGIL_VMI_HOLE/);
      const file = join(h.home, 'dump.raw');
      const dump = await runVigil(['vmi', VM, 'dump', file, '--purpose', 'test'], env);
      assert.equal(dump.code, 0, dump.stderr);
      assert.ok(existsSync(file));
      const image = readFileSync(file);
      assert.equal(image.length, 256 << 20);
      assert.equal(image.subarray(markerPa, markerPa + 12).toString(), MARKER.slice(0, 12));
      rmSync(file);
      const dumps = vigil.audit.query({ vm: VM, command: 'vmi-dump' });
      assert.deepEqual(
        dumps.map((r) => [r.class, r.outcome, r.purpose]),
        [['memory-dump', 'ok', 'test']],
      );
    } finally {
      mon = await vigil.monitor(VM);
    }
  });
});
