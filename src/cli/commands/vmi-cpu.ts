/**
 * `vigil vmi regs|break|watch|step <vm> ...`: vCPU state and events of a VM through its gdbstub. Attaching pauses
 * the guest (QEMU does that); each command detaches at the end, which resumes the guest, unless it was paused
 * before we came (checked over QMP for Vigil VMs), or --keep-paused is given.
 */
import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { VigilError } from '../../core/errors.js';
import { resolvePaths, vmQmpSocket } from '../../core/paths.js';
import { hex64 } from '../../gdb/hex.js';
import { QmpClient } from '../../qmp/client.js';
import { isVmName } from '../../vm/target.js';
import { vmFiles } from '../../vm/runtime.js';
import { CORE_REGISTERS, VmiCpu, type Registers } from '../../vmi/cpu/vcpu.js';
import { VmiEvents } from '../../vmi/events/events.js';
import type { Trap, VmiEvent } from '../../vmi/events/types.js';
import { toJson } from '../output.js';

/** A VM's gdbstub, attached, and whether the guest was running before. */
interface Attached {
  name: string;
  cpu: VmiCpu;
  /** Leave the guest paused at the end (it was paused before, or --keep-paused). */
  keepPaused: boolean;
}

/** `<vm>` is a VM name (its runtime dir's gdb.sock) or a gdbstub socket path. */
function gdbSocketOf(target: string): { socket: string; qmp?: string } {
  if (target.includes('/')) {
    if (!existsSync(target)) throw new VigilError('VIGIL_NOT_FOUND', `no gdbstub socket at ${target}`, { context: { socket: target } });
    return { socket: target };
  }
  if (!isVmName(target)) {
    throw new VigilError('VIGIL_INVALID_INPUT', `'${target}' is neither a VM name nor a socket path: VM names use letters, digits, '_', '.', '-'`, { context: { field: 'vm', value: target } });
  }
  const paths = resolvePaths();
  const socket = vmFiles(paths, target).gdbSocket;
  if (!existsSync(socket)) {
    throw new VigilError('VIGIL_NOT_FOUND', `VM '${target}' has no gdbstub at ${socket}: is it running, and defined with "introspection: true"?`, { context: { vm: target, socket } });
  }
  const qmp = vmQmpSocket(paths, target);
  return existsSync(qmp) ? { socket, qmp } : { socket };
}

/** Whether QEMU says the guest is running (undefined when it cannot be asked). */
async function guestRunning(qmpSocket: string | undefined): Promise<boolean | undefined> {
  if (qmpSocket === undefined) return undefined;
  const client = new QmpClient({ connectTimeoutMs: 2000, commandTimeoutMs: 2000 });
  try {
    await client.connect({ path: qmpSocket });
    return (await client.execute<{ running: boolean }>('query-status')).running;
  } catch {
    return undefined;
  } finally {
    await client.close().catch(() => undefined);
  }
}

async function attach(target: string, keepPaused: boolean): Promise<Attached> {
  const { socket, qmp } = gdbSocketOf(target);
  const running = await guestRunning(qmp);
  const cpu = await VmiCpu.open(socket);
  return { name: target, cpu, keepPaused: keepPaused || running === false };
}

/** Ends the session: detach (QEMU resumes the guest) or leave it paused. */
async function finish(a: Attached, events?: VmiEvents): Promise<void> {
  if (events !== undefined) await events.close({ resume: !a.keepPaused });
  else if (a.keepPaused) a.cpu.gdb.close();
  else await a.cpu.close();
}

/** Parses an address or a length: 0x-prefixed hex or decimal. */
export function parseNumber(text: string, field: string): bigint {
  const t = text.trim().replace(/_/g, '');
  if (/^0x[0-9a-f]+$/i.test(t) || /^[0-9]+$/.test(t)) return BigInt(t);
  throw new VigilError('VIGIL_INVALID_INPUT', `${field} '${text}' is not a number: write hex with 0x (0xffffffff81000000) or decimal`, { context: { field, value: text } });
}

function parseCount(text: string, field: string): number {
  const n = Number(parseNumber(text, field));
  if (!Number.isSafeInteger(n) || n <= 0) throw new VigilError('VIGIL_INVALID_INPUT', `${field} must be a positive integer`, { context: { field, value: text } });
  return n;
}

function hexRecord(regs: Registers, names?: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names ?? Object.keys(regs)) {
    const v = regs[name];
    if (v !== undefined) out[name] = `0x${v.toString(16)}`;
  }
  return out;
}

