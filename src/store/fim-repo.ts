/**
 * File integrity baselines: each generation is a hash chain of entry rows (like the audit log), and the
 * generations are chained too. `verify()` recomputes both chains; a changed, removed or inserted row shows.
 */
import { createHash } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { StoreDb } from './db.js';

/**
 * Rows per transaction or query page. Large baselines are written and read in pages with a turn of the event
 * loop between them, so a 50,000-path baseline never holds vigild's loop (honeypots, the API) for long.
 */
const PAGE = 2000;

/** The hash before the first row of a chain. */
const GENESIS = '0'.repeat(64);

/** One recorded path (the host agent's FimEntry has this shape; the store does not depend on it). */
export interface FimRecord {
  path: string;
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: string;
  inode: string;
  target: string | null;
  sha256: string | null;
  error: string | null;
  attributes: string[];
}

/** One baseline generation's header. */
export interface FimGeneration {
  generation: number;
  createdAt: string;
  reason: string;
  principal: string;
  entries: number;
  entriesHead: string;
  prevHash: string;
  hash: string;
}

/** A problem found by `verify()`. */
export interface FimChainProblem {
  generation: number;
  seq?: number;
  detail: string;
}

interface EntryRow {
  generation: number;
  seq: number;
  path: string;
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size: number;
  mtime_ns: string;
  inode: string;
  target: string | null;
  sha256: string | null;
  error: string | null;
  attributes: string;
  prev_hash: string;
  hash: string;
}

interface GenRow {
  generation: number;
  created_at: string;
  reason: string;
  principal: string;
  entries: number;
  entries_head: string;
  prev_hash: string;
  hash: string;
}

function sha(material: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(material)).digest('hex');
}

function entryHash(r: Omit<EntryRow, 'hash'>): string {
  return sha([r.generation, r.seq, r.path, r.type, r.mode, r.uid, r.gid, r.size, r.mtime_ns, r.inode, r.target, r.sha256, r.error, r.attributes, r.prev_hash]);
}

function genHash(r: Omit<GenRow, 'hash'>): string {
  return sha([r.generation, r.created_at, r.reason, r.principal, r.entries, r.entries_head, r.prev_hash]);
}

