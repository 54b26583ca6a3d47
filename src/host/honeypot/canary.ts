/**
 * Canary files: files nobody should touch (a fake key, a fake wallet). Their state is recorded at start; an
 * inotify watch on the parent directory and a poll (for lost events) compare it again, and a change or removal
 * trips the canary once per new state. Reads are not detected: inotify reports them only to a watcher of the
 * file itself, and Node's fs.watch does not expose IN_ACCESS.
 */
import { createHash } from 'node:crypto';
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { lstat, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

/** A canary's recorded state. */
export interface CanaryState {
  exists: boolean;
  inode?: string;
  mode?: string;
  size?: number;
  mtimeNs?: string;
  sha256?: string | null;
}

/** A tripped canary. */
export interface CanaryTrip {
  canary: string;
  path: string;
  kind: 'changed' | 'removed' | 'created';
  before: CanaryState;
  after: CanaryState;
}

/** One canary's settings. */
export interface CanaryOptions {
  name: string;
  path: string;
  content?: string | undefined;
  pollSec: number;
}

async function readState(path: string): Promise<CanaryState> {
  try {
    const st = await lstat(path, { bigint: true });
    let sha256: string | null = null;
    if (st.isFile()) {
      try {
        sha256 = createHash('sha256').update(await readFile(path)).digest('hex');
      } catch {
        sha256 = null;
      }
    }
    return { exists: true, inode: st.ino.toString(), mode: (Number(st.mode) & 0o7777).toString(8), size: Number(st.size), mtimeNs: st.mtimeNs.toString(), sha256 };
  } catch {
    return { exists: false };
  }
}

function same(a: CanaryState, b: CanaryState): boolean {
  return a.exists === b.exists && a.inode === b.inode && a.mode === b.mode && a.size === b.size && a.mtimeNs === b.mtimeNs && a.sha256 === b.sha256;
}

/** A watched canary file. */
export class Canary {
  private state: CanaryState = { exists: false };
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private again = false;

  constructor(
    readonly options: CanaryOptions,
    private readonly onTrip: (trip: CanaryTrip) => void,
  ) {}

  /** Creates the file when asked and absent, records its state and starts watching. */
  async start(): Promise<CanaryState> {
    if (this.options.content !== undefined && !existsSync(this.options.path)) {
      await writeFile(this.options.path, this.options.content, { mode: 0o600, flag: 'wx' }).catch(() => undefined);
    }
    this.state = await readState(this.options.path);
    try {
      this.watcher = watch(dirname(this.options.path), { persistent: false }, (_event, file) => {
        if (file === null || file === basename(this.options.path)) void this.check();
      });
      this.watcher.on('error', () => undefined);
    } catch {
      // The directory is gone or unwatchable: the poll still runs.
    }
    this.timer = setInterval(() => void this.check(), this.options.pollSec * 1000);
    this.timer.unref();
    return this.state;
  }

  /** Stops watching. */
  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Compares the file with its recorded state now; trips on a difference. Serialised: events come in bursts. */
  check(): Promise<void> {
    if (this.checking) {
      this.again = true;
      return this.checking;
    }
    this.checking = (async () => {
      do {
        this.again = false;
        const now = await readState(this.options.path);
        if (!same(now, this.state)) {
          const before = this.state;
          this.state = now;
          const kind = !now.exists ? 'removed' : !before.exists ? 'created' : 'changed';
          this.onTrip({ canary: this.options.name, path: this.options.path, kind, before, after: now });
        }
      } while (this.again);
    })().finally(() => (this.checking = undefined));
    return this.checking;
  }
}
