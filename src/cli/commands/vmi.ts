/**
 * `vigil vmi`: guest memory from the host. Both orders work: `vigil vmi <vm> read 0x... 64` (as the issue
 * writes it) and `vigil vmi read <vm> 0x... 64`. Virtual addresses use the DTB (CR3) of a vCPU unless --dtb is
 * given. Everything runs in-process over the VM's shared RAM file (or /proc/<pid>/mem).
 */
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { Command, Option } from 'commander';
import { VigilError } from '../../core/errors.js';
import { hexdump } from '../../vmi/memory/hexdump.js';
import { openVmMemory, type BackendChoice, type VmMemory } from '../../vmi/memory/vm-memory.js';
import type { VirtualAccess, VirtualMemory } from '../../vmi/paging/virtual-memory.js';
import { vmVirtualMemory } from '../../vmi/paging/vm-virtual.js';
import type { Translation } from '../../vmi/paging/walker.js';
import { printJson } from '../output.js';
import { vmiCpuCommands } from './vmi-cpu.js';
import { addLinuxVerbs } from './vmi-linux.js';


interface CommonOpts {
  backend: BackendChoice;
  json?: boolean;
}

interface VirtOpts extends CommonOpts {
  dtb?: string;
  cpu: string;
}

/** Parses an address or length: hex with 0x, or decimal; names the field when it is not one. */
function parseBig(text: string, field: string): bigint {
  const t = text.trim().replace(/_/g, '');
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(t)) {
    throw new VigilError('VIGIL_INVALID_INPUT', `${field} '${text}' is not a number: write it in hex (0xffff888000001000) or decimal`, { context: { field, value: text } });
  }
  return BigInt(t);
}

function parseNum(text: string, field: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = parseBig(text, field);
  if (n > BigInt(max)) throw new VigilError('VIGIL_INVALID_INPUT', `${field} ${text} is too large (at most ${max})`, { context: { field, value: text } });
  return Number(n);
}

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

async function withMemory<T>(vm: string, opts: CommonOpts, fn: (m: VmMemory) => Promise<T>): Promise<T> {
  const m = await openVmMemory(vm, { backend: opts.backend });
  try {
    return await fn(m);
  } finally {
    await m.close();
  }
}

/** The DTB to use: --dtb, or CR3 of vCPU --cpu from QEMU's monitor; with the paging depth CR4 says. */
async function addressSpace(m: VmMemory, opts: VirtOpts): Promise<{ dtb: bigint; virt: VirtualMemory }> {
  const { virt } = await vmVirtualMemory(m);
  const access: VirtualAccess = opts.dtb === undefined ? { vcpu: parseNum(opts.cpu, '--cpu', 4095) } : { dtb: parseBig(opts.dtb, '--dtb') };
  return { dtb: await virt.dtbOf(access), virt };
}

function translationJson(t: Translation, dtb: bigint): Record<string, unknown> {
  return {
    va: hex(t.va),
    pa: hex(t.pa),
    dtb: hex(dtb),
    pageSize: t.pageSize,
    pageBase: hex(t.pageBase),
    writable: t.writable,
    user: t.user,
    nx: t.nx,
    entries: t.entries.map((e) => ({ level: e.level, at: hex(e.pa), value: hex(e.value) })),
  };
}

