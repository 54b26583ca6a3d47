/**
 * Images, snapshots and monitoring figures: qemu-img convert of a 1 GiB qcow2 (256 MiB of data) to raw;
 * snapshot save and restore of the test guest with 256 MiB RAM; /metrics scrape time with 20 VMs (real QEMUs
 * started through Vigil and paused right after their start: 20 guests booting under TCG would swamp this host),
 * and again with one of them SIGSTOPped.
 * Run: `npx tsx bench/images.ts [--rounds N] [--vms N]`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { ensureGuestImage, makeInitrd } from '../guest/build.js';
import { defaultInitScript } from '../guest/init-script.js';
import { buildApi } from '../src/api/server.js';
import { silentLogger } from '../src/core/log.js';
import { AccessRepo } from '../src/store/access-repo.js';
import { renderMetrics } from '../src/vm/monitoring/metrics.js';
import { readPidfile } from '../src/vm/process.js';
import { Vigil } from '../src/vigil.js';
import { PyClient } from '../test/helpers/api-client.js';
import { waitForLog } from '../test/helpers/serial-shell.js';

const arg = (name: string, dflt: number): number => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) || dflt : dflt);
const ROUNDS = arg('--rounds', 5);
const VMS = arg('--vms', 20);
const home = mkdtempSync(join(tmpdir(), 'vigil-bench-images-'));
const images = join(home, 'images');
mkdirSync(images);
mkdirSync(join(home, 'config'), { recursive: true });
writeFileSync(join(home, 'config', 'config.yaml'), `images:\n  dir: ${images}\n`);
const vigil = Vigil.open({ home, logger: silentLogger, principal: 'bench' });

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[]): string => `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}, n=${xs.length})`;

function killAll(): void {
  for (const vm of vigil.vms.list()) {
    const pid = readPidfile(vigil.vms.files(vm.name).pidfile);
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

try {
  const image = await ensureGuestImage();
  const initrd = await makeInitrd(image, defaultInitScript(), join(home, 'initrd.img'));
  const guest = (name: string, memory: string, extra = ''): string =>
    `name: ${name}\nmemory: ${memory}\ncpus: 1\naccel: tcg\nboot:\n  kernel: ${image.kernel}\n  initrd: ${initrd}\n  cmdline: console=ttyS0 panic=-1 quiet cryptomgr.notests\n${extra}`;

  // 1. qemu-img convert with progress: 1 GiB qcow2 holding 256 MiB of data, to raw.
  await vigil.images.create('big.qcow2', { format: 'qcow2', size: 1024 ** 3 });
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 256M', join(images, 'big.qcow2')], { stdio: 'ignore' });
  const conv: number[] = [];
  let reports = 0;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await vigil.images.convert('big.qcow2', `big-${i}.raw`, { format: 'raw', onProgress: () => (reports += 1) });
    conv.push(performance.now() - t);
    await vigil.images.remove(`big-${i}.raw`);
  }
  console.log(`convert 1 GiB qcow2 (256 MiB data) -> raw: ${fmt(conv)}, ${Math.round(reports / 3)} progress reports each`);

  // 2. Snapshot save and restore of the 256 MiB test guest (state in a qcow2 disk).
  await vigil.images.create('state.qcow2', { format: 'qcow2', size: 64 * 1024 * 1024 });
  const def = join(home, 'snap.yaml');
  writeFileSync(def, guest('snap', '256M', `disks:\n  - file: ${join(images, 'state.qcow2')}\n`));
  vigil.add([def]);
  await vigil.start('snap');
  await waitForLog(vigil.vms.files('snap').serialLog, /VIGIL-GUEST-READY/, 180000);
  const save: number[] = [];
  const load: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    let t = performance.now();
    await vigil.snapshots.create('snap', `s${i}`);
    save.push(performance.now() - t);
    t = performance.now();
    await vigil.snapshots.restore('snap', `s${i}`);
    load.push(performance.now() - t);
  }
  const listed = await vigil.snapshots.list('snap');
  console.log(`snapshot save (256 MiB guest): ${fmt(save)}; VM state ${(median(listed.map((s) => s.vmStateSize)) / 1024 / 1024).toFixed(1)} MiB each`);
  console.log(`snapshot restore (256 MiB guest): ${fmt(load)}`);
  await vigil.stop('snap', { force: true });

  // 3. /metrics with VMS VMs: real QEMUs, each paused right after its start (under TCG, 20 booting guests would swamp 2 cores).
  for (let i = 0; i < VMS; i++) {
    const file = join(home, `m${i}.yaml`);
    writeFileSync(file, guest(`m${String(i).padStart(2, '0')}`, '128M'));
    const vm = vigil.add([file]);
    await vigil.start(vm.name);
    await vigil.pause(vm.name);
  }
  const lib: number[] = [];
  let size = 0;
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    const text = await renderMetrics({ vms: vigil.vms, audit: vigil.audit });
    lib.push(performance.now() - t);
    size = text.length;
  }
  const api = await buildApi({ vigil, logger: silentLogger, imagesDir: images });
  const url = await api.app.listen({ host: '127.0.0.1', port: 0 });
  const admin = new PyClient(url, Wallet.createRandom().privateKey);
  new AccessRepo(vigil.db).upsertPrincipal(admin.address, 'admin');
  const http: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    const res = await admin.call('GET', '/metrics');
    if (res.status !== 200) throw new Error(`metrics ${res.status}`);
    http.push(performance.now() - t);
  }
  await api.app.close();
  console.log(`renderMetrics() with ${VMS} paused VMs (QMP query-status + query-blockstats each, /proc): ${fmt(lib)}, ${size} bytes`);
  console.log(`GET /metrics over signed HTTP with ${VMS} VMs: ${fmt(http)}`);

  // One hung QEMU (SIGSTOP) among them: the scrape waits for its monitor's deadlines, not forever.
  const hung = vigil.vms.get('m00').pid!;
  process.kill(hung, 'SIGSTOP');
  const stalled: number[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await renderMetrics({ vms: vigil.vms });
      stalled.push(performance.now() - t);
    }
  } finally {
    process.kill(hung, 'SIGCONT');
  }
  console.log(`renderMetrics() with ${VMS} VMs, one SIGSTOPped: ${fmt(stalled)}`);
} finally {
  killAll();
  vigil.close();
  rmSync(home, { recursive: true, force: true });
}
