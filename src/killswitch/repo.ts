/**
 * The `killswitch` table: the switch's state and its last report, written before the engine acts, and the pid of
 * the process running an engage or release, so that a second process (the CLI beside vigild) waits for it
 * instead of cutting the same devices twice.
 */
import type { StoreDb } from '../store/db.js';
import { KILLSWITCH_STATES, type KillswitchState } from './states.js';
import type { SwitchReport, Trigger } from './report.js';

/** The persisted switch. */
export interface SwitchRecord {
  name: string;
  state: KillswitchState;
  trigger: Trigger | null;
  /** The engage in progress or done (its VMs and outcomes), or the last release. */
  report: SwitchReport | null;
  updatedAt: string;
  /** The process running the engage or release in progress, if any. */
  owner: number | null;
}

interface Row {
  name: string;
  state: string;
  trigger: string | null;
  record: string;
  updated_at: string;
  owner: number | null;
}

/** An operation older than this cannot still be running (deadlines plus escalation take seconds): its owner is gone. */
const STALE_AFTER_MS = 60_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when another live process is running an engage or release of this switch right now. */
export function busyElsewhere(record: SwitchRecord, now = Date.now()): boolean {
  if (record.state !== 'engaging' && record.state !== 'releasing') return false;
  if (record.owner === null || record.owner === process.pid) return false;
  return now - Date.parse(record.updatedAt) < STALE_AFTER_MS && alive(record.owner);
}

/** Reads and writes the switch's row. */
export class KillswitchRepo {
  constructor(private readonly db: StoreDb) {}

  /** The switch, `armed` with no report when it was never used. */
  get(name: string): SwitchRecord {
    const row = this.db.prepare('SELECT * FROM killswitch WHERE name = ?').get(name) as Row | undefined;
    if (!row) return { name, state: 'armed', trigger: null, report: null, updatedAt: new Date(0).toISOString(), owner: null };
    // An unreadable state is treated as engaging: recovery then completes an engage, the secure outcome.
    const state = (KILLSWITCH_STATES as readonly string[]).includes(row.state) ? (row.state as KillswitchState) : 'engaging';
    return {
      name,
      state,
      trigger: row.trigger === null ? null : (JSON.parse(row.trigger) as Trigger),
      report: JSON.parse(row.record) as SwitchReport | null,
      updatedAt: row.updated_at,
      owner: row.owner,
    };
  }

  /**
   * Writes the switch's state (and report) in one statement. The in-between states record this process as the
   * owner; the resting ones (engaged, armed) clear it.
   */
  put(name: string, state: KillswitchState, trigger: Trigger | null, report: SwitchReport | null): void {
    const owner = state === 'engaging' || state === 'releasing' ? process.pid : null;
    this.db
      .prepare(
        'INSERT INTO killswitch (name, state, trigger, record, updated_at, owner) VALUES (?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (name) DO UPDATE SET state = excluded.state, trigger = excluded.trigger, record = excluded.record, updated_at = excluded.updated_at, owner = excluded.owner',
      )
      .run(name, state, trigger === null ? null : JSON.stringify(trigger), JSON.stringify(report), new Date().toISOString(), owner);
  }

  /**
   * Starts an operation: writes `state` unless another live process is running one, atomically (an immediate
   * transaction holds SQLite's write lock between the check and the write). Returns the record that won.
   */
  claim(name: string, state: 'engaging' | 'releasing', trigger: Trigger, report: SwitchReport | null): { claimed: boolean; record: SwitchRecord } {
    return this.db
      .transaction(() => {
        const current = this.get(name);
        if (busyElsewhere(current)) return { claimed: false, record: current };
        this.put(name, state, trigger, report);
        return { claimed: true, record: this.get(name) };
      })
      .immediate();
  }
}
