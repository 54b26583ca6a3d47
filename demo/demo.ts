/**
 * `make demo`: boots the test guest under Vigil and drives it with the real `vigil` CLI, end to end.
 * Everything lives under .vigil/demo (VIGIL_HOME), made fresh on each run.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bootGuest } from '../guest/launch.js';
import { resolvePaths, vmRuntimeDir } from '../src/core/paths.js';
import { auditLinePath } from '../src/vm/monitor.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const home = `${root}.vigil/demo`;
const vigil = `${root}bin/vigil`;
const env = { ...process.env, VIGIL_HOME: home };
const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

function section(title: string): void {
  console.log(`\n${bold(`== ${title}`)}`);
}

/** Runs `vigil ...args` as a user would, echoing the command line and its exit status. */
function run(args: string[], expectExit = 0): void {
  const shown = args.map((a) => (/[\s{}"'|]/.test(a) ? `'${a}'` : a)).join(' ');
  console.log(`$ vigil ${shown}`);
  const result = spawnSync(vigil, args, { env, stdio: 'inherit' });
  if (result.status !== expectExit) {
    throw new Error(`vigil ${shown} exited ${result.status}, expected ${expectExit}`);
  }
  if (expectExit !== 0) console.log(`(exit status ${result.status}, as documented in docs/CLI.md)`);
}

rmSync(home, { recursive: true, force: true });
const paths = resolvePaths(env);
section('1. Boot the test guest (Debian cloud kernel + busybox initramfs, QEMU under TCG)');
const guest = await bootGuest({ name: 'demo', dir: vmRuntimeDir(paths, 'demo') });
try {
  console.log(`guest 'demo' ready in ${(guest.bootMs / 1000).toFixed(1)} s; QMP socket ${guest.qmpSocket} (0600)`);

  section('2. QMP through the guard: version and run state');
  run(['qmp', 'demo', 'query-version', '--compact']);
  run(['qmp', 'demo', 'query-status', '--compact']);

  section('3. Pause and resume (privileged commands: allowed, logged with a warning)');
  run(['qmp', 'demo', 'stop']);
  run(['qmp', 'demo', 'query-status', '--compact']);
  run(['qmp', 'demo', 'cont']);
  run(['qmp', 'demo', 'query-status', '--compact']);

  section('4. A dangerous command is refused');
  run(['qmp', 'demo', 'human-monitor-command', '{"command-line": "info status"}'], 4);
  run(['qmp', 'demo', 'pmemsave', `{"val": 0, "size": 4096, "filename": "/tmp/stolen-guest-memory"}`], 4);

  section('5. The audit entries it produced (SQLite, hash-chained)');
  run(['audit', 'tail', '-n', '20']);
  run(['audit', 'grep', 'human-monitor|pmemsave', '--outcome', 'refused']);
  run(['audit', 'verify']);

  section('6. The same events in the text log, in seed 004\'s line format');
  console.log(readFileSync(auditLinePath(paths), 'utf8').trimEnd());
} finally {
  await guest.stop();
}
console.log(`\n${bold('Demo complete.')} State is in ${home}; try: VIGIL_HOME=${home} bin/vigil audit tail`);
