/**
 * Facts about QEMU processes Vigil did not spawn as children (QEMU daemonizes so VMs outlive vigild): liveness
 * by pid, identity by command line (a recycled pid must not be mistaken for the VM), and waiting for exit.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** True when a process with this pid exists (zombies excluded). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // A zombie has exited; it only waits for its parent to reap it.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The pid in a pidfile, or undefined when it is missing or malformed. */
export function readPidfile(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** True when `pid` is a live QEMU started for VM `name` (its argv carries `-name guest=<name>,`). */
export function isQemuOf(pid: number, name: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const i = argv.indexOf('-name');
    return i >= 0 && (argv[i + 1] ?? '').split(',').includes(`guest=${name}`);
  } catch {
    return false;
  }
}

/** Resolves true once `pid` has exited, false if it is still alive after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number, pollMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(pollMs);
  }
  return true;
}
