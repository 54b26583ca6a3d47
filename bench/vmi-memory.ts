/**
 * Guest memory from the host: sequential physical read throughput per backend beside `dd` reading the same RAM
 * file in the same run (the machine's limit), random 4 KiB page reads/s, and address translations/s cold and
 * cached.
 *
 * Part 1 (physical): a paused QEMU with no OS and --mib MiB of RAM (a memory-backend-file, share=on); the host
 * fills the RAM file with random bytes first, so every page is real and in the page cache (a sparse file would
 * read as free zero pages). Rounds alternate dd, the RAM-file backend and the /proc/<pid>/mem backend; the
 * median round is reported. `search` for a 16-byte pattern that is not there (every byte scanned). Random
 * reads: page-aligned addresses drawn over all RAM, one 4 KiB readPhys each.
 *
 * Part 2 (translation): the booted test guest (5-level paging under -cpu max); the addresses are every mapping
 * QEMU's 'info tlb' lists for vCPU 0 (VM paused). Cold without caches: every level of every walk read from
 * the backend (4 or 5 dependent 8-byte reads). Cold: a fresh VirtualMemory per pass, every address walks, but
 * page-table pages read once are kept (the paging-structure cache). Cached: the same addresses again.
 *
 * Run: `npx tsx bench/vmi-memory.ts [--mib N] [--rounds N] [--random N]`.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { loadavg } from 'node:os';
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { bootGuest } from '../guest/launch.js';
import { silentLogger } from '../src/core/log.js';
import { QmpClient } from '../src/qmp/client.js';
import { GuestMemory } from '../src/vmi/memory/guest-memory.js';
import { ProcMemBackend } from '../src/vmi/memory/proc-mem-backend.js';
import { readQemuLayout } from '../src/vmi/memory/qemu-map.js';
import { RamFileBackend } from '../src/vmi/memory/ram-file-backend.js';
import { readPagingRegisters } from '../src/vmi/paging/hmp-registers.js';
import { VirtualMemory } from '../src/vmi/paging/virtual-memory.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const MIB = arg('mib', 1024);
const ROUNDS = arg('rounds', 5);
const RANDOM = arg('random', 200_000);
const MB = 1e6;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

/** dd over the RAM file: MB/s from its own wall time (measured here, not parsed from dd's summary). */
function dd(path: string, bs: string): number {
  const t0 = performance.now();
  const r = spawnSync('dd', [`if=${path}`, 'of=/dev/null', `bs=${bs}`], { encoding: 'utf8' });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`dd failed: ${r.stderr}`);
  return (MIB * (1 << 20)) / s / MB;
}

async function sequential(mem: GuestMemory, chunk: number): Promise<number> {
  const buf = Buffer.allocUnsafe(chunk);
  let bytes = 0;
  const t0 = performance.now();
  for (const run of mem.servedRuns()) {
    for (let at = run.start; at < run.end; at += chunk) {
      const part = buf.subarray(0, Math.min(chunk, run.end - at));
      await mem.readPhysInto(at, part);
      bytes += part.length;
    }
  }
  return bytes / ((performance.now() - t0) / 1000) / MB;
}

async function randomPages(mem: GuestMemory, n: number): Promise<number> {
  const pages: number[] = [];
  const runs = mem.servedRuns();
  const total = runs.reduce((s, r) => s + Math.floor((r.end - r.start) / 4096), 0);
  for (let i = 0; i < n; i++) {
    let k = Math.floor(Math.random() * total);
    for (const r of runs) {
      const count = Math.floor((r.end - r.start) / 4096);
      if (k < count) {
        pages.push(r.start + k * 4096);
        break;
      }
      k -= count;
    }
  }
  const buf = Buffer.allocUnsafe(4096);
  const t0 = performance.now();
  for (const pa of pages) await mem.readPhysInto(pa, buf);
  return n / ((performance.now() - t0) / 1000);
}

