/**
 * Linux views from the host: attach -> first process list, cold (BTF and VMCOREINFO found in RAM, init_task
 * found), and warm re-listings with 200 processes in the guest (goal < 20 ms); also uname and modules warm.
 * Run: `npx tsx bench/vmi-linux.ts [--runs N]` (after `make setup`, which builds the test guest).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureGuestImage, makeInitrd } from '../guest/build.js';
import { defaultInitScript } from '../guest/init-script.js';
import { silentLogger } from '../src/core/log.js';
import { openVmMemory } from '../src/vmi/memory/vm-memory.js';
import { LinuxKernel } from '../src/vmi/os/linux/kernel.js';
import { listModules } from '../src/vmi/os/linux/modules.js';
import { listProcesses } from '../src/vmi/os/linux/tasks.js';
import { readPidfile } from '../src/vm/process.js';
import { Vigil } from '../src/vigil.js';

const RUNS = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 50;
const home = mkdtempSync(join(tmpdir(), 'vigil-bench-vmi-linux-'));
const vigil = Vigil.open({ home, logger: silentLogger, principal: 'bench' });
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

async function main(): Promise<void> {
  const image = await ensureGuestImage();
  // 180 sleepers (busybox applets with arguments) on top of the ~25 kernel threads and the init's own processes.
  const initrd = await makeInitrd(image, defaultInitScript('i=0; while [ $i -lt 180 ]; do sleep 100000 & i=$((i+1)); done\nmodprobe dummy'), join(home, 'initrd.img'));
  const definition = join(home, 'g.yaml');
  writeFileSync(definition, `name: g\nmemory: 256M\naccel: tcg\nintrospection: true\nboot:\n  kernel: ${image.kernel}\n  initrd: ${initrd}\n  cmdline: console=ttyS0 panic=-1 quiet cryptomgr.notests\n`);
  vigil.add([definition]);
  await vigil.start('g');
  const log = vigil.vms.files('g').serialLog;
  for (let i = 0; i < 1200 && !(existsSync(log) && readFileSync(log, 'utf8').includes('VIGIL-GUEST-READY')); i++) await sleep(100);
  const vm = await openVmMemory('g', { paths: vigil.paths, store: vigil.db });
  try {
    const t0 = performance.now();
    const kernel = await LinuxKernel.attach(vm.memory);
    const attachMs = performance.now() - t0;
    const first = await listProcesses(kernel);
    const coldMs = performance.now() - t0;
    const warm: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      await listProcesses(kernel);
      warm.push(performance.now() - t);
    }
    const mods: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      kernel.virt.invalidate();
      await listModules(kernel);
      mods.push(performance.now() - t);
    }
    process.stdout.write(
      [
        `| figure (${first.length} processes, 256 MiB guest, TCG, RAM-file backend) | value |`,
        '|---|---|',
        `| attach (BTF + VMCOREINFO found in RAM, DTB checked, init_task found) | ${attachMs.toFixed(0)} ms |`,
        `| attach -> first process list (cold) | ${coldMs.toFixed(0)} ms |`,
        `| warm re-listing, p50 / p99 (n=${RUNS}) | ${pct(warm, 50).toFixed(1)} ms / ${pct(warm, 99).toFixed(1)} ms |`,
        `| module list (module area walked afresh), p50 (n=10) | ${pct(mods, 50).toFixed(1)} ms |`,
      ].join('\n') + '\n',
    );
  } finally {
    await vm.close();
  }
}

try {
  await main();
} finally {
  const pid = readPidfile(vigil.vms.files('g').pidfile);
  if (pid) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  vigil.close();
  rmSync(home, { recursive: true, force: true });
}
