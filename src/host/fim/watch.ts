/**
 * FIM watch mode: inotify (fs.watch, recursive on directories) names the paths that moved; they are re-scanned
 * and compared with the verified baseline after a short debounce. A full rescan runs every `rescanSec` to catch
 * what inotify lost (queue overflows, paths created before a watch was set). Each difference is reported once
 * per new state, until `fim update` accepts it.
 */
import { watch, type FSWatcher } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import type { Logger } from '../../core/log.js';
import type { FimEntry } from './entry.js';
import type { Fim } from './fim.js';
import type { ResolvedRule } from './policy.js';
import { diffEntries, type FimDiff } from './report.js';
import { scan } from './scan.js';

/** What a watch reports: the differences not reported before, and whether a full rescan found them. */
export interface FimWatchReport extends FimDiff {
  full: boolean;
  time: string;
}

/** Watch options. */
export interface FimWatchOptions {
  rules: () => Promise<ResolvedRule[]>;
  concurrency: number;
  rescanMs: number;
  debounceMs?: number;
  logger: Logger;
}

function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** A running watch over the baseline's paths. */
export class FimWatcher {
  private watchers: FSWatcher[] = [];
  private rules: ResolvedRule[] = [];
  private baseline = new Map<string, FimEntry>();
  /** The generation `baseline` is; a newer one (`fim update` meanwhile) is verified and loaded at the next scan. */
  private generation = 0;
  private readonly reported = new Map<string, string>();
  private pending = new Set<string>();
  private debounce: NodeJS.Timeout | undefined;
  private rescan: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly fim: Fim,
    private readonly options: FimWatchOptions,
    private readonly onReport: (report: FimWatchReport) => void,
  ) {}

  /** Verifies the baseline (throws when tampered), sets the watches, and runs a first full comparison. */
  async start(): Promise<FimWatchReport> {
    await this.loadBaseline();
    this.rules = await this.options.rules();
    for (const rule of this.rules) this.watchRule(rule);
    this.rescan = setInterval(() => void this.queue(true), this.options.rescanMs);
    this.rescan.unref();
    let first: FimWatchReport | undefined;
    await this.queue(true, (r) => (first = r));
    return first ?? { added: [], removed: [], changed: [], bits: 0, full: true, time: new Date().toISOString() };
  }

  /** Stops every watch and timer. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.debounce) clearTimeout(this.debounce);
    if (this.rescan) clearInterval(this.rescan);
    await this.running.catch(() => undefined);
  }

  /** Paths with a watch set (for status). */
  watchedCount(): number {
    return this.watchers.length;
  }

  private watchRule(rule: ResolvedRule): void {
    void lstat(rule.path)
      .then((st) => {
        if (this.stopped) return;
        if (st.isDirectory()) this.addWatch(rule.path, true, (file) => join(rule.path, file));
        else {
          const name = basename(rule.path);
          this.addWatch(dirname(rule.path), false, (file) => (file === name ? rule.path : undefined));
        }
      })
      .catch(() => {
        // Absent now: its parent is watched so that its return is seen.
        this.addWatch(dirname(rule.path), false, (file) => (file === basename(rule.path) ? rule.path : undefined));
      });
  }

  private addWatch(dir: string, recursive: boolean, resolve: (file: string) => string | undefined): void {
    try {
      const w = watch(dir, { recursive, persistent: false }, (_event, file) => {
        const path = file === null ? dir : resolve(file.toString());
        if (path === undefined) return;
        this.pending.add(path);
        if (this.debounce) clearTimeout(this.debounce);
        this.debounce = setTimeout(() => void this.queue(false), this.options.debounceMs ?? 200);
      });
      w.on('error', (err) => this.options.logger.warn({ dir, err: String(err) }, 'fim watch: a watch failed; the periodic rescan still covers it'));
      this.watchers.push(w);
    } catch (err) {
      this.options.logger.warn({ dir, err: String(err) }, 'fim watch: cannot watch; the periodic rescan still covers it');
    }
  }

  /** Runs one comparison after the one in progress. */
  private queue(full: boolean, capture?: (r: FimWatchReport) => void): Promise<void> {
    this.running = this.running.then(async () => {
      if (this.stopped) return;
      const paths = full ? undefined : [...this.pending];
      if (!full) this.pending = new Set();
      if (paths?.length === 0) return;
      try {
        const report = await this.compare(paths);
        capture?.(report);
        if (report.bits !== 0) this.onReport(report);
      } catch (err) {
        this.options.logger.error({ err: String(err) }, 'fim watch: comparison failed');
      }
    });
    return this.running;
  }

  private async loadBaseline(): Promise<void> {
    const base = await this.fim.verifiedBaseline();
    this.baseline = base.entries;
    this.generation = base.generation.generation;
    // What was reported against the old baseline may be accepted now, or differ anew.
    this.reported.clear();
  }

  private async compare(paths: string[] | undefined): Promise<FimWatchReport> {
    // `fim update` (another process) accepted changes: compare with what it recorded, not the stale baseline.
    if ((this.fim.repo.latest()?.generation ?? 0) !== this.generation) await this.loadBaseline();
    // A renamed or removed directory takes its subtree with it: re-scan below every named path.
    const within = paths ? (p: string): boolean => paths.some((q) => under(p, q)) : undefined;
    const descend = paths ? (d: string): boolean => paths.some((q) => under(q, d)) : undefined;
    const now = await scan(this.rules, { concurrency: this.options.concurrency, ...(within ? { within } : {}), ...(descend ? { descend } : {}) });
    const diff = diffEntries(this.baseline, now.entries, within);
    // Only what was not reported in this state before; a path back to its baseline state may alarm again later.
    const fresh = (key: string, sig: string): boolean => {
      if (this.reported.get(key) === sig) return false;
      this.reported.set(key, sig);
      return true;
    };
    const seen = new Set([...diff.added, ...diff.removed, ...diff.changed].map((x) => x.path));
    for (const key of [...this.reported.keys()]) if ((!within || within(key)) && !seen.has(key)) this.reported.delete(key);
    const added = diff.added.filter((a) => fresh(a.path, `+${a.type}:${a.sha256}:${a.target}:${a.mode}`));
    const removed = diff.removed.filter((r) => fresh(r.path, '-'));
    const changed = diff.changed.filter((c) => fresh(c.path, JSON.stringify(c.changes)));
    const bits = (added.length ? 1 : 0) | (removed.length ? 2 : 0) | (changed.length ? 4 : 0);
    return { added, removed, changed, bits, full: paths === undefined, time: new Date().toISOString() };
  }
}