async function physical(): Promise<void> {
  const guest = await bootGuest({ noOs: true, paused: true, memoryMiB: MIB });
  const qmp = new QmpClient({ logger: silentLogger });
  try {
    await qmp.connect({ path: guest.qmpSocket });
    // Real bytes in every page, so that no reader is served free zero pages of a sparse file.
    const fd = openSync(guest.ramPath, 'r+');
    const fill = Buffer.allocUnsafe(8 << 20);
    for (let off = 0; off < MIB << 20; off += fill.length) {
      randomFillSync(fill);
      writeSync(fd, fill, 0, fill.length, off);
    }
    closeSync(fd);
    // Both backends over the same map (RAM only), so they read the same bytes.
    const layout = await readQemuLayout(qmp, new Set(['ram']));
    const fileMem = new GuestMemory(layout.map, new RamFileBackend(guest.ramPath, 'ram'));
    const procMem = new GuestMemory(layout.map, await ProcMemBackend.open(guest.pid, qmp, layout.map));
    const rows: Record<string, number[]> = { 'dd bs=1M': [], 'dd bs=8M': [], 'ram-file 1 MiB reads': [], 'ram-file 8 MiB reads': [], 'proc-mem 1 MiB reads': [], 'proc-mem 8 MiB reads': [] };
    for (let round = 0; round < ROUNDS; round++) {
      rows['dd bs=1M']?.push(dd(guest.ramPath, '1M'));
      rows['ram-file 1 MiB reads']?.push(await sequential(fileMem, 1 << 20));
      rows['proc-mem 1 MiB reads']?.push(await sequential(procMem, 1 << 20));
      rows['dd bs=8M']?.push(dd(guest.ramPath, '8M'));
      rows['ram-file 8 MiB reads']?.push(await sequential(fileMem, 8 << 20));
      rows['proc-mem 8 MiB reads']?.push(await sequential(procMem, 8 << 20));
    }
    const ddBest = Math.max(median(rows['dd bs=1M'] ?? []), median(rows['dd bs=8M'] ?? []));
    console.log(`\nSequential physical read, ${MIB} MiB of guest RAM, median of ${ROUNDS} rounds (loadavg ${loadavg().map((x) => x.toFixed(2)).join(' ')}):`);
    console.log('| reader | MB/s (median) | min | max | vs best dd |');
    console.log('|---|---:|---:|---:|---:|');
    for (const [name, xs] of Object.entries(rows)) {
      const med = median(xs);
      console.log(`| ${name} | ${med.toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} | ${((med / ddBest) * 100).toFixed(0)} % |`);
    }
    // search: a 16-byte pattern that is not there (random bytes almost never hold it), so every byte is scanned.
    const searchRates: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = performance.now();
      const hits = await fileMem.search('VIGIL-ABSENT-PAT', { limit: 1 });
      searchRates.push((MIB * (1 << 20)) / ((performance.now() - t0) / 1000) / MB);
      if (hits.length > 0) throw new Error('the absent pattern was found');
    }
    console.log(`\nsearch over all RAM (ram-file, absent 16-byte pattern): ${median(searchRates).toFixed(0)} MB/s (median of ${ROUNDS}; min ${Math.min(...searchRates).toFixed(0)}, max ${Math.max(...searchRates).toFixed(0)})`);
    console.log(`\nRandom 4 KiB page reads (${RANDOM} pages over ${MIB} MiB):`);
    console.log('| backend | reads/s |');
    console.log('|---|---:|');
    console.log(`| ram-file | ${(await randomPages(fileMem, RANDOM)).toFixed(0)} |`);
    console.log(`| proc-mem | ${(await randomPages(procMem, RANDOM)).toFixed(0)} |`);
    await fileMem.close();
    await procMem.close();
  } finally {
    await qmp.close().catch(() => undefined);
    await guest.stop();
  }
}

