/**
 * What every demo section shares: the demo's VIGIL_HOME, running the real `vigil` CLI as a user would (echoing
 * each command line and checking its exit status), waiting for conditions instead of sleeping, and starting and
 * stopping vigild. Everything the demo starts is recorded here so that cleanup can end it whatever happens.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { resolvePaths, type VigilPaths } from '../src/core/paths.js';
import { readPidfile } from '../src/vm/process.js';
import { vmFiles } from '../src/vm/runtime.js';

/** The checkout's root, with a trailing slash. */
export const root = fileURLToPath(new URL('..', import.meta.url));
const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string): string => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

/** A running vigild started by the demo. */
export interface Vigild {
  process: ChildProcess;
  log: string;
  api: string;
}

/** The state the sections hand each other. */
export interface Demo {
  home: string;
  env: Record<string, string>;
  paths: VigilPaths;
  /** The VM every section uses. */
  vm: string;
  /** The API port vigild listens on (also in env as VMM_API_PORT, so `vigil api` finds it). */
  port: number;
  /** The file whose creation engages the kill switch (killswitch.triggers in config.yaml). */
  triggerFile: string;
  /** The marker the guest's init computes and keeps in RAM (never written whole anywhere on the host). */
  marker: string;
  vigild?: Vigild | undefined;
}

/** Prints a section heading. */
export function heading(title: string): void {
  console.log(`\n${bold(`== ${title}`)}`);
}

/** Prints a one-line explanation under a heading. */
export function note(text: string): void {
  console.log(dim(`# ${text}`));
}

// A guest's console log holds terminal queries (busybox asks for the cursor position): echoed raw, a terminal would answer them.
// eslint-disable-next-line no-control-regex -- matching the escape character is the point
const printable = (s: string): string => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');

