/** The `killswitch` table: the switch's state and its last report, written before the engine acts. */
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
}

interface Row {
  name: string;
  state: string;
  trigger: string | null;
  record: string;
  updated_at: string;
}

/** Reads and writes the switch's row. */
export class KillswitchRepo {
  constructor(private readonly db: StoreDb) {}

  /** The switch, `armed` with no report when it was never used. */
  get(name: string): SwitchRecord {
    const row = this.db.prepare('SELECT * FROM killswitch WHERE name = ?').get(name) as Row | undefined;
    if (!row) return { name, state: 'armed', trigger: null, report: null, updatedAt: new Date(0).toISOString() };
    // An unreadable state is treated as engaging: recovery then completes an engage, the secure outcome.
    const state = (KILLSWITCH_STATES as readonly string[]).includes(row.state) ? (row.state as KillswitchState) : 'engaging';
    return {
      name,
      state,
      trigger: row.trigger === null ? null : (JSON.parse(row.trigger) as Trigger),
      report: JSON.parse(row.record) as SwitchReport | null,
      updatedAt: row.updated_at,
    };
  }

  /** Writes the switch's state (and report) in one statement. */
  put(name: string, state: KillswitchState, trigger: Trigger | null, report: SwitchReport | null): void {
    this.db
      .prepare(
        'INSERT INTO killswitch (name, state, trigger, record, updated_at) VALUES (?, ?, ?, ?, ?) ' +
          'ON CONFLICT (name) DO UPDATE SET state = excluded.state, trigger = excluded.trigger, record = excluded.record, updated_at = excluded.updated_at',
      )
      .run(name, state, trigger === null ? null : JSON.stringify(trigger), JSON.stringify(report), new Date().toISOString());
  }
}
