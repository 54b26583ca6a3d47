/**
 * Fail-safe figures: vigild SIGKILLed -> the guardian has every device of the failsafe VMs confirmed cut, the
 * switch persisted `engaged` and the audit entry written (the guardian's `doneAt`, wall clock, against the
 * moment of the kill), and how much of it is detection (`detectedAt`). Real vigild and guardian processes (from
 * source through tsx), VMs with no OS (SeaBIOS) and 5 emulated USB devices each; N rounds of start vigild, kill,
 * release. Run: `npx tsx bench/guardian.ts [--runs N] [--vms N]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/core/log.js';
import { KillswitchEngine } from '../src/killswitch/engine.js';
import { Vigil } from '../src/vigil.js';
import { vmDefinitionSchema } from '../src/vm/definition/schema.js';
import { readPidfile } from '../src/vm/process.js';
import { startGuardianProcess } from '../test/killswitch/guardian/guardian-process.js';
import { startVigild } from '../test/helpers/vigild.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) || fallback : fallback;
};
const RUNS = arg('--runs', 10);
const VMS = arg('--vms', 2);
const home = mkdtempSync(join(tmpdir(), 'vigil-bench-guardian-'));
const env = { VIGIL_HOME: home };
const vigil = Vigil.open({ home, logger: silentLogger, principal: 'bench' });
const engine = new KillswitchEngine({ db: vigil.db, vms: vigil.vms, audit: vigil.audit, paths: vigil.paths, logger: silentLogger });

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

function cleanup(): void {
  for (let i = 0; i < VMS; i++) {
    const pid = readPidfile(join(vigil.paths.runtime, 'vms', `fs${i}`, 'qemu.pid'));
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  vigil.close();
  rmSync(home, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const usb = ['usb-kbd', 'usb-tablet', 'usb-mouse', 'usb-kbd', 'usb-tablet'];
  for (let i = 0; i < VMS; i++) {
    vigil.define(
      vmDefinitionSchema.parse({
        name: `fs${i}`,
        memory: '64M',
        accel: 'tcg',
        devices: [{ id: 'usbc', driver: 'qemu-xhci' }, ...usb.map((driver, j) => ({ id: `u${j}`, driver, props: { bus: 'usbc.0' } }))],
        killswitch: { devices: 'all', failsafe: true },
      }),
    );
  }
  await Promise.all(Array.from({ length: VMS }, (_, i) => vigil.start(`fs${i}`)));
  const guardian = startGuardianProcess(env);
  await guardian.waitForLog((l) => l.msg === 'vigil-guardian ready');
  const total: number[] = [];
  const detect: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const d = startVigild(env);
    await d.waitForLog((l) => l.msg === 'vigild ready', 120000);
    const pid = d.process.pid;
    await guardian.waitForLog((l) => l.msg === 'watching vigild' && l.pid === pid, 10000);
    const killedAt = Date.now();
    d.process.kill('SIGKILL');
    const line = await guardian.waitForLog((l) => l.msg === 'guardian engaged the kill switch' && l.pid === pid, 30000);
    if (line.safe !== true) throw new Error(`round ${r}: not every VM was cut`);
    total.push((line.doneAt as number) - killedAt);
    detect.push((line.detectedAt as number) - killedAt);
    await d.exited;
    const released = await engine.release({ source: 'bench' });
    if ((released.unrestored ?? []).length > 0) throw new Error(`release: ${released.unrestored?.join('; ')}`);
  }
  guardian.process.kill('SIGTERM');
  const f = (xs: number[]): string => `p50 ${pct(xs, 50)} ms, p99 ${pct(xs, 99)} ms, max ${Math.max(...xs)} ms`;
  process.stdout.write(`guardian: ${VMS} failsafe VMs x 5 USB devices, ${RUNS} rounds\n`);
  process.stdout.write(`  vigild SIGKILL -> all cut, engaged, audited: ${f(total)}\n`);
  process.stdout.write(`  vigild SIGKILL -> death detected:          ${f(detect)}\n`);
}

main().then(
  () => {
    cleanup();
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    cleanup();
    process.exit(1);
  },
);