/** Registers as aligned `name value` columns, three to a line. */
export function formatRegisters(regs: Registers, names: readonly string[]): string {
  const cells = names.filter((n) => regs[n] !== undefined).map((n) => `${n.padStart(9)} ${hex64(regs[n] as bigint)}`);
  const lines: string[] = [];
  for (let i = 0; i < cells.length; i += 3) lines.push(cells.slice(i, i + 3).join('  '));
  return lines.join('\n');
}

function eventJson(e: VmiEvent, regs?: Registers): Record<string, unknown> {
  return {
    seq: e.seq,
    kind: e.kind,
    vcpu: e.vcpu,
    rip: `0x${e.rip.toString(16)}`,
    ...(e.address === undefined ? {} : { address: `0x${e.address.toString(16)}` }),
    ...(e.access === undefined ? {} : { access: e.access }),
    ...(regs === undefined ? {} : { registers: hexRecord(regs, CORE_REGISTERS) }),
  };
}

function eventLine(e: VmiEvent, regs: Registers): string {
  const what = e.kind === 'watchpoint' ? `watchpoint (${e.access ?? 'write'}) on ${hex64(e.address ?? 0n)}` : `breakpoint at ${hex64(e.address ?? e.rip)}`;
  return `#${e.seq} ${what} on vcpu ${e.vcpu}: rip ${hex64(e.rip)}  rsp ${hex64(regs.rsp ?? 0n)}  cr3 ${hex64(regs.cr3 ?? 0n)}`;
}

interface WaitOpts {
  count: string;
  timeout: string;
  vcpu?: string;
  json?: boolean;
  keepPaused?: boolean;
}

/** Arms one trap, prints `count` hits as they come, then disarms and detaches. */
async function waitForHits(target: string, trap: Trap, opts: WaitOpts): Promise<void> {
  const count = parseCount(opts.count, '--count');
  const timeoutMs = parseCount(opts.timeout, '--timeout');
  const vcpu = opts.vcpu === undefined ? undefined : Number(parseNumber(opts.vcpu, '--vcpu'));
  const a = await attach(target, opts.keepPaused ?? false);
  const events = new VmiEvents(a.cpu);
  let seen = 0;
  let timer: NodeJS.Timeout | undefined;
  try {
    if (vcpu !== undefined) a.cpu.vcpu(vcpu);
    const done = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => {
        reject(new VigilError('VIGIL_GDB_TIMEOUT', `${seen} of ${count} hits within ${timeoutMs} ms (raise --timeout, or check the address)`, { context: { seen, count, timeoutMs } }));
      }, timeoutMs);
      void events
        .subscribe({ trap, ...(vcpu === undefined ? {} : { vcpu }) }, async (e, ctx) => {
          if (seen >= count) return 'pause' as const;
          const regs = await ctx.registers();
          seen++;
          process.stdout.write((opts.json ? toJson(eventJson(e, regs), true) : eventLine(e, regs)) + '\n');
          if (seen < count) return 'continue' as const;
          resolve();
          return 'pause' as const;
        })
        .then(() => events.start(), reject);
    });
    await done;
  } finally {
    clearTimeout(timer);
    await finish(a, events);
  }
}

