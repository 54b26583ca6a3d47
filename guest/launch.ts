/**
 * Boots the test guest under QEMU with everything Vigil talks to: QMP, a serial socket with a log file, a
 * gdbstub, file-backed RAM readable from the host, and a USB controller and PCIe root port for hot-plug.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VigilError } from '../src/core/errors.js';
import { ensurePrivateDir } from '../src/core/paths.js';
import { ensureGuestImage, makeInitrd } from './build.js';
import { defaultInitScript, GUEST_READY_LINE } from './init-script.js';
import { KERNEL_APPEND, qemuArgs, runtimeFiles, type QemuArgsInput } from './qemu-args.js';
import { deathSignalPrefix, track, untrack } from './reaper.js';
import { findLine, tailLines } from './serial.js';

/** How to start a guest; every field has a default. */
export interface GuestOptions {
  /** Runtime directory (created 0700). Default: a fresh temp directory, removed by stop(). */
  dir?: string;
  /** QEMU's -name (letters, digits, '.', '_', '-'). */
  name?: string;
  /** The whole /init script; default defaultInitScript(). */
  initScript?: string;
  /** Guest RAM (default 256). */
  memoryMiB?: number;
  /** What marks the guest as up in serial.log (default GUEST_READY_LINE). */
  readyLine?: string | RegExp;
  /** How long to wait for QMP and the ready line (default 60000). */
  bootTimeoutMs?: number;
  /** No kernel at all: SeaBIOS finds nothing to boot. A guest that ignores every unplug request. */
  noOs?: boolean;
  /** Start with the vCPUs stopped (-S); bootGuest then waits only for QMP, not for the ready line. */
  paused?: boolean;
  /** Appended to QEMU's command line. */
  extraArgs?: string[];
  /** Machine type (default q35; the PCIe root port is added only on q35). */
  machine?: string;
  /** Appended to the kernel command line (e.g. nokaslr, or ignore_loglevel to debug a boot). */
  kernelArgs?: string;
}

/** A running guest. */
export interface Guest {
  name: string;
  dir: string;
  qmpSocket: string;
  gdbSocket: string;
  serialSocket: string;
  serialLog: string;
  /** The file backing guest RAM: guest physical memory, readable from the host. */
  ramPath: string;
  pid: number;
  process: ChildProcess;
  /** Milliseconds from spawning QEMU to the ready line (to the QMP socket for noOs or paused guests). */
  bootMs: number;
  /** Everything the guest has written to its serial console so far. */
  readSerial(): string;
  /** Waits until a line of the whole serial log (not only new output) matches; resolves with that line. */
  waitForSerial(pattern: string | RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, SIGKILL after 2 s, waits for exit, removes the runtime files; idempotent. */
  stop(): Promise<void>;
}

const POLL_MS = 50;
const STOP_GRACE_MS = 2000;
const OUTPUT_KEEP = 16 * 1024;
/** Exit code 0 with no output is how an early guest reset looks under -no-reboot; too little RAM is the usual cause. */
const RESET_HINT = ': the guest reset or powered off, which -no-reboot turns into an exit; this kernel needs at least ~72 MiB of RAM';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The QEMU child with its exit state and the tail of what it printed. */
function startQemu(args: readonly string[]): { child: ChildProcess; exited: Promise<void>; exitInfo: () => string | undefined; output: () => string; spawnError: () => Error | undefined } {
  // umask 077 before exec: QEMU creates its sockets and RAM file 0600 from the first instant.
  const argv = [...deathSignalPrefix(), 'qemu-system-x86_64', ...args];
  const child = spawn('/bin/sh', ['-c', 'umask 077 && exec "$@"', 'sh', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let info: string | undefined;
  let spawnError: Error | undefined;
  const keep = (b: Buffer): void => {
    output = (output + b.toString('utf8')).slice(-OUTPUT_KEEP);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      info = signal === null ? `exit code ${String(code)}` : `signal ${signal}`;
      resolve();
    });
    child.once('error', (err) => {
      spawnError = err;
      info = `spawn failed: ${err.message}`;
      resolve();
    });
  });
  return { child, exited, exitInfo: () => info, output: () => output.trim(), spawnError: () => spawnError };
}

