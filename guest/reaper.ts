/**
 * Makes sure no QEMU outlives the Node process that started it: a crashing test must not leave guests behind.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

interface Tracked {
  process: ChildProcess;
  /** Synchronous: it runs inside the 'exit' hook. */
  cleanup: () => void;
}

const live = new Set<Tracked>();
let hookInstalled = false;

/** Tracks a QEMU child until `untrack`; the process 'exit' hook SIGKILLs whatever is still tracked. */
export function track(entry: Tracked): void {
  if (!hookInstalled) {
    hookInstalled = true;
    // 'exit' allows only synchronous work (a kill, an rmSync); it also runs after an uncaught exception.
    process.on('exit', () => {
      for (const g of live) {
        g.process.kill('SIGKILL');
        g.cleanup();
      }
    });
  }
  live.add(entry);
}

/** Stops tracking a child (it exited, or stop() has dealt with it). */
export function untrack(entry: Tracked): void {
  live.delete(entry);
}

let setprivPath: string | null | undefined;

/**
 * The argv prefix that makes the kernel SIGKILL QEMU when Node dies, even by SIGKILL when no 'exit' hook runs
 * (setpriv --pdeathsig); empty when setpriv is not installed.
 */
export function deathSignalPrefix(): string[] {
  setprivPath ??= ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null;
  return setprivPath === null ? [] : [setprivPath, '--pdeathsig', 'KILL'];
}