/** The `vmi` verbs for vCPU state and events; mounted under `vigil vmi`. */
export function vmiCpuCommands(): Command[] {
  const regs = new Command('regs')
    .description("print a VM's vCPU registers (CR3 included) through its gdbstub")
    .argument('<vm>', 'VM name or gdbstub socket path')
    .option('--vcpu <n>', 'only this vCPU (default: all)')
    .option('--all', 'every register the target describes (x87, SSE ...), not only the core ones')
    .option('--json', 'print JSON')
    .option('--keep-paused', 'leave the guest paused afterwards')
    .action(async (target: string, opts: { vcpu?: string; all?: boolean; json?: boolean; keepPaused?: boolean }) => {
      const a = await attach(target, opts.keepPaused ?? false);
      try {
        const list = opts.vcpu === undefined ? a.cpu.vcpus.map((v) => v.index) : [a.cpu.vcpu(Number(parseNumber(opts.vcpu, '--vcpu'))).index];
        const out: { vcpu: number; registers: Registers }[] = [];
        for (const v of list) out.push({ vcpu: v, registers: await a.cpu.registers(v) });
        const names = opts.all ? a.cpu.gdb.registers.map((r) => r.name) : [...CORE_REGISTERS];
        if (opts.json) {
          process.stdout.write(toJson({ vm: a.name, vcpus: out.map((o) => ({ vcpu: o.vcpu, registers: hexRecord(o.registers, names) })) }) + '\n');
        } else {
          for (const o of out) process.stdout.write(`vcpu ${o.vcpu}\n${formatRegisters(o.registers, names)}\n`);
        }
      } finally {
        await finish(a);
      }
    });

  const brk = new Command('break')
    .description('arm a breakpoint at a guest virtual address and print each hit (vCPU, registers)')
    .argument('<vm>', 'VM name or gdbstub socket path')
    .argument('<addr>', 'guest virtual address, e.g. 0xffffffff81000000')
    .option('--hardware', 'a hardware breakpoint (Z1) instead of a software one (Z0)')
    .option('--vcpu <n>', 'report only hits on this vCPU')
    .option('--count <n>', 'hits to wait for', '1')
    .option('--timeout <ms>', 'give up after this long', '30000')
    .option('--json', 'one JSON object per hit')
    .option('--keep-paused', 'leave the guest paused at the last hit')
    .action(async (target: string, addr: string, opts: WaitOpts & { hardware?: boolean }) => {
      await waitForHits(target, { type: 'breakpoint', address: parseNumber(addr, 'addr'), hardware: opts.hardware ?? false }, opts);
    });

  const watch = new Command('watch')
    .description('arm a watchpoint on a guest virtual range and print each hit')
    .argument('<vm>', 'VM name or gdbstub socket path')
    .argument('<addr>', 'guest virtual address of the range')
    .argument('<len>', 'length in bytes (1, 2, 4, 8 on hardware; QEMU under TCG takes any)')
    .addOption(new Option('--write', 'fire on writes (the default)').conflicts('access'))
    .addOption(new Option('--access', 'fire on reads and writes').conflicts('write'))
    .option('--vcpu <n>', 'report only hits on this vCPU')
    .option('--count <n>', 'hits to wait for', '1')
    .option('--timeout <ms>', 'give up after this long', '30000')
    .option('--json', 'one JSON object per hit')
    .option('--keep-paused', 'leave the guest paused at the last hit')
    .action(async (target: string, addr: string, len: string, opts: WaitOpts & { write?: boolean; access?: boolean }) => {
      const length = parseCount(len, 'len');
      await waitForHits(target, { type: 'watchpoint', address: parseNumber(addr, 'addr'), length, access: opts.access ? 'access' : 'write' }, opts);
    });

  const step = new Command('step')
    .description('single-step one vCPU and print where it went')
    .argument('<vm>', 'VM name or gdbstub socket path')
    .option('--vcpu <n>', 'the vCPU to step', '0')
    .option('--count <n>', 'instructions to step', '1')
    .option('--json', 'print JSON')
    .option('--keep-paused', 'leave the guest paused afterwards')
    .action(async (target: string, opts: { vcpu: string; count: string; json?: boolean; keepPaused?: boolean }) => {
      const count = parseCount(opts.count, '--count');
      const a = await attach(target, opts.keepPaused ?? false);
      try {
        const vcpu = a.cpu.vcpu(Number(parseNumber(opts.vcpu, '--vcpu'))).index;
        const before = await a.cpu.registers(vcpu);
        const rips: bigint[] = [];
        for (let i = 0; i < count; i++) {
          await a.cpu.step(vcpu);
          rips.push(await a.cpu.register('rip', vcpu));
        }
        const after = await a.cpu.registers(vcpu);
        const changed = CORE_REGISTERS.filter((n) => before[n] !== after[n]);
        if (opts.json) {
          process.stdout.write(
            toJson({ vm: a.name, vcpu, from: `0x${(before.rip ?? 0n).toString(16)}`, rips: rips.map((r) => `0x${r.toString(16)}`), changed: Object.fromEntries(changed.map((n) => [n, { before: `0x${(before[n] ?? 0n).toString(16)}`, after: `0x${(after[n] ?? 0n).toString(16)}` }])) }) + '\n',
          );
        } else {
          process.stdout.write(`vcpu ${vcpu}: ${[before.rip ?? 0n, ...rips].map(hex64).join(' -> ')}\n`);
          for (const n of changed) process.stdout.write(`  ${n.padEnd(8)} ${hex64(before[n] ?? 0n)} -> ${hex64(after[n] ?? 0n)}\n`);
        }
      } finally {
        await finish(a);
      }
    });

  return [regs, brk, watch, step];
}
