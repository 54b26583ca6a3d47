/**
 * `make demo`: a VM defined in YAML, started and supervised by Vigil, driven with the real `vigil` CLI and
 * `vigild`, end to end. Everything lives under .vigil/demo (VIGIL_HOME), made fresh on each run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { openSync, readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ensureGuestImage, makeInitrd } from '../guest/build.js';
import { defaultInitScript } from '../guest/init-script.js';
import { resolvePaths } from '../src/core/paths.js';
import { auditLinePath } from '../src/vm/monitor.js';
import { readPidfile } from '../src/vm/process.js';
import { vmFiles } from '../src/vm/runtime.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const home = `${root}.vigil/demo`;
const env = { ...process.env, VIGIL_HOME: home };
const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

function section(title: string): void {
  console.log(`\n${bold(`== ${title}`)}`);
}

/** Runs `vigil ...args` as a user would, echoing the command line and its exit status. */
function run(args: string[], expectExit = 0): string {
  const shown = args.map((a) => (/[\s{}"'|]/.test(a) ? `'${a}'` : a)).join(' ');
  console.log(`$ vigil ${shown}`);
  const result = spawnSync(`${root}bin/vigil`, args, { env, encoding: 'utf8' });
  process.stdout.write(result.stdout);
  process.stdout.write(result.stderr);
  if (result.status !== expectExit) throw new Error(`vigil ${shown} exited ${result.status}, expected ${expectExit}`);
  if (expectExit !== 0) console.log(`(exit status ${result.status}, as documented in docs/CLI.md)`);
  return result.stdout;
}

async function until(what: string, check: () => boolean, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function startVigild(): { pid: number; log: string } {
  const log = `${home}/vigild.log`;
  const out = openSync(log, 'a');
  const child = spawn(`${root}bin/vigild`, [], { env, stdio: ['ignore', out, out], detached: true });
  child.unref();
  return { pid: child.pid!, log };
}

function vmState(name: string): { state: string; pid: number | null } {
  const vms = JSON.parse(spawnSync(`${root}bin/vigil`, ['vm', 'ls', '--json'], { env, encoding: 'utf8' }).stdout) as { name: string; state: string; pid: number | null }[];
  return vms.find((v) => v.name === name) ?? { state: 'missing', pid: null };
}

rmSync(home, { recursive: true, force: true });
mkdirSync(home, { recursive: true });
const paths = resolvePaths(env);
const image = await ensureGuestImage();
const initrd = await makeInitrd(image, defaultInitScript('echo "hello from the demo guest"'), `${home}/initrd.img`);
const yaml = `# The test guest: a Debian cloud kernel and a busybox initramfs, under TCG.
name: demo
memory: 256M
cpus: 1
accel: tcg
boot:
  kernel: ${image.kernel}
  initrd: ${initrd}
  cmdline: console=ttyS0 panic=-1 quiet cryptomgr.notests
autostart:
  enabled: true
  restart: { policy: on-failure, initialDelayMs: 500 }
tags: [demo]
`;
writeFileSync(`${home}/demo.yaml`, yaml);
let vigild: { pid: number; log: string } | undefined;
try {
  section('1. A VM from a YAML file');
  console.log(`${home}/demo.yaml:\n${yaml}`);
  run(['vm', 'add', `${home}/demo.yaml`]);
  run(['vm', 'start', 'demo']);
  run(['vm', 'ls']);
  const files = vmFiles(paths, 'demo');
  await until('the guest to boot', () => {
    try {
      return readFileSync(files.serialLog, 'utf8').includes('VIGIL-GUEST-READY');
    } catch {
      return false;
    }
  });
  run(['vm', 'logs', 'demo', '-n', '3']);

  section('2. QMP through the guard: version and run state');
  run(['qmp', 'demo', 'query-version', '--compact']);
  run(['qmp', 'demo', 'query-status', '--compact']);

  section('3. Pause and resume (privileged commands: allowed, logged with a warning)');
  run(['vm', 'pause', 'demo']);
  run(['qmp', 'demo', 'query-status', '--compact']);
  run(['vm', 'resume', 'demo']);
  run(['qmp', 'demo', 'query-status', '--compact']);

  section('4. A dangerous command is refused');
  run(['qmp', 'demo', 'human-monitor-command', '{"command-line": "info status"}'], 4);
  run(['qmp', 'demo', 'pmemsave', `{"val": 0, "size": 4096, "filename": "/tmp/stolen-guest-memory"}`], 4);

  section('5. The audit entries it produced (SQLite, hash-chained)');
  run(['audit', 'tail', '-n', '8']);
  run(['audit', 'grep', 'human-monitor|pmemsave', '--outcome', 'refused']);
  run(['audit', 'verify']);

  section("6. The same events in the text log, in seed 004's line format");
  console.log(readFileSync(auditLinePath(paths), 'utf8').trimEnd().split('\n').slice(-4).join('\n'));

  section('7. vigild supervises: a crashed QEMU is restarted by its policy; VMs outlive vigild');
  run(['init']);
  vigild = startVigild();
  console.log(`$ bin/vigild &   (pid ${vigild.pid}, logging to ${vigild.log})`);
  await until('vigild to be ready', () => readFileSync(vigild!.log, 'utf8').includes('vigild ready'));
  const before = readPidfile(files.pidfile)!;
  console.log(`$ kill -9 ${before}   # the QEMU of 'demo' dies`);
  process.kill(before, 'SIGKILL');
  await until('the restart', () => {
    const s = vmState('demo');
    return s.state === 'running' && s.pid !== null && s.pid !== before;
  });
  run(['vm', 'show', 'demo']);
  console.log(`$ kill -9 ${vigild.pid}   # vigild itself dies`);
  process.kill(vigild.pid, 'SIGKILL');
  run(['vm', 'ls']);
  vigild = startVigild();
  console.log(`$ bin/vigild &   (pid ${vigild.pid})`);
  await until('vigild to be ready', () => readFileSync(vigild!.log, 'utf8').split('\n').filter((l) => l.includes('vigild ready')).length >= 2);
  const ready = JSON.parse(readFileSync(vigild.log, 'utf8').split('\n').filter((l) => l.includes('vigild ready')).at(-1)!) as { adopted: string[]; api: string };
  console.log(`vigild: ${JSON.stringify({ adopted: ready.adopted })}   # the running VM is adopted, not restarted`);

  section('8. The signed REST API (seed 003 signatures, per-VM roles)');
  const health = await fetch(`${ready.api}/health`);
  console.log(`$ curl ${ready.api}/health\n${await health.text()}`);
  const unsigned = await fetch(`${ready.api}/vms`);
  console.log(`$ curl ${ready.api}/vms      # no signature\nHTTP ${unsigned.status} ${await unsigned.text()}`);
  run(['api', 'GET', '/vms', '--url', ready.api]);
  run(['api', 'POST', '/vms/demo/pause', '--url', ready.api]);
  run(['api', 'POST', '/vms/demo/qmp', '{"command": "query-status"}', '--url', ready.api]);
  run(['api', 'POST', '/vms/demo/resume', '--url', ready.api]);
  run(['audit', 'tail', '-n', '3']);
  process.kill(vigild.pid, 'SIGTERM');
  vigild = undefined;
  run(['vm', 'stop', 'demo', '--timeout', '2']);
} finally {
  if (vigild) process.kill(vigild.pid, 'SIGKILL');
  const pid = readPidfile(vmFiles(paths, 'demo').pidfile);
  if (pid) spawnSync('kill', ['-9', String(pid)]);
}
console.log(`\n${bold('Demo complete.')} State is in ${home}; try: VIGIL_HOME=${home} bin/vigil vm show demo`);