function sizeName(n: number): string {
  // Whole units only, falling back to the next smaller one: 2047 MiB stays 2047 MiB, not "2 GiB".
  for (const [unit, size] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 1024]] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${n} B`;
}

const backendOption = (): Option => new Option('--backend <name>', 'how to reach guest RAM').choices(['auto', 'ram-file', 'proc-mem', 'gdbstub']).default('auto');

function addVirtOptions(c: Command): Command {
  return c.option('--dtb <cr3>', 'translate with this DTB (CR3) instead of the vCPU\'s').option('--cpu <n>', 'take CR3 (and CR4.LA57) from this vCPU', '0');
}

/** Builds the `vmi` command group. */
export function vmiCommand(): Command {
  const vmi = new Command('vmi').description('introspect a running VM\'s memory from the host (needs introspection: true, or ptrace rights); vigil vmi <vm> <verb> ... or vigil vmi <verb> <vm> ...');

  addVirtOptions(
    vmi
      .command('read')
      .description('hex dump of guest memory: virtual (through the vCPU\'s page tables) or, with --phys, physical')
      .argument('<vm>', 'VM name')
      .argument('<addr>', 'address (hex 0x... or decimal)')
      .argument('<len>', 'bytes to read (at most 16 MiB)')
      .option('--phys', 'the address is guest-physical')
      .option('--raw', 'write the bytes themselves to stdout'),
  )
    .addOption(backendOption())
    .option('--json', 'print JSON (the bytes as hex)')
    .action((vm: string, addrText: string, lenText: string, opts: VirtOpts & { phys?: boolean; raw?: boolean }) => {
      // Bad input is refused before touching the VM.
      const len = parseNum(lenText, 'len', 16 << 20);
      const addr = parseBig(addrText, 'addr');
      return withMemory(vm, opts, async (m) => {
        let data: Buffer;
        let dtb: bigint | undefined;
        if (opts.phys === true) {
          data = await m.memory.readPhys(addr, len);
        } else {
          const space = await addressSpace(m, opts);
          dtb = space.dtb;
          data = await space.virt.read(addr, len, { dtb });
        }
        if (opts.raw === true) process.stdout.write(data);
        else if (opts.json === true) printJson({ address: hex(addr), physical: opts.phys === true, ...(dtb === undefined ? {} : { dtb: hex(dtb) }), length: len, hex: data.toString('hex') });
        else process.stdout.write(hexdump(data, addr) + '\n');
      });
    });

  addVirtOptions(vmi.command('translate').description('translate a guest-virtual address: physical address, page size, rights, the entries walked').argument('<vm>', 'VM name').argument('<va>', 'virtual address'))
    .addOption(backendOption())
    .option('--json', 'print JSON')
    .action((vm: string, vaText: string, opts: VirtOpts) => {
      const va = parseBig(vaText, 'va');
      return withMemory(vm, opts, async (m) => {
        const { dtb, virt } = await addressSpace(m, opts);
        const t = await virt.translate(va, dtb);
        if (opts.json === true) {
          printJson(translationJson(t, dtb));
          return;
        }
        const rights = [t.writable ? 'write' : 'read-only', t.user ? 'user' : 'supervisor', t.nx ? 'nx' : 'exec'].join(' ');
        const lines = [`${hex(t.va)} -> ${hex(t.pa)}  (${sizeName(t.pageSize)} page at ${hex(t.pageBase)}; ${rights}; dtb ${hex(dtb)})`];
        for (const e of t.entries) lines.push(`  L${e.level} entry at ${hex(e.pa)} = ${e.value.toString(16).padStart(16, '0')}`);
        process.stdout.write(lines.join('\n') + '\n');
      });
    });

  vmi
    .command('search')
    .description('find a string (or --hex bytes) in guest physical memory; prints each physical address with its bytes')
    .argument('<vm>', 'VM name')
    .argument('<pattern>', 'text (UTF-8), or hex bytes with --hex')
    .option('--hex', 'the pattern is hex bytes, e.g. 7f454c46')
    .option('--start <pa>', 'first physical address searched')
    .option('--end <pa>', 'physical address where the search stops')
    .option('--limit <n>', 'stop after this many matches', '100')
    .addOption(backendOption())
    .option('--json', 'print JSON')
    .action((vm: string, pattern: string, opts: CommonOpts & { hex?: boolean; start?: string; end?: string; limit: string }) => {
      if (opts.hex === true && !/^([0-9a-f]{2})+$/i.test(pattern)) {
        throw new VigilError('VIGIL_INVALID_INPUT', `--hex pattern '${pattern}' is not an even number of hex digits`, { context: { field: 'pattern' } });
      }
      const needle = opts.hex === true ? Buffer.from(pattern, 'hex') : Buffer.from(pattern, 'utf8');
      const bounds = {
        limit: parseNum(opts.limit, '--limit'),
        ...(opts.start === undefined ? {} : { start: parseNum(opts.start, '--start') }),
        ...(opts.end === undefined ? {} : { end: parseNum(opts.end, '--end') }),
      };
      return withMemory(vm, opts, async (m) => {
        const hits = await m.memory.search(needle, bounds);
        if (opts.json === true) {
          printJson({ pattern: needle.toString('hex'), matches: hits.map((pa) => hex(pa)) });
          return;
        }
        for (const pa of hits) {
          const preview = await m.memory.readBatch([{ pa, len: Math.min(needle.length + 16, 64) }]).catch(() => [needle]);
          process.stdout.write(hexdump(preview[0] ?? needle, pa).split('\n')[0] + '\n');
        }
        process.stderr.write(`${hits.length} match${hits.length === 1 ? '' : 'es'}\n`);
      });
    });

  vmi
    .command('dump')
    .description('write guest physical RAM to a file, at file offset = guest-physical address (holes and never-touched zero MiBs stay sparse)')
    .argument('<vm>', 'VM name')
    .argument('<file>', 'output file (created or truncated)')
    .option('--purpose <text>', 'what the dump is for (recorded in the audit log)')
    .addOption(backendOption())
    .option('--json', 'print the ranges written as JSON')
    .action((vm: string, file: string, opts: CommonOpts & { purpose?: string }) =>
      withMemory(vm, opts, async (m) => {
        const started = performance.now();
        const runs = m.memory.servedRuns();
        const fd = openSync(file, 'w', 0o600);
        const chunk = Buffer.allocUnsafe(1 << 20);
        const zeros = Buffer.alloc(chunk.length);
        let bytes = 0;
        try {
          for (const r of runs) {
            for (let at = r.start; at < r.end; at += chunk.length) {
              const part = chunk.subarray(0, Math.min(chunk.length, r.end - at));
              await m.memory.readPhysInto(at, part);
              bytes += part.length;
              // Pages the guest never touched stay holes in the file too.
              if (part.equals(zeros.subarray(0, part.length))) continue;
              let done = 0;
              while (done < part.length) done += writeSync(fd, part, done, part.length - done, at + done);
            }
          }
          const last = runs[runs.length - 1];
          if (last !== undefined) ftruncateSync(fd, last.end);
        } catch (err) {
          m.memory.recordDump('vmi-dump', { file, bytes }, opts.purpose, 'failed', performance.now() - started, err instanceof VigilError ? err.code : 'error');
          throw err;
        } finally {
          closeSync(fd);
        }
        m.memory.recordDump('vmi-dump', { file, bytes }, opts.purpose, 'ok', performance.now() - started);
        const ranges = runs.map((r) => ({ start: hex(r.start), end: hex(r.end) }));
        if (opts.json === true) printJson({ file, bytes, ranges });
        else process.stdout.write(`wrote ${bytes} bytes of guest RAM to ${file} (file offset = physical address): ${ranges.map((r) => `${r.start}-${r.end}`).join(', ')}\n`);
      }),
    );

  vmi
    .command('map')
    .description('the guest-physical RAM ranges, as QEMU reports them, and where each lies in its RAM block')
    .argument('<vm>', 'VM name')
    .addOption(backendOption())
    .option('--json', 'print JSON')
    .action((vm: string, opts: CommonOpts) =>
      withMemory(vm, opts, (m) => {
        const ranges = m.memory.map.ranges.map((r) => ({ start: hex(r.start), end: hex(r.start + r.size), size: r.size, block: r.block, blockOffset: hex(r.blockOffset), writable: r.writable, served: m.memory.backend.serves(r) }));
        if (opts.json === true) printJson({ backend: m.memory.backend.name, capabilities: m.memory.backend.capabilities, ranges });
        else {
          const lines = [`backend ${m.memory.backend.name}`];
          for (const r of ranges) lines.push(`  ${r.start.padStart(12)}-${r.end.padEnd(12)} ${sizeName(r.size).padStart(9)}  ${r.block} @${r.blockOffset}${r.writable ? '' : ' (rom)'}`);
          process.stdout.write(lines.join('\n') + '\n');
        }
        return Promise.resolve();
      }),
    );

  for (const c of vmiCpuCommands()) vmi.addCommand(c);
  addLinuxVerbs(vmi);

  // `vigil vmi <vm> <verb> ...`: swap the first two words and parse again (a VM named like a verb needs verb-first).
  vmi
    .command('on', { isDefault: true, hidden: true })
    .argument('<vm>')
    .argument('<verb>')
    .argument('[rest...]')
    .allowUnknownOption()
    .helpOption(false)
    .action(async (vm: string, verb: string, rest: string[]) => {
      const verbs = vmi.commands.map((c) => c.name()).filter((n) => n !== 'on');
      if (!verbs.includes(verb)) {
        throw new VigilError('VIGIL_INVALID_INPUT', `'${verb}' is not a vmi verb: use one of ${verbs.join(', ')} (vigil vmi <vm> <verb> ... or vigil vmi <verb> <vm> ...)`, { context: { field: 'verb', value: verb } });
      }
      await vmi.parseAsync([verb, vm, ...rest], { from: 'user' });
    });

  return vmi;
}
