/**
 * The gdbstub path under load, against a real QEMU test guest (TCG, one vCPU) whose init loops on write(2):
 *  1. breakpoint hit -> handler -> continue: a software breakpoint on __x64_sys_write, a handler that reads
 *     nothing and answers `continue`; measured from the stop reply's arrival to the vCont;c that lets the guest
 *     go (this includes the step over the breakpoint: vCont;s and its stop, plus z0/Z0 around it on a QEMU whose
 *     single-step does not pass its own breakpoints). Also the hits per second.
 *  2. the same with a handler that reads all registers (one `g`) before answering.
 *  3. watchpoint hit -> handler -> continue: a write watchpoint on jiffies (no step-over needed).
 *  4. one request round trip (`p` of RIP), for scale.
 *  5. gdbstub memory read throughput: M MiB of kernel text from `_text` (virtual addresses; text does not change,
 *     so the bytes can be compared) read by Vigil and by `gdb` itself (`dump binary memory`, timed inside gdb
 *     with its Python), both over the same TCP gdbstub (QEMU's `gdbserver` monitor command moves the stub to TCP
 *     so gdb reaches it without a helper process); and Vigil reading as much in QEMU's physical mode.
 *
 * Run: `npx tsx bench/gdb.ts [--hits N] [--mib M]`.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { defaultInitScript } from '../guest/init-script.js';
import { bootGuest } from '../guest/launch.js';
import type { GdbClient } from '../src/gdb/client.js';
import { silentLogger } from '../src/core/log.js';
import { QmpClient } from '../src/qmp/client.js';
import { VmiCpu } from '../src/vmi/cpu/vcpu.js';
import { VmiEvents } from '../src/vmi/events/events.js';
import type { EventAction, EventHandler, Trap } from '../src/vmi/events/types.js';
import { freePort } from '../test/helpers/net.js';

const run = promisify(execFile);

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function summary(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  return `p50 ${pct(s, 50).toFixed(3)} ms  p99 ${pct(s, 99).toFixed(3)} ms  (n=${s.length})`;
}

/** Times stop-arrival -> next vCont;c on a client (the guest stopped for an event until then). */
interface Timer {
  /** Stop arrival -> the vCont;c that ends the event. */
  samples: number[];
  /** Stop arrival -> the handler called. */
  toHandler: number[];
  /** vCont;s -> its stop (QEMU's single-step, the step-over's cost). */
  steps: number[];
  /** The stop that started the current event (performance.now()). */
  stopAt: number;
  reset(): void;
}

function instrument(gdb: GdbClient): Timer {
  let lastResume: 'c' | 's' = 'c';
  let stepAt = 0;
  const t: Timer = {
    samples: [],
    toHandler: [],
    steps: [],
    stopAt: 0,
    reset() {
      t.samples.length = 0;
      t.toHandler.length = 0;
      t.steps.length = 0;
    },
  };
  gdb.onStop(() => {
    if (lastResume === 'c') t.stopAt = performance.now();
    else t.steps.push(performance.now() - stepAt);
  });
  const resume = gdb.resume.bind(gdb);
  gdb.resume = (actions) => {
    const isContinue = actions[0]?.action === 'c';
    if (isContinue && t.stopAt > 0) {
      t.samples.push(performance.now() - t.stopAt);
      t.stopAt = 0;
    }
    if (!isContinue) stepAt = performance.now();
    lastResume = isContinue ? 'c' : 's';
    return resume(actions);
  };
  return t;
}

async function phase(events: VmiEvents, trap: Trap, hits: number, handler: EventHandler, timer: Timer): Promise<{ samples: number[]; toHandler: number[]; steps: number[]; perSecond: number }> {
  let n = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const warm = 20;
  let t0 = 0;
  const sub = await events.subscribe({ trap }, async (e, ctx): Promise<EventAction> => {
    timer.toHandler.push(performance.now() - timer.stopAt);
    await handler(e, ctx);
    n++;
    if (n === warm) {
      timer.reset();
      t0 = performance.now();
    }
    if (n === warm + hits) done();
    return 'continue';
  });
  await finished;
  const seconds = (performance.now() - t0) / 1000;
  await sub.unsubscribe();
  return { samples: [...timer.samples], toHandler: [...timer.toHandler], steps: [...timer.steps], perSecond: hits / seconds };
}

