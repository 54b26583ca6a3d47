/** One vigild per state directory: a pidfile checked for a live owner, taken atomically. */
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { VigilError } from '../core/errors.js';
import { isAlive } from '../vm/process.js';

/** Takes the lock at `path` or throws VIGIL_DAEMON naming the pid that holds it; returns the release function. */
export function takeDaemonLock(path: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    // Write the pid to a private file, then link it into place: the lock appears complete or not at all.
    const temp = `${path}.${process.pid}`;
    try {
      writeFileSync(temp, `${process.pid}\n`, { mode: 0o600 });
      try {
        linkSync(temp, path);
      } finally {
        rmSync(temp, { force: true });
      }
      return () => {
        try {
          if (readFileSync(path, 'utf8').trim() === String(process.pid)) rmSync(path, { force: true });
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new VigilError('VIGIL_DAEMON', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
      }
      const owner = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new VigilError('VIGIL_DAEMON', `vigild is already running (pid ${owner}, lock ${path})`, { context: { pid: owner, lock: path } });
      }
      // A stale lock left by a vigild that was killed.
      rmSync(path, { force: true });
    }
  }
  throw new VigilError('VIGIL_DAEMON', `cannot take the lock ${path}`, { context: { lock: path } });
}