async function translation(): Promise<void> {
  const guest = await bootGuest({ memoryMiB: 256 });
  const qmp = new QmpClient({ logger: silentLogger });
  try {
    await qmp.connect({ path: guest.qmpSocket });
    await qmp.execute('stop');
    const layout = await readQemuLayout(qmp, new Set(['ram']));
    const mem = new GuestMemory(layout.map, new RamFileBackend(guest.ramPath, 'ram'));
    const regs = await readPagingRegisters(qmp, 0);
    const tlb = await qmp.execute<string>('human-monitor-command', { 'command-line': 'info tlb' });
    const vas = tlb
      .split(/\r?\n/)
      .map((l) => /^([0-9a-f]+): /.exec(l)?.[1])
      .filter((x): x is string => x !== undefined)
      .map((x) => BigInt(`0x${x}`));
    const cold: number[] = [];
    const bare: number[] = [];
    const cached: number[] = [];
    const cpu = { bare: [] as number[], cold: [] as number[], cached: [] as number[] };
    /** Runs `fn` over `n` operations: ops/s by wall clock, and CPU µs per op (steadier on a busy machine). */
    const timed = async (n: number, fn: () => Promise<void>): Promise<[number, number]> => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await fn();
      const c = process.cpuUsage(c0);
      return [n / ((performance.now() - t0) / 1000), (c.user + c.system) / n];
    };
    for (let round = 0; round < ROUNDS; round++) {
      const noTables = new VirtualMemory(mem, regs.levels, { maxTablePages: 0 });
      const [b, bc] = await timed(vas.length, async () => {
        for (const va of vas) await noTables.translate(va, regs.cr3);
      });
      const virt = new VirtualMemory(mem, regs.levels);
      const [c, cc] = await timed(vas.length, async () => {
        for (const va of vas) await virt.translate(va, regs.cr3);
      });
      const [h, hc] = await timed(10 * vas.length, async () => {
        for (let k = 0; k < 10; k++) for (const va of vas) await virt.translate(va, regs.cr3);
      });
      bare.push(b);
      cold.push(c);
      cached.push(h);
      cpu.bare.push(bc);
      cpu.cold.push(cc);
      cpu.cached.push(hc);
    }
    // Reading 4 KiB through a virtual address, cached translation (the common case of OS-level introspection).
    const virt = new VirtualMemory(mem, regs.levels);
    // Only pages backed by RAM (the list also holds MMIO mappings such as the local APIC's).
    const pages: bigint[] = [];
    for (const va of vas) {
      if (pages.length >= 2000) break;
      if (mem.map.find((await virt.translate(va, regs.cr3)).pa) !== undefined) pages.push(va);
    }
    const page = Buffer.allocUnsafe(4096);
    const t0 = performance.now();
    let n = 0;
    for (let k = 0; k < 20; k++) {
      for (const va of pages) {
        await virt.readInto(va, page, { dtb: regs.cr3 });
        n++;
      }
    }
    const virtReads = n / ((performance.now() - t0) / 1000);
    console.log(`\nTranslations (${vas.length} addresses from 'info tlb', ${regs.levels}-level paging, median of ${ROUNDS} rounds):`);
    console.log('| | translations/s | CPU µs per translation |');
    console.log('|---|---:|---:|');
    console.log(`| cold, no caches at all (every level read from the backend) | ${median(bare).toFixed(0)} | ${median(cpu.bare).toFixed(2)} |`);
    console.log(`| cold (empty caches at the start of each pass; page-table pages cached as the pass goes) | ${median(cold).toFixed(0)} | ${median(cpu.cold).toFixed(2)} |`);
    console.log(`| cached | ${median(cached).toFixed(0)} | ${median(cpu.cached).toFixed(2)} |`);
    console.log(`\n4 KiB virtual reads, cached translation: ${virtReads.toFixed(0)} reads/s`);
    await mem.close();
    await qmp.execute('cont');
  } finally {
    await qmp.close().catch(() => undefined);
    await guest.stop();
  }
}

await physical();
await translation();
