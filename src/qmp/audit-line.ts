/** The text audit log: one seed-004 format line per guarded command, appended to a private file. */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatAuditLine, type QmpAuditRecord, type QmpAuditSink } from './audit-record.js';

/** Appends each record to `path` (created 0600; its directory 0700). */
export class LineAuditSink implements QmpAuditSink {
  constructor(private readonly path: string) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  }

  /** Writes the record's line. */
  record(entry: QmpAuditRecord): void {
    appendFileSync(this.path, formatAuditLine(entry) + '\n', { mode: 0o600 });
  }
}