function toGeneration(r: GenRow): FimGeneration {
  return {
    generation: r.generation,
    createdAt: r.created_at,
    reason: r.reason,
    principal: r.principal,
    entries: r.entries,
    entriesHead: r.entries_head,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

function toRecord(r: EntryRow): FimRecord {
  return {
    path: r.path,
    type: r.type,
    mode: r.mode,
    uid: r.uid,
    gid: r.gid,
    size: r.size,
    mtimeNs: r.mtime_ns,
    inode: r.inode,
    target: r.target,
    sha256: r.sha256,
    error: r.error,
    attributes: r.attributes === '' ? [] : r.attributes.split(','),
  };
}

/** The FIM baselines of one store. */
export class FimRepo {
  constructor(private readonly db: StoreDb) {}

  /** The newest generation, or undefined before `fim init`. */
  latest(): FimGeneration | undefined {
    const r = this.db.prepare('SELECT * FROM fim_generations ORDER BY generation DESC LIMIT 1').get() as GenRow | undefined;
    return r ? toGeneration(r) : undefined;
  }

  /**
   * Writes a new generation (sorted by path, so the same tree always gives the same chain) in pages; the header,
   * written last, makes it visible, so a crash mid-way leaves only unreferenced rows (removed by the next
   * append). Entries of generations older than `keep` are dropped; their headers stay, keeping the chain whole.
   */
  async append(records: Iterable<FimRecord>, meta: { reason: string; principal: string; time?: Date }, keep = 2): Promise<FimGeneration> {
    const sorted = [...records].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const insert = this.db.prepare(
      `INSERT INTO fim_entries (generation, seq, path, type, mode, uid, gid, size, mtime_ns, inode, target, sha256, error, attributes, prev_hash, hash)
       VALUES (@generation, @seq, @path, @type, @mode, @uid, @gid, @size, @mtime_ns, @inode, @target, @sha256, @error, @attributes, @prev_hash, @hash)`,
    );
    const insertGen = this.db.prepare(
      `INSERT INTO fim_generations (generation, created_at, reason, principal, entries, entries_head, prev_hash, hash)
       VALUES (@generation, @created_at, @reason, @principal, @entries, @entries_head, @prev_hash, @hash)`,
    );
    const last = this.latest();
    const generation = (last?.generation ?? 0) + 1;
    this.db.prepare('DELETE FROM fim_entries WHERE generation >= ?').run(generation);
    let prev = GENESIS;
    let seq = 0;
    const page = this.db.transaction((rows: EntryRow[]) => {
      for (const r of rows) insert.run(r);
    });
    for (let i = 0; i < sorted.length; i += PAGE) {
      const rows: EntryRow[] = [];
      for (const e of sorted.slice(i, i + PAGE)) {
        seq += 1;
        const base: Omit<EntryRow, 'hash'> = {
          generation,
          seq,
          path: e.path,
          type: e.type,
          mode: e.mode,
          uid: e.uid,
          gid: e.gid,
          size: e.size,
          mtime_ns: e.mtimeNs,
          inode: e.inode,
          target: e.target,
          sha256: e.sha256,
          error: e.error,
          attributes: e.attributes.join(','),
          prev_hash: prev,
        };
        const hash = entryHash(base);
        rows.push({ ...base, hash });
        prev = hash;
      }
      page.immediate(rows);
      await yieldToLoop();
    }
    const gen: Omit<GenRow, 'hash'> = {
      generation,
      created_at: (meta.time ?? new Date()).toISOString(),
      reason: meta.reason,
      principal: meta.principal,
      entries: seq,
      entries_head: prev,
      prev_hash: last?.hash ?? GENESIS,
    };
    const row: GenRow = { ...gen, hash: genHash(gen) };
    this.db
      .transaction(() => {
        // Another writer (the CLI beside vigild) may have recorded a generation meanwhile: do not fork the chain.
        if ((this.latest()?.generation ?? 0) !== generation - 1) throw new Error('another baseline was recorded at the same time; run the command again');
        insertGen.run(row);
      })
      .immediate();
    for (let g = generation - keep; g > 0; g--) {
      const gone = this.db.prepare('DELETE FROM fim_entries WHERE generation = ?').run(g);
      if (gone.changes === 0) break;
      await yieldToLoop();
    }
    return toGeneration(row);
  }

  /** Pages of a generation's rows in seq order, yielding to the event loop between pages. */
  private async *rows(generation: number): AsyncGenerator<EntryRow[]> {
    const stmt = this.db.prepare('SELECT * FROM fim_entries WHERE generation = ? AND seq > ? ORDER BY seq LIMIT ?');
    let after = 0;
    for (;;) {
      const rows = stmt.all(generation, after, PAGE) as EntryRow[];
      if (rows.length === 0) return;
      yield rows;
      after = rows[rows.length - 1]!.seq;
      await yieldToLoop();
    }
  }

  /** The entries of a generation, by path. */
  async entries(generation: number): Promise<Map<string, FimRecord>> {
    const out = new Map<string, FimRecord>();
    for await (const page of this.rows(generation)) for (const r of page) out.set(r.path, toRecord(r));
    return out;
  }

  /**
   * Recomputes the generation chain and the newest generation's entry chain; returns every problem found, and the
   * newest generation's entries (read once for both: a check needs them right after).
   */
  async verify(maxProblems = 100): Promise<{ ok: boolean; problems: FimChainProblem[]; latest: FimGeneration | undefined; entries: Map<string, FimRecord> }> {
    const entries = new Map<string, FimRecord>();
    const problems: FimChainProblem[] = [];
    const add = (p: FimChainProblem): void => {
      if (problems.length < maxProblems) problems.push(p);
    };
    let prev = GENESIS;
    let expected = 1;
    let latest: GenRow | undefined;
    for (const g of this.db.prepare('SELECT * FROM fim_generations ORDER BY generation').iterate() as IterableIterator<GenRow>) {
      if (g.generation !== expected) add({ generation: expected, detail: `baseline generation(s) ${expected}..${g.generation - 1} are missing` });
      else if (g.prev_hash !== prev) add({ generation: g.generation, detail: `generation ${g.generation} does not follow generation ${g.generation - 1}: one of them was replaced` });
      const { hash, ...rest } = g;
      if (genHash(rest) !== hash) add({ generation: g.generation, detail: `generation ${g.generation}'s header does not match its hash: it was changed` });
      prev = hash;
      expected = g.generation + 1;
      latest = g;
    }
    if (latest) {
      let ePrev = GENESIS;
      let eExpected = 1;
      for await (const page of this.rows(latest.generation)) {
        for (const r of page) {
          if (r.seq !== eExpected) add({ generation: latest.generation, seq: eExpected, detail: `entries ${eExpected}..${r.seq - 1} were removed` });
          else if (r.prev_hash !== ePrev) add({ generation: latest.generation, seq: r.seq, detail: `entry ${r.seq} (${r.path}) does not follow entry ${r.seq - 1}: that entry was replaced` });
          const { hash, ...rest } = r;
          if (entryHash(rest) !== hash) add({ generation: latest.generation, seq: r.seq, detail: `entry ${r.seq} (${r.path}) does not match its hash: it was changed` });
          ePrev = hash;
          eExpected = r.seq + 1;
          entries.set(r.path, toRecord(r));
        }
      }
      if (eExpected - 1 !== latest.entries || ePrev !== latest.entries_head) {
        add({ generation: latest.generation, detail: `the baseline ends at entry ${eExpected - 1} but its header records ${latest.entries} entries: entries were removed, added or rewritten` });
      }
    }
    return { ok: problems.length === 0, problems, latest: latest ? toGeneration(latest) : undefined, entries };
  }
}
