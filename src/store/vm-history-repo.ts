/** The `vm_state_history` table: every state change of every VM, with its reason. */
import type { StoreDb } from './db.js';

/** One state change. */
export interface VmStateChange {
  seq: number;
  vm: string;
  time: string;
  from: string | null;
  to: string;
  reason: string;
}

interface Row {
  seq: number;
  vm: string;
  time: string;
  from_state: string | null;
  to_state: string;
  reason: string;
}

/** Appends and reads state changes. */
export class VmHistoryRepo {
  constructor(private readonly db: StoreDb) {}

  /** Records a change. */
  append(vm: string, from: string | null, to: string, reason: string, now: Date = new Date()): VmStateChange {
    const info = this.db
      .prepare('INSERT INTO vm_state_history (vm, time, from_state, to_state, reason) VALUES (?, ?, ?, ?, ?)')
      .run(vm, now.toISOString(), from, to, reason);
    return { seq: Number(info.lastInsertRowid), vm, time: now.toISOString(), from, to, reason };
  }

  /** The newest `limit` changes of a VM, oldest first. */
  list(vm: string, limit = 50): VmStateChange[] {
    const rows = this.db
      .prepare('SELECT * FROM (SELECT * FROM vm_state_history WHERE vm = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq')
      .all(vm, limit) as Row[];
    return rows.map((r) => ({ seq: r.seq, vm: r.vm, time: r.time, from: r.from_state, to: r.to_state, reason: r.reason }));
  }
}
