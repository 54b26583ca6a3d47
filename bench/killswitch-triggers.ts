/**
 * Kill switch trigger figures. (1) Detection alone: trigger event -> callback, for the file trigger (create and
 * remove, through fs.watch) and the hotkey trigger (the completing key record written into a FIFO standing in
 * for /dev/input/event*), over many rounds with a callback that does nothing. (2) End to end: trigger event ->
 * a real KillswitchEngine has every device of a real VM (TCG, no OS; 3 emulated USB devices + a user NIC)
 * confirmed cut, for both triggers, over engage/release rounds.
 * Run: `npx tsx bench/killswitch-triggers.ts [--runs N]` (after `make setup`).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '../src/core/log.js';
import { KillswitchEngine } from '../src/killswitch/engine.js';
import type { SwitchReport, Trigger } from '../src/killswitch/report.js';
import type { TriggerAction, TriggerCallback } from '../src/killswitch/triggers/fire.js';
import { FileTrigger } from '../src/killswitch/triggers/file.js';
import { HotkeyTrigger } from '../src/killswitch/triggers/hotkey.js';
import { encodeInputEvents, keyRecords } from '../src/killswitch/triggers/input-event.js';
import { Vigil } from '../src/vigil.js';
import { vmDefinitionSchema } from '../src/vm/definition/schema.js';
import { readPidfile } from '../src/vm/process.js';

const RUNS = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 20;
const DETECT_RUNS = RUNS * 10;
const CTRL = 29;
const K = 37;
const home = mkdtempSync(join(tmpdir(), 'vigil-bench-trig-'));

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

/** A callback whose next call resolves a promise with the time it was called and what it returned. */
function probe(inner: (kind: TriggerAction, trigger: Trigger) => Promise<unknown>): { callback: TriggerCallback; next: () => Promise<{ at: number; kind: TriggerAction; done: number }> } {
  let waiter: ((v: { at: number; kind: TriggerAction; done: number }) => void) | undefined;
  return {
    callback: async (kind, trigger) => {
      const at = performance.now();
      const result = await inner(kind, trigger);
      const w = waiter;
      waiter = undefined;
      w?.({ at, kind, done: performance.now() });
      return result;
    },
    next: () => new Promise((resolve) => (waiter = resolve)),
  };
}

const keys = (...seq: [number, 0 | 1][]): Buffer => encodeInputEvents(seq.flatMap(([code, value]) => keyRecords(code, value)));

