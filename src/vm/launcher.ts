/**
 * Starts QEMU for a definition: daemonized (so the VM outlives vigild), paused (-S; the caller resumes it after
 * its post-start setup), with umask 077 so no socket is ever wider than 0600. Returns once QEMU has finished
 * initialising and written its pidfile, or throws QEMU's own error message.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { accessSync, chmodSync, constants, copyFileSync, existsSync, mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VigilError } from '../core/errors.js';
import { ensurePrivateDir } from '../core/paths.js';
import type { Logger } from '../core/log.js';
import type { VmDefinition } from './definition/schema.js';
import { buildQemuArgv, resolveAccel, resolveMacs, withDefaultIds } from './argv/index.js';
import { checkFiles, clearSockets, findBinary } from './preflight.js';
import { vmFilesDir } from '../qmp/guard.js';
import { readPidfile } from './process.js';
import type { VmFiles } from './runtime.js';

/** How to launch. */
export interface LaunchOptions {
  logger: Logger;
  /** What a definition's `accel: auto` resolves to on this host (config qemu.accel). */
  hostAccel?: 'auto' | 'kvm' | 'tcg';
  /** How long QEMU may take to initialise (default 30 s). */
  timeoutMs?: number;
}

/** A started QEMU (paused). */
export interface Launched {
  pid: number;
  bootId: string;
  argv: string[];
  /** NIC id -> the MAC this boot gave it (VFs get theirs set on the PF afterwards). */
  macs: Record<string, string>;
}

function kvmUsable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Opens /dev/tapN for each macvtap NIC: QEMU gets them as inherited fds 3, 4, ... */
function openMacvtaps(def: VmDefinition): { fds: Record<string, number>; handles: number[] } {
  const fds: Record<string, number> = {};
  const handles: number[] = [];
  for (const nic of withDefaultIds(def).nics) {
    if (nic.type !== 'macvtap' || !nic.macvtap) continue;
    let ifindex: string;
    try {
      ifindex = readFileSync(`/sys/class/net/${nic.macvtap}/ifindex`, 'utf8').trim();
    } catch (err) {
      throw new VigilError('VIGIL_QEMU_START', `macvtap interface '${nic.macvtap}' (nic ${nic.id}) does not exist on this host`, { cause: err });
    }
    const fd = openSync(`/dev/tap${ifindex}`, 'r+');
    fds[nic.id] = 3 + handles.length;
    handles.push(fd);
  }
  return { fds, handles };
}

/** Runs `binary` with `args` under umask 077 and resolves with its exit code and stderr. */
function runDaemonizing(binary: string, args: string[], extraFds: number[], timeoutMs: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const previous = process.umask(0o077);
    let child;
    try {
      child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe', ...extraFds], detached: true });
    } finally {
      process.umask(previous);
    }
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new VigilError('VIGIL_QEMU_START', `QEMU did not finish initialising within ${timeoutMs} ms`, { context: { stderr } }));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new VigilError('VIGIL_QEMU_START', `cannot run ${binary}: ${err.message}`, { cause: err }));
    });
    // 'exit', not 'close': the daemonized grandchild may hold the stderr pipe a little longer.
    child.on('exit', (code) => {
      clearTimeout(timer);
      setImmediate(() => resolve({ code, stderr }));
    });
    child.unref();
  });
}

/**
 * Everything that can be checked before anything is touched: the binary, the files the definition names, the
 * sockets. Returns the QEMU binary's path.
 */
export async function preflight(def: VmDefinition, files: VmFiles, qemuBinary = 'qemu-system-x86_64'): Promise<string> {
  const binary = findBinary(qemuBinary);
  checkFiles(def);
  await clearSockets(files);
  return binary;
}

/** Starts the VM's QEMU, paused (call `preflight` first). Nothing is left behind on failure but the state directory. */
export async function launchVm(def: VmDefinition, files: VmFiles, binary: string, options: LaunchOptions): Promise<Launched> {
  ensurePrivateDir(files.runtimeDir);
  // The one place in the runtime directory where guarded QMP commands may write (dumps, screenshots).
  ensurePrivateDir(vmFilesDir(files.runtimeDir));
  mkdirSync(files.stateDir, { recursive: true, mode: 0o700 });
  if (def.firmware.type === 'uefi') {
    const vars = join(files.stateDir, 'uefi-vars.fd');
    // The template stays pristine; each VM gets its own writable variable store.
    if (!existsSync(vars)) copyFileSync(def.firmware.vars, vars);
  }
  const bootId = randomUUID();
  const { fds, handles } = openMacvtaps(def);
  const macs = resolveMacs(def, () => randomBytes(6));
  try {
    const argv = buildQemuArgv(def, {
      qemuBinary: binary,
      runtimeDir: files.runtimeDir,
      stateDir: files.stateDir,
      accel: resolveAccel(def.accel === 'auto' ? (options.hostAccel ?? 'auto') : def.accel, { kvmUsable: kvmUsable() }),
      macs,
      fds,
      daemonize: true,
      bootToken: bootId,
    });
    options.logger.info({ vm: def.name, argv }, 'starting QEMU');
    const { code, stderr } = await runDaemonizing(binary, argv.slice(1), handles, options.timeoutMs ?? 30000);
    const pid = readPidfile(files.pidfile);
    if (code !== 0 || pid === undefined) {
      const message = stderr.trim().split('\n').slice(-5).join(' | ') || `exit status ${code}`;
      throw new VigilError('VIGIL_QEMU_START', `QEMU refused to start VM '${def.name}': ${message}`, { context: { vm: def.name, code, stderr } });
    }
    for (const socket of [files.qmpSocket, files.monitorSocket, files.serialSocket, files.gdbSocket]) {
      if (existsSync(socket)) chmodSync(socket, 0o600);
    }
    return { pid, bootId, argv, macs };
  } finally {
    for (const fd of handles) closeSync(fd);
  }
}