/** Boots a guest and waits until it is ready (see GuestOptions); on failure nothing is left running. */
export async function bootGuest(opts: GuestOptions = {}): Promise<Guest> {
  const name = opts.name ?? `vigil-guest-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new VigilError('VIGIL_INVALID_INPUT', `guest name ${JSON.stringify(name)} may hold only letters, digits, '.', '_' and '-'`);
  const noOs = opts.noOs ?? false;
  const paused = opts.paused ?? false;
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'vigil-guest-')));
  ensurePrivateDir(dir);
  const files = runtimeFiles(dir);
  const initrdPath = join(dir, 'initrd');
  // A directory we were given keeps serial.log for post-mortems; a temp directory goes entirely.
  const cleanup = (): void => {
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    else for (const f of [files.qmpSocket, files.gdbSocket, files.serialSocket, files.ramPath, files.pidFile, initrdPath]) rmSync(f, { force: true });
  };

  let boot: QemuArgsInput['boot'];
  try {
    // Leftovers of an earlier run in a reused directory: a stale qmp.sock would look like QEMU is already up.
    if (!ownDir) cleanup();
    rmSync(files.serialLog, { force: true });
    if (!noOs) {
      const image = await ensureGuestImage();
      const initrd = await makeInitrd(image, opts.initScript ?? defaultInitScript(), initrdPath);
      boot = { kernel: image.kernel, initrd, append: opts.kernelArgs === undefined ? KERNEL_APPEND : `${KERNEL_APPEND} ${opts.kernelArgs}` };
    }
  } catch (err) {
    cleanup();
    throw err;
  }

  const memoryMiB = opts.memoryMiB ?? 256;
  const args = qemuArgs({ dir, name, memoryMiB, machine: opts.machine ?? 'q35', paused, ...(boot === undefined ? {} : { boot }), extraArgs: opts.extraArgs ?? [] });
  const started = Date.now();
  const qemu = startQemu(args);
  const tracked = { process: qemu.child, cleanup };
  // Stays tracked after an unexpected exit too, so the 'exit' hook still removes the runtime files.
  track(tracked);

  const readSerial = (): string => {
    try {
      return readFileSync(files.serialLog, 'utf8');
    } catch {
      return '';
    }
  };
  const bootError = (why: string): VigilError => {
    const cause = qemu.spawnError();
    const message = `guest ${name}: ${why}\n--- serial.log (tail) ---\n${tailLines(readSerial(), 30)}\n--- qemu output ---\n${qemu.output()}`;
    return new VigilError('VIGIL_GUEST_BOOT', message, { ...(cause === undefined ? {} : { cause }), context: { name, dir } });
  };
  const waitFor = async (pattern: string | RegExp, timeoutMs: number, what: string): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = findLine(readSerial(), pattern);
      if (line !== undefined) return line;
      const exit = qemu.exitInfo();
      if (exit !== undefined) throw bootError(`QEMU exited (${exit}${exit === 'exit code 0' ? RESET_HINT : ''}) before ${what}`);
      if (Date.now() >= deadline) throw bootError(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(POLL_MS);
    }
  };

  try {
    const deadline = Date.now() + (opts.bootTimeoutMs ?? 60_000);
    while (!existsSync(files.qmpSocket)) {
      const exit = qemu.exitInfo();
      if (exit !== undefined) throw bootError(`QEMU exited (${exit}) before creating its QMP socket`);
      if (Date.now() >= deadline) throw bootError('timed out waiting for the QMP socket');
      await sleep(POLL_MS / 5);
    }
    // Belt and braces: the umask already made them 0600, unless a caller's extraArgs changed how QEMU starts.
    for (const s of [files.qmpSocket, files.gdbSocket, files.serialSocket]) await chmod(s, 0o600).catch(() => undefined);
    if (((await stat(dir)).mode & 0o777) !== 0o700) await chmod(dir, 0o700);
    if (!noOs && !paused) {
      const ready = opts.readyLine ?? GUEST_READY_LINE;
      await waitFor(ready, Math.max(0, deadline - Date.now()), `the ready line ${String(ready)}`);
    }
  } catch (err) {
    qemu.child.kill('SIGKILL');
    await qemu.exited;
    untrack(tracked);
    cleanup();
    throw err;
  }
  const bootMs = Date.now() - started;

  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    if (qemu.exitInfo() === undefined) {
      qemu.child.kill('SIGTERM');
      const timer = setTimeout(() => qemu.child.kill('SIGKILL'), STOP_GRACE_MS);
      await qemu.exited;
      clearTimeout(timer);
    }
    untrack(tracked);
    if (ownDir) await rm(dir, { recursive: true, force: true });
    else cleanup();
  };
  const { pidFile: _pidFile, ...paths } = files;
  return {
    name,
    dir,
    ...paths,
    pid: qemu.child.pid ?? -1,
    process: qemu.child,
    bootMs,
    readSerial,
    waitForSerial: (pattern, timeoutMs = 30_000) => waitFor(pattern, timeoutMs, `serial output matching ${String(pattern)}`),
    stop: () => (stopping ??= stop()),
  };
}