const quote = (a: string): string => (/[\s{}"'|<>*;&$]/.test(a) ? `'${a}'` : a);

/** Runs `vigil ...args` as a user would, echoing the command line and its output; throws on an unexpected exit status. */
export function vigil(d: Demo, args: string[], expectExit = 0, opts: { quiet?: boolean; as?: { prefix: string; env: Record<string, string> } } = {}): string {
  const shown = args.map(quote).join(' ');
  console.log(`$ ${opts.as ? `${opts.as.prefix} ` : ''}vigil ${shown}`);
  const result = spawnSync(`${root}bin/vigil`, args, { env: { ...d.env, ...opts.as?.env }, encoding: 'utf8', timeout: 120000 });
  if (!opts.quiet) {
    process.stdout.write(printable(result.stdout));
    process.stdout.write(printable(result.stderr));
  }
  if (result.status !== expectExit) {
    if (opts.quiet) process.stdout.write(printable(result.stdout + result.stderr));
    throw new Error(`\`vigil ${shown}\` exited ${result.status ?? result.signal}, expected ${expectExit}`);
  }
  if (expectExit !== 0) console.log(dim(`(exit status ${result.status}, as documented in docs/CLI.md)`));
  return result.stdout;
}

/** Runs `vigil ...args --json` without echoing it (the demo's own bookkeeping) and parses the reply. */
export function vigilJson<T>(d: Demo, args: string[]): T {
  const result = spawnSync(`${root}bin/vigil`, [...args, '--json'], { env: d.env, encoding: 'utf8', timeout: 60000 });
  if (result.status !== 0) throw new Error(`vigil ${args.join(' ')} --json exited ${result.status}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** Waits until `check` holds, polling every 100 ms; throws naming `what` after `timeoutMs`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(100);
  }
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released for vigild to take). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}

/** The JSON lines vigild has logged so far. */
export function vigildLogs(v: Vigild): Record<string, unknown>[] {
  return readFileSync(v.log, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Starts bin/vigild in its own process group, logging to <home>/vigild.log, and waits for its ready line. */
export async function startVigild(d: Demo): Promise<Vigild> {
  const log = join(d.home, 'vigild.log');
  const seen = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('"vigild ready"')).length : 0;
  const out = openSync(log, 'a');
  const child = spawn(`${root}bin/vigild`, [], { env: d.env, stdio: ['ignore', out, out], detached: true });
  const v: Vigild = { process: child, log, api: '' };
  d.vigild = v;
  console.log(`$ VMM_API_PORT=${d.port} bin/vigild &   ${dim(`# pid ${child.pid}, JSON log in ${log}`)}`);
  let exited = false;
  child.once('exit', () => (exited = true));
  await until('vigild to log "vigild ready"', () => {
    if (exited) throw new Error(`vigild exited at start; see ${log}`);
    return vigildLogs(v).filter((l) => l.msg === 'vigild ready').length > seen;
  });
  const ready = vigildLogs(v).filter((l) => l.msg === 'vigild ready').at(-1)!;
  v.api = String(ready.api);
  return v;
}

/** Stops vigild: SIGTERM (a clean stop; VMs keep running) or SIGKILL, and waits for it to be gone. */
export async function stopVigild(d: Demo, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
  const v = d.vigild;
  if (!v || v.process.exitCode !== null || v.process.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => v.process.once('exit', () => resolve()));
  v.process.kill(signal);
  await Promise.race([gone, sleep(10000)]);
  if (v.process.exitCode === null && v.process.signalCode === null) v.process.kill('SIGKILL');
  d.vigild = undefined;
}

/** The VM's pid and state as `vigil vm ls --json` reports them. */
export function vmState(d: Demo): { state: string; pid: number | null } {
  const vms = vigilJson<{ name: string; state: string; pid: number | null }[]>(d, ['vm', 'ls']);
  return vms.find((v) => v.name === d.vm) ?? { state: 'missing', pid: null };
}

/** The VM's serial console log so far ('' before it exists). */
export function serialLog(d: Demo): string {
  try {
    return readFileSync(vmFiles(d.paths, d.vm).serialLog, 'utf8');
  } catch {
    return '';
  }
}

/** Creates the demo's context (nothing on disk yet). */
export function newDemo(home: string, port: number, marker: string): Demo {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, { VIGIL_HOME: home, VMM_API_PORT: String(port), NO_COLOR: '1' });
  return { home, env, paths: resolvePaths({ VIGIL_HOME: home }), vm: 'demo', port, triggerFile: join(home, 'killswitch.trigger'), marker };
}

/** Is `pid` a vigild (so that a recycled pid is never killed)? */
function isVigild(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('daemon/main');
  } catch {
    return false;
  }
}

/** Ends everything the demo started, synchronously (it also runs from exit and signal handlers): vigild, every QEMU under the home, the home itself. */
export function cleanupSync(d: Demo, keepHome: boolean): string[] {
  const ended: string[] = [];
  const v = d.vigild;
  if (v?.process.pid !== undefined && v.process.exitCode === null && v.process.signalCode === null) {
    try {
      process.kill(-v.process.pid, 'SIGKILL');
      ended.push(`vigild (pid ${v.process.pid})`);
    } catch {
      // already gone
    }
  }
  // A demo killed with SIGKILL (no handler runs) leaves its vigild and QEMUs; the next run ends them by their pidfiles.
  const stale = readPidfile(join(d.paths.runtime, 'vigild.pid'));
  if (stale !== undefined && stale !== v?.process.pid && isVigild(stale)) {
    try {
      process.kill(stale, 'SIGKILL');
      ended.push(`a stale vigild (pid ${stale})`);
    } catch {
      // already gone
    }
  }
  const vmsDir = join(d.paths.runtime, 'vms');
  for (const name of existsSync(vmsDir) ? readdirSync(vmsDir) : []) {
    const pid = readPidfile(join(vmsDir, name, 'qemu.pid'));
    if (pid === null || pid === undefined) continue;
    try {
      process.kill(pid, 'SIGKILL');
      ended.push(`QEMU of ${name} (pid ${pid})`);
    } catch {
      // already gone
    }
  }
  if (!keepHome) rmSync(d.home, { recursive: true, force: true });
  return ended;
}
