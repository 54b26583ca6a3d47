/**
 * Walks a policy's paths and records each object's attributes, hashing regular files with bounded concurrency:
 * reads happen on libuv's thread pool and SHA-256 is fed in 256 KiB slices, so the event loop is never held for
 * more than one slice (bench/fim.ts measures its lag). Symlinks are recorded, never followed.
 */
import { createHash } from 'node:crypto';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { anyMatch } from './glob.js';
import type { FimEntry } from './entry.js';
import type { ResolvedRule } from './policy.js';

const SLICE = 256 * 1024;
/** lstat calls in flight while walking one directory. */
const STAT_BATCH = 64;
/** Hash tasks queued before the walk waits for them. */
const MAX_BACKLOG = 4096;

/** What a scan found, and what it could not read. */
export interface ScanResult {
  entries: Map<string, FimEntry>;
  /** Paths that could not be listed or stat'ed (a directory without read permission, a vanished file). */
  problems: { path: string; error: string }[];
  stats: { files: number; hashedFiles: number; hashedBytes: number; elapsedMs: number };
}

/** Scan options. */
export interface ScanOptions {
  /** Files hashed at once. */
  concurrency: number;
  /** With `within`: walk into this directory (an ancestor of a path to re-scan). */
  descend?: (dir: string) => boolean;
  /** Record only these paths (watch mode re-scans the paths inotify named, not the whole policy). */
  within?: (path: string) => boolean;
  /** Called with the number of objects recorded so far, now and then (progress for the CLI). */
  onProgress?: (done: number) => void;
}

function typeOf(st: BigIntStats): FimEntry['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

function code(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/** SHA-256 of a file's contents, read through one handle in slices. */
export async function hashFile(path: string, buffer: Buffer): Promise<{ sha256: string; bytes: number }> {
  const fh = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    let bytes = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      bytes += bytesRead;
    }
    return { sha256: hash.digest('hex'), bytes };
  } finally {
    await fh.close();
  }
}

/**
 * A fixed set of workers pulling from a queue: at most `n` tasks in flight, each with its own read buffer. The
 * queue is read through a moving head index: `Array#shift` on a 50,000-task queue is linear per call.
 */
class Pool {
  private queue: ((buffer: Buffer) => Promise<void>)[] = [];
  private head = 0;
  private running = 0;
  private idle: (() => void) | undefined;
  private readonly buffers: Buffer[] = [];

  constructor(private readonly n: number) {}

  push(task: (buffer: Buffer) => Promise<void>): void {
    this.queue.push(task);
    this.pump();
  }

  /** Tasks waiting (the walk slows down when hashing falls behind, bounding memory). */
  backlog(): number {
    return this.queue.length - this.head;
  }

