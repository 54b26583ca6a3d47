/** The `vms` table: each VM's definition, state and the facts about its current QEMU process. */
import type { Statement } from 'better-sqlite3';
import type { StoreDb } from './db.js';

/**
 * A stored VM. The store keeps the definition as JSON and the state as text; the VM service checks both when it
 * reads them (the store knows nothing of the VM domain's types).
 */
export interface VmRecord<D = unknown, S extends string = string> {
  name: string;
  definition: D;
  /** The files the definition was loaded from (for reload). */
  sources: string[];
  state: S;
  pid: number | null;
  bootId: string | null;
  startedAt: string | null;
  restartCount: number;
  restartWindowStart: string | null;
  /** apply changed something that only takes effect after a restart. */
  needsRestart: boolean;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  name: string;
  definition: string;
  sources: string;
  state: string;
  pid: number | null;
  boot_id: string | null;
  started_at: string | null;
  restart_count: number;
  restart_window_start: string | null;
  needs_restart: number;
  created_at: string;
  updated_at: string;
}

// Definitions change rarely and are read on every listing: parse each distinct text once.
const parsedDefinitions = new Map<string, unknown>();

function parseDefinition(text: string): unknown {
  let parsed = parsedDefinitions.get(text);
  if (parsed === undefined) {
    if (parsedDefinitions.size > 4096) parsedDefinitions.clear();
    parsed = JSON.parse(text) as unknown;
    parsedDefinitions.set(text, parsed);
  }
  return parsed;
}

function toRecord(r: Row): VmRecord {
  return {
    name: r.name,
    // Shared between reads: callers must not mutate it (the VM service validates it into a new object).
    definition: parseDefinition(r.definition),
    sources: JSON.parse(r.sources) as string[],
    state: r.state,
    pid: r.pid,
    bootId: r.boot_id,
    startedAt: r.started_at,
    restartCount: r.restart_count,
    restartWindowStart: r.restart_window_start,
    needsRestart: r.needs_restart === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Fields `update` may change. */
export type VmPatch = Partial<Pick<VmRecord, 'definition' | 'sources' | 'state' | 'pid' | 'bootId' | 'startedAt' | 'restartCount' | 'restartWindowStart' | 'needsRestart'>>;

const COLUMNS: Record<keyof VmPatch, string> = {
  definition: 'definition',
  sources: 'sources',
  state: 'state',
  pid: 'pid',
  bootId: 'boot_id',
  startedAt: 'started_at',
  restartCount: 'restart_count',
  restartWindowStart: 'restart_window_start',
  needsRestart: 'needs_restart',
};

function toColumn(key: keyof VmPatch, value: unknown): unknown {
  if (key === 'definition' || key === 'sources') return JSON.stringify(value);
  if (key === 'needsRestart') return value ? 1 : 0;
  return value;
}

/** Reads and writes VMs. */
export class VmRepo {
  private readonly byName: Statement<[string], Row>;
  private readonly all: Statement<[], Row>;

  constructor(private readonly db: StoreDb) {
    this.byName = db.prepare('SELECT * FROM vms WHERE name = ?');
    this.all = db.prepare('SELECT * FROM vms ORDER BY name');
  }

  /** One VM, or undefined. */
  get(name: string): VmRecord | undefined {
    const row = this.byName.get(name);
    return row ? toRecord(row) : undefined;
  }

  /** Every VM, by name. */
  list(): VmRecord[] {
    return this.all.all().map(toRecord);
  }

  /** Inserts a new VM in state `defined`; false if the name is taken. */
  insert(name: string, definition: unknown, sources: string[], now: Date = new Date()): boolean {
    const info = this.db
      .prepare(
        `INSERT OR IGNORE INTO vms (name, definition, sources, state, created_at, updated_at) VALUES (?, ?, ?, 'defined', ?, ?)`,
      )
      .run(name, JSON.stringify(definition), JSON.stringify(sources), now.toISOString(), now.toISOString());
    return info.changes === 1;
  }

  /** Changes the given fields. */
  update(name: string, patch: VmPatch, now: Date = new Date()): void {
    const keys = Object.keys(patch) as (keyof VmPatch)[];
    const sets = keys.map((k) => `${COLUMNS[k]} = @${k}`);
    const params: Record<string, unknown> = { name, updated_at: now.toISOString() };
    for (const k of keys) params[k] = toColumn(k, patch[k]);
    this.db.prepare(`UPDATE vms SET ${[...sets, 'updated_at = @updated_at'].join(', ')} WHERE name = @name`).run(params);
  }

  /** Deletes a VM and its history. */
  remove(name: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM vms WHERE name = ?').run(name);
      this.db.prepare('DELETE FROM vm_state_history WHERE vm = ?').run(name);
    })();
  }
}