async function main(): Promise<void> {
  const vigil = Vigil.open({ home, logger: silentLogger, principal: 'bench' });
  const rows: [string, number[]][] = [];
  try {
    // (1) Detection only.
    const noop = probe(() => Promise.resolve());
    const file = join(home, 'trigger');
    const ft = new FileTrigger({ path: file, pollMs: 1000, callback: noop.callback, logger: silentLogger });
    await ft.start();
    const fileDetect: number[] = [];
    for (let i = 0; i < DETECT_RUNS; i++) {
      for (const step of ['create', 'remove'] as const) {
        const seen = noop.next();
        const t0 = performance.now();
        if (step === 'create') writeFileSync(file, '');
        else rmSync(file);
        fileDetect.push((await seen).at - t0);
      }
    }
    await ft.stop();
    rows.push(['file: create/remove -> callback (fs.watch)', fileDetect]);

    const fifo = join(home, 'event0');
    execFileSync('mkfifo', [fifo]);
    const ht = new HotkeyTrigger({ keys: 'KEY_LEFTCTRL+KEY_K', action: 'toggle', devices: [fifo], reopenMs: 1000, debounceMs: 0, callback: noop.callback, logger: silentLogger });
    await ht.start();
    const w = await open(fifo, 'w');
    await w.write(keys([CTRL, 1]));
    const keyDetect: number[] = [];
    for (let i = 0; i < DETECT_RUNS; i++) {
      const seen = noop.next();
      const t0 = performance.now();
      await w.write(keys([K, 1]));
      keyDetect.push((await seen).at - t0);
      await w.write(keys([K, 0]));
    }
    rows.push(['hotkey: key record written -> callback (FIFO)', keyDetect]);

    // (2) End to end through a real engine and a real VM.
    vigil.define(
      vmDefinitionSchema.parse({
        name: 'desk',
        memory: '64M',
        accel: 'tcg',
        nics: [{ type: 'user' }],
        devices: [{ id: 'usbc', driver: 'qemu-xhci' }, ...['usb-kbd', 'usb-tablet', 'usb-mouse'].map((driver, j) => ({ id: `u${j}`, driver, props: { bus: 'usbc.0' } }))],
        killswitch: { devices: 'all', escalation: ['pause'] },
      }),
    );
    await vigil.start('desk');
    const engine = new KillswitchEngine({ db: vigil.db, vms: vigil.vms, audit: vigil.audit, paths: vigil.paths, logger: silentLogger });
    const check = (r: SwitchReport): void => {
      const bad = r.vms.flatMap((v) => v.devices).filter((d) => !['detached', 'link-down', 'attached', 'link-up'].includes(d.outcome));
      if (bad.length > 0 || r.vms.length !== 1) throw new Error(`${r.action}: ${JSON.stringify(bad)}`);
    };
    const real = probe(async (kind, trigger) => {
      const report = await engine[kind](trigger);
      check(report);
      return report;
    });
    for (let warm = 0; warm < 2; warm++) {
      await engine.engage({ source: 'bench-warmup' });
      await engine.release({ source: 'bench-warmup' });
    }
    const ft2 = new FileTrigger({ path: file, pollMs: 1000, callback: real.callback, logger: silentLogger });
    await ft2.start();
    const fileEngaged: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let seen = real.next();
      const t0 = performance.now();
      writeFileSync(file, '');
      const e = await seen;
      if (e.kind !== 'engage' || engine.status().state !== 'engaged') throw new Error('file: not engaged');
      fileEngaged.push(e.done - t0);
      seen = real.next();
      rmSync(file);
      await seen;
    }
    await ft2.stop();
    rows.push(['file: create -> VM engaged (3 USB + link down)', fileEngaged]);

    // Closing the writer gives the stopped trigger's pending read its EOF; the new trigger opens the FIFO afresh.
    await ht.stop();
    await w.close();
    await sleep(50);
    const ht2 = new HotkeyTrigger({ keys: 'KEY_LEFTCTRL+KEY_K', action: 'toggle', devices: [fifo], reopenMs: 1000, debounceMs: 0, callback: real.callback, logger: silentLogger });
    await ht2.start();
    const w2 = await open(fifo, 'w');
    await w2.write(keys([CTRL, 1]));
    const keyEngaged: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let seen = real.next();
      const t0 = performance.now();
      await w2.write(keys([K, 1]));
      const e = await seen;
      if (e.kind !== 'toggle' || engine.status().state !== 'engaged') throw new Error('hotkey: not engaged');
      keyEngaged.push(e.done - t0);
      await w2.write(keys([K, 0]));
      seen = real.next();
      await w2.write(keys([K, 1], [K, 0]));
      await seen;
      if (engine.status().state !== 'armed') throw new Error('hotkey: not released');
    }
    await ht2.stop();
    await w2.close();
    rows.push(['hotkey: key record -> VM engaged (3 USB + link down)', keyEngaged]);
  } finally {
    const pid = readPidfile(vigil.vms.files('desk').pidfile);
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    vigil.close();
  }
  const row = (what: string, xs: number[]): string =>
    `| ${what.padEnd(52)} | ${pct(xs, 50).toFixed(2).padStart(7)} | ${pct(xs, 99).toFixed(2).padStart(7)} | ${Math.max(...xs).toFixed(2).padStart(7)} | ${String(xs.length).padStart(4)} |`;
  process.stdout.write(
    [`| trigger latency (ms)                                 | p50     | p99     | max     | n    |`, '|------------------------------------------------------|---------|---------|---------|------|', ...rows.map(([w, xs]) => row(w, xs))].join('\n') + '\n',
  );
}

try {
  await main();
} finally {
  rmSync(home, { recursive: true, force: true });
}