  private pump(): void {
    while (this.running < this.n && this.head < this.queue.length) {
      const task = this.queue[this.head]!;
      this.queue[this.head] = undefined as never;
      this.head += 1;
      if (this.head > 4096 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      this.running += 1;
      const buffer = this.buffers.pop() ?? Buffer.allocUnsafe(SLICE);
      void task(buffer).finally(() => {
        this.buffers.push(buffer);
        this.running -= 1;
        this.pump();
        if (this.running === 0 && this.backlog() === 0) {
          const idle = this.idle;
          this.idle = undefined;
          idle?.();
        }
      });
    }
  }

  drained(): Promise<void> {
    if (this.running === 0 && this.backlog() === 0) return Promise.resolve();
    return new Promise((resolve) => (this.idle = resolve));
  }
}

/** Records every object the rules select. The first rule naming a path decides its attributes. */
export async function scan(rules: readonly ResolvedRule[], options: ScanOptions): Promise<ScanResult> {
  const t0 = performance.now();
  const entries = new Map<string, FimEntry>();
  const problems: ScanResult['problems'] = [];
  const stats = { files: 0, hashedFiles: 0, hashedBytes: 0, elapsedMs: 0 };
  const pool = new Pool(options.concurrency);
  const claimed = new Set<string>();
  let sinceProgress = 0;

  const record = (path: string, rule: ResolvedRule, st: BigIntStats): void => {
    const type = typeOf(st);
    const entry: FimEntry = {
      path,
      type,
      mode: (Number(st.mode) & 0o7777).toString(8).padStart(4, '0'),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: Number(st.size),
      mtimeNs: st.mtimeNs.toString(),
      inode: st.ino.toString(),
      target: null,
      sha256: null,
      error: null,
      attributes: rule.attributes,
    };
    entries.set(path, entry);
    stats.files += 1;
    if (options.onProgress && ++sinceProgress >= 1000) {
      sinceProgress = 0;
      options.onProgress(entries.size);
    }
    if (type === 'symlink') {
      pool.push(async () => {
        try {
          entry.target = await readlink(path);
        } catch (err) {
          entry.error = code(err);
        }
      });
    } else if (type === 'file' && rule.attributes.includes('sha256') && (rule.maxHashBytes === 0 || entry.size <= rule.maxHashBytes)) {
      pool.push(async (buffer) => {
        try {
          const { sha256, bytes } = await hashFile(path, buffer);
          entry.sha256 = sha256;
          stats.hashedFiles += 1;
          stats.hashedBytes += bytes;
        } catch (err) {
          entry.error = code(err);
        }
      });
    }
  };

  // Directories are walked one at a time, their entries stat'ed in batches: a 50,000-file tree never has 50,000
  // promises (and their BigIntStats) alive at once, which kept the event loop busy for seconds in garbage
  // collection. When hashing falls behind, the walk waits.
  const walk = async (dir: string, rel: string, rule: ResolvedRule): Promise<void> => {
    let names;
    try {
      names = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      problems.push({ path: dir, error: code(err) });
      return;
    }
    const subdirs: [string, string][] = [];
    const todo: { full: string; childRel: string; wanted: boolean }[] = [];
    for (const d of names) {
      const childRel = rel === '' ? d.name : `${rel}/${d.name}`;
      if (anyMatch(rule.exclude, childRel)) continue;
      const full = join(dir, d.name);
      const inScope = options.within ? options.within(full) : true;
      const wanted = inScope && anyMatch(rule.include, childRel) && !claimed.has(full);
      if (!wanted && !(d.isDirectory() && (inScope || (options.descend?.(full) ?? true)))) continue;
      todo.push({ full, childRel, wanted });
    }
    for (let i = 0; i < todo.length; i += STAT_BATCH) {
      await Promise.all(
        todo.slice(i, i + STAT_BATCH).map(async ({ full, childRel, wanted }) => {
          let st: BigIntStats;
          try {
            st = await lstat(full, { bigint: true });
          } catch (err) {
            problems.push({ path: full, error: code(err) });
            return;
          }
          if (wanted) {
            claimed.add(full);
            record(full, rule, st);
          }
          if (st.isDirectory()) subdirs.push([full, childRel]);
        }),
      );
      while (pool.backlog() > MAX_BACKLOG) await pool.drained();
    }
    for (const [full, childRel] of subdirs) await walk(full, childRel, rule);
  };

  for (const rule of rules) {
    if (options.within && !options.within(rule.path) && !(options.descend?.(rule.path) ?? true)) continue;
    let st: BigIntStats;
    try {
      st = await lstat(rule.path, { bigint: true });
    } catch (err) {
      // A missing root is simply absent (a removed QEMU binary shows as removed); other errors are problems.
      if (code(err) !== 'ENOENT') problems.push({ path: rule.path, error: code(err) });
      continue;
    }
    const inScope = options.within ? options.within(rule.path) : true;
    if (inScope && !claimed.has(rule.path)) {
      claimed.add(rule.path);
      record(rule.path, rule, st);
    }
    if (st.isDirectory() && (inScope || (options.descend?.(rule.path) ?? true))) await walk(rule.path, '', rule);
  }
  await pool.drained();
  stats.elapsedMs = performance.now() - t0;
  return { entries, problems, stats };
}
