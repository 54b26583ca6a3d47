/**
 * The file trigger: the switch follows a file's existence (created -> engage, removed -> release). fs.watch on
 * the parent directory gives the speed; a periodic stat gives the certainty, because fs.watch can miss events
 * (a directory replaced, an overflowing inotify queue, network file systems) and cannot watch a directory that
 * does not exist yet.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from '../../core/log.js';
import { makeFirer, type Fire, type KillswitchTrigger, type TriggerCallback } from './fire.js';

/** What a file trigger needs. */
export interface FileTriggerOptions {
  path: string;
  pollMs: number;
  callback: TriggerCallback;
  logger: Logger;
  name?: string;
}

/** Watches one trigger file. */
export class FileTrigger implements KillswitchTrigger {
  readonly name: string;
  private readonly fire: Fire;
  private watcher: FSWatcher | undefined;
  /** The inode of the directory being watched: a directory removed and made again needs a new watch. */
  private watchedIno: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private present: boolean | undefined;
  private running = false;
  /** Checks are serialized: a watch event during a stat schedules one more check, never a parallel one. */
  private checking: Promise<void> | undefined;
  private again = false;

  constructor(private readonly opts: FileTriggerOptions) {
    this.name = opts.name ?? `file:${opts.path}`;
    // Transitions are the debounce: the same state seen twice fires nothing, so no time window is needed.
    this.fire = makeFirer({ source: 'file', callback: opts.callback, logger: opts.logger, debounceMs: 0 });
  }

  /** Looks at the file once (present: engage) and starts watching. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.ensureWatch();
    await this.check();
    this.timer = setInterval(() => {
      void this.ensureWatch().then(() => this.check());
    }, this.opts.pollMs);
  }

  /** Whether fs.watch is live on the file's directory (false: only the poll sees changes). */
  get watching(): boolean {
    return this.watcher !== undefined;
  }

  /** Stops watching. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.closeWatch();
    await this.checking;
  }

  /** (Re)watches the directory when it appeared or was replaced since the last look; never rejects. */
  private async ensureWatch(): Promise<void> {
    let ino: number | undefined;
    try {
      ino = (await stat(dirname(this.opts.path))).ino;
    } catch {
      ino = undefined;
    }
    if (!this.running || (this.watcher && ino === this.watchedIno)) return;
    this.closeWatch();
    if (ino === undefined) return;
    this.tryWatch();
    if (this.watcher) this.watchedIno = ino;
  }

  private closeWatch(): void {
    this.watcher?.close();
    this.watcher = undefined;
    this.watchedIno = undefined;
  }

  private tryWatch(): void {
    const file = basename(this.opts.path);
    try {
      const w = watch(dirname(this.opts.path), { persistent: false }, (_event, name) => {
        // Some platforms give no name: check anyway, a stat is cheap.
        if (name === null || name === file) void this.check();
      });
      w.on('error', (err) => {
        // The directory went away (or inotify failed): the poll keeps working and re-watches it later.
        this.opts.logger.warn({ trigger: this.name, err: err.message }, 'file trigger: watch failed; polling');
        if (this.watcher === w) this.closeWatch();
        else w.close();
      });
      this.watcher = w;
    } catch (err) {
      this.opts.logger.debug({ trigger: this.name, err: err instanceof Error ? err.message : String(err) }, 'file trigger: cannot watch the directory yet; polling');
    }
  }

  private check(): Promise<void> {
    if (this.checking) {
      this.again = true;
      return this.checking;
    }
    const run = async (): Promise<void> => {
      do {
        this.again = false;
        await this.look();
      } while (this.again && this.running);
    };
    this.checking = run().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async look(): Promise<void> {
    if (!this.running) return;
    let present: boolean;
    try {
      await stat(this.opts.path);
      present = true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        // EACCES and the like say nothing about the file: keep the last known state rather than release.
        this.opts.logger.warn({ trigger: this.name, err: String(err) }, 'file trigger: cannot stat the trigger file');
        return;
      }
      present = false;
    }
    const before = this.present;
    this.present = present;
    if (!this.running || before === present) return;
    // At start only a present file acts: an absent one must not release a switch the CLI engaged.
    if (present) this.fire('engage', `${this.opts.path} ${before === undefined ? 'present at start' : 'created'}`);
    else if (before !== undefined) this.fire('release', `${this.opts.path} removed`);
  }
}