async function main(): Promise<void> {
  const hits = arg('hits', 2000);
  const mib = arg('mib', 8);
  const body = [
    `echo "SYMS $(grep -E ' [tT] __x64_sys_write$' /proc/kallsyms | cut -d' ' -f1) $(grep -E ' [dD] jiffies$' /proc/kallsyms | cut -d' ' -f1) $(grep -E ' [tT] _text$' /proc/kallsyms | cut -d' ' -f1)" >/dev/console`,
    '(while :; do echo x >/dev/null; done) &',
  ].join('\n');
  const guest = await bootGuest({ initScript: defaultInitScript(body), memoryMiB: 160 });
  try {
    const line = await guest.waitForSerial(/SYMS [0-9a-f]{16} [0-9a-f]{16} [0-9a-f]{16}/);
    const [, sysWrite, jiffiesHex, textHex] = /SYMS ([0-9a-f]{16}) ([0-9a-f]{16}) ([0-9a-f]{16})/.exec(line) ?? [];
    const text = BigInt(`0x${textHex}`);
    const sysWriteAddr = BigInt(`0x${sysWrite}`);
    const jiffies = BigInt(`0x${jiffiesHex}`);
    console.log(`guest up in ${guest.bootMs} ms; __x64_sys_write 0x${sysWrite}, jiffies 0x${jiffiesHex}; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);

    // Move the gdbstub to TCP so gdb can reach it directly; Vigil uses the same transport.
    const port = await freePort();
    const qmp = new QmpClient({ logger: silentLogger });
    await qmp.connect({ path: guest.qmpSocket });
    await qmp.execute('human-monitor-command', { 'command-line': `gdbserver tcp:127.0.0.1:${port}` });
    await qmp.close();

    const cpu = await VmiCpu.open({ host: '127.0.0.1', port });
    const timer = instrument(cpu.gdb);
    const events = new VmiEvents(cpu, { logger: silentLogger });
    await events.start();

    const bp = await phase(events, { type: 'breakpoint', address: sysWriteAddr }, hits, () => undefined, timer);
    console.log(`breakpoint hit -> handler -> continue (incl. step-over): ${summary(bp.samples)}; ${bp.perSecond.toFixed(0)} hits/s`);
    console.log(`  of which stop -> handler called: ${summary(bp.toHandler)}`);
    console.log(`  of which QEMU's single-step (vCont;s -> stop): ${summary(bp.steps)}`);
    console.log(`  the step passes the breakpoint without z0/Z0: ${String(events.stepPassesBreakpoint)}`);
    const bpRegs = await phase(events, { type: 'breakpoint', address: sysWriteAddr }, hits, async (_e, ctx) => void (await ctx.registers()), timer);
    console.log(`  same, handler reads all registers: ${summary(bpRegs.samples)}; ${bpRegs.perSecond.toFixed(0)} hits/s`);
    const wp = await phase(events, { type: 'watchpoint', address: jiffies, length: 8, access: 'write' }, Math.min(200, hits), () => undefined, timer);
    console.log(`watchpoint (jiffies) hit -> handler -> continue: ${summary(wp.samples)}; ${wp.perSecond.toFixed(0)} hits/s (the guest's tick rate)`);
    console.log(`  of which stop -> handler called: ${summary(wp.toHandler)}`);

    const rtt: number[] = [];
    const readBench = await events.withPaused(async (c) => {
      for (let i = 0; i < 2000; i++) {
        const t = performance.now();
        await c.gdb.readRegister('rip');
        rtt.push(performance.now() - t);
      }
      const len = mib * 1024 * 1024;
      let t = performance.now();
      const data = await c.readVirtual(text, len);
      const ms = performance.now() - t;
      t = performance.now();
      await c.readPhysical(0x1000000n, len);
      const physMs = performance.now() - t;
      return { data, ms, physMs, base: text, len };
    });
    console.log(`one request round trip (p rip): ${summary(rtt)}`);
    const mbs = (ms: number): string => (readBench.len / 1e6 / (ms / 1000)).toFixed(2);
    console.log(`Vigil gdbstub read of kernel text (virtual): ${mib} MiB in ${readBench.ms.toFixed(0)} ms = ${mbs(readBench.ms)} MB/s (${cpu.gdb.maxReadChunk}-byte m packets)`);
    console.log(`Vigil gdbstub read in physical mode: ${mib} MiB in ${readBench.physMs.toFixed(0)} ms = ${mbs(readBench.physMs)} MB/s`);
    await events.close();

    const gdbPath = '/usr/bin/gdb';
    if (existsSync(gdbPath)) {
      const out = join(tmpdir(), `vigil-bench-gdb-${process.pid}.bin`);
      const end = readBench.base + BigInt(readBench.len);
      const script = [
        '-batch',
        '-nx',
        '-ex',
        'set architecture i386:x86-64',
        '-ex',
        `target remote 127.0.0.1:${port}`,
        '-ex',
        'python import time; t0 = time.perf_counter()',
        '-ex',
        `dump binary memory ${out} 0x${readBench.base.toString(16)} 0x${end.toString(16)}`,
        '-ex',
        'python print("GDB-DUMP-MS %.1f" % ((time.perf_counter() - t0) * 1000))',
        '-ex',
        'detach',
      ];
      const { stdout } = await run(gdbPath, script, { maxBuffer: 1 << 24 });
      const ms = Number(/GDB-DUMP-MS ([\d.]+)/.exec(stdout)?.[1]);
      const same = readFileSync(out).equals(readBench.data);
      rmSync(out, { force: true });
      console.log(`gdb ${(await run(gdbPath, ['--version'])).stdout.split('\n')[0]}: ${mib} MiB in ${ms.toFixed(0)} ms = ${(readBench.len / 1e6 / (ms / 1000)).toFixed(2)} MB/s; same bytes as Vigil: ${same}`);
    } else console.log('gdb not installed: no comparison');
  } finally {
    await guest.stop();
  }
}

await main();
