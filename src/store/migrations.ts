/** The store's schema, as forward-only migrations; index + 1 is the `user_version` each one brings. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    vm TEXT NOT NULL,
    principal TEXT NOT NULL,
    command TEXT NOT NULL,
    args TEXT NOT NULL,
    class TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    purpose TEXT,
    error TEXT,
    duration_ms REAL NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE INDEX audit_log_vm ON audit_log (vm, seq);
  CREATE INDEX audit_log_time ON audit_log (time);
  -- The newest row's seq and hash, written in the same transaction as the row: cutting rows off the end of the
  -- chain then shows as a head that no longer matches.
  CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  `,
];
