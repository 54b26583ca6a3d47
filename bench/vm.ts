/**
 * VM lifecycle figures: `vigil vm start` to QMP `running` for the test guest; vigild's startup reconcile with
 * 50 defined and 10 running VMs; vigild's idle RSS while it watches 10 VMs.
 * Run: `npx tsx bench/vm.ts [--starts N]` (after `make setup`, which builds bin/vigil and bin/vigild).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ensureGuestImage, makeInitrd } from '../guest/build.js';
import { defaultInitScript } from '../guest/init-script.js';
import { silentLogger } from '../src/core/log.js';
import { QmpClient } from '../src/qmp/client.js';
import { Vigil } from '../src/vigil.js';
import { vmDefinitionSchema } from '../src/vm/definition/schema.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const STARTS = Number(process.argv[process.argv.indexOf('--starts') + 1]) || 10;
const home = mkdtempSync(join(tmpdir(), 'vigil-bench-vm-'));
const env = { ...process.env, VIGIL_HOME: home, VIGIL_LOG_LEVEL: 'info' };
const vigil = Vigil.open({ home, logger: silentLogger, principal: 'bench' });

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[]): string => `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}, n=${xs.length})`;

function vigilCli(args: string[]): void {
  const r = spawnSync(`${root}bin/vigil`, args, { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vigil ${args.join(' ')}: ${r.stderr}`);
}

async function qmpStatus(socket: string): Promise<string> {
  const c = new QmpClient({ logger: silentLogger });
  await c.connect({ path: socket });
  const s = await c.execute<{ status: string }>('query-status');
  await c.close();
  return s.status;
}

try {
  const image = await ensureGuestImage();
  const initrd = await makeInitrd(image, defaultInitScript(), join(home, 'initrd.img'));
  const guest = `name: guest\nmemory: 256M\naccel: tcg\nboot:\n  kernel: ${image.kernel}\n  initrd: ${initrd}\n  cmdline: console=ttyS0 quiet\n`;
  writeFileSync(join(home, 'guest.yaml'), guest);
  vigilCli(['vm', 'add', join(home, 'guest.yaml')]);

  // 1. `vigil vm start` (a new CLI process, as a user runs it) until QMP reports running.
  const cli: number[] = [];
  const lib: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const t0 = performance.now();
    vigilCli(['vm', 'start', 'guest']);
    const status = await qmpStatus(vigil.vms.files('guest').qmpSocket);
    cli.push(performance.now() - t0);
    if (status !== 'running') throw new Error(`status ${status}`);
    await vigil.stop('guest', { force: true });
    const t1 = performance.now();
    await vigil.start('guest');
    lib.push(performance.now() - t1);
    await vigil.stop('guest', { force: true });
  }
  console.log(`vm start -> QMP running, CLI process: ${fmt(cli)}`);
  console.log(`vm start -> QMP running, library call: ${fmt(lib)}`);

  // 2. Reconcile: 50 defined VMs, 10 of them running (no OS, 64 MiB: they idle in the firmware).
  for (let i = 0; i < 50; i++) vigil.define(vmDefinitionSchema.parse({ name: `vm${i}`, memory: '64M', accel: 'tcg' }));
  await Promise.all(Array.from({ length: 10 }, (_, i) => vigil.start(`vm${i}`)));
  const ready: number[] = [];
  const readyWall: number[] = [];
  let rssKiB = 0;
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    const d = spawn(`${root}bin/vigild`, [], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const line = await new Promise<{ ms: number; adopted: string[] }>((resolve, reject) => {
      d.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const l = out.split('\n').find((x) => x.includes('"vigild ready"'));
        if (l) resolve(JSON.parse(l) as { ms: number; adopted: string[] });
      });
      d.on('exit', (code) => reject(new Error(`vigild exited ${code}: ${out}`)));
    });
    readyWall.push(performance.now() - t0);
    ready.push(line.ms);
    if (line.adopted.length !== 10) throw new Error(`adopted ${line.adopted.length}`);
    if (round === 4) {
      // 3. Idle RSS while watching the 10 VMs.
      await sleep(10000);
      rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${d.pid}/status`, 'utf8'))?.[1]);
    }
    d.kill('SIGTERM');
    await new Promise((r) => d.once('exit', r));
  }
  console.log(`vigild reconcile (50 defined, 10 running, all 10 adopted): ${fmt(ready)}; process start to ready: ${fmt(readyWall)}`);
  console.log(`vigild RSS idle, watching 10 VMs: ${(rssKiB / 1024).toFixed(1)} MiB`);
} finally {
  await Promise.all(vigil.list().filter((v) => v.state === 'running').map((v) => vigil.stop(v.name, { force: true }).catch(() => undefined)));
  vigil.close();
  rmSync(home, { recursive: true, force: true });
}
