/**
 * Watching vigild from outside. The guardian holds a connection to vigild's liveness socket: when vigild dies the
 * kernel closes that connection at once, so a crash is seen in well under a millisecond without polling (a
 * `kill(pid, 0)` loop would add its interval to every detection and could be fooled by a recycled pid). While no
 * connection is held (vigild not started yet, or restarting), the pidfile is polled: a pid that is dead with no
 * clean-stop marker is a crash too, so a vigild that dies before its socket is up is not missed.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { CLEAN_STOP_MARKER, LIVENESS_SOCKET } from '../../daemon/liveness.js';

/** What the watch reports. */
export type VigildEvent =
  | { kind: 'up'; pid: number }
  | { kind: 'clean-stop'; pid: number }
  /** `how`: the held connection closed, or the pidfile names a dead process. */
  | { kind: 'death'; pid: number; how: 'socket-closed' | 'pidfile'; at: number };

/** Options of `watchVigild`. */
export interface WatchOptions {
  /** vigild's runtime directory (its pidfile, liveness socket and clean marker). */
  runtimeDir: string;
  /** How often to try connecting (and check the pidfile) while not connected. */
  retryMs?: number;
  onEvent(event: VigildEvent): void;
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Watches vigild until `stop()`; each pid's end is reported once (a death or a clean stop). */
export function watchVigild(options: WatchOptions): { stop(): void } {
  const retryMs = options.retryMs ?? 200;
  const pidfile = join(options.runtimeDir, 'vigild.pid');
  const marker = join(options.runtimeDir, CLEAN_STOP_MARKER);
  const ended = new Set<number>();
  let socket: Socket | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const end = (pid: number, how: 'socket-closed' | 'pidfile'): void => {
    if (ended.has(pid)) return;
    ended.add(pid);
    const at = Date.now();
    options.onEvent(readPid(marker) === pid ? { kind: 'clean-stop', pid } : { kind: 'death', pid, how, at });
  };

  const schedule = (): void => {
    if (!stopped) timer = setTimeout(attempt, retryMs);
  };

  function attempt(): void {
    timer = undefined;
    if (stopped) return;
    const pid = readPid(pidfile);
    // A vigild whose lock is left behind without a clean stop died while nothing was connected to it.
    if (pid !== undefined && !ended.has(pid) && !alive(pid)) end(pid, 'pidfile');
    const s = connect(join(options.runtimeDir, LIVENESS_SOCKET));
    let connectedPid: number | undefined;
    let buf = '';
    s.on('data', (d: Buffer) => {
      if (connectedPid !== undefined) return;
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl === -1) return;
      const n = Number(buf.slice(0, nl));
      if (!Number.isInteger(n) || n <= 0) return void s.destroy();
      connectedPid = n;
      ended.delete(n);
      options.onEvent({ kind: 'up', pid: n });
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (socket === s) socket = undefined;
      if (connectedPid !== undefined && !stopped) end(connectedPid, 'socket-closed');
      schedule();
    });
    socket = s;
  }

  attempt();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      socket?.destroy();
    },
  };
}
