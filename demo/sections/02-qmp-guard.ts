/** Section 2: QMP through the guard (allowed, privileged, refused) and the hash-chained audit log it writes. */
import { readFileSync } from 'node:fs';
import { auditLinePath } from '../../src/vm/monitor.js';
import { heading, note, vigil, type Demo } from '../lib.js';

/** Runs the section. */
export function qmpGuard(d: Demo): void {
  heading('2. QMP through the guard, and the audit log');
  note('safe commands pass');
  vigil(d, ['qmp', d.vm, 'query-version', '--compact']);
  vigil(d, ['qmp', d.vm, 'query-status', '--compact']);
  note('privileged commands (pause/resume) are allowed and logged with a warning');
  vigil(d, ['vm', 'pause', d.vm]);
  vigil(d, ['qmp', d.vm, 'query-status', '--compact']);
  vigil(d, ['vm', 'resume', d.vm]);
  note('dangerous commands are refused (exit 4)');
  vigil(d, ['qmp', d.vm, 'human-monitor-command', '{"command-line": "info status"}'], 4);
  vigil(d, ['qmp', d.vm, 'pmemsave', '{"val": 0, "size": 4096, "filename": "/tmp/stolen-guest-memory"}'], 4);
  note('every call is in the audit log: SQLite, hash-chained');
  vigil(d, ['audit', 'tail', '-n', '6']);
  vigil(d, ['audit', 'grep', 'human-monitor|pmemsave', '--outcome', 'refused']);
  vigil(d, ['audit', 'verify']);
  note("the same events in the text log, in seed 004's line format");
  console.log(readFileSync(auditLinePath(d.paths), 'utf8').trimEnd().split('\n').slice(-3).join('\n'));
}
