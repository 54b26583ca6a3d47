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
  `
  CREATE TABLE vms (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    sources TEXT NOT NULL,
    state TEXT NOT NULL,
    pid INTEGER,
    boot_id TEXT,
    started_at TEXT,
    restart_count INTEGER NOT NULL DEFAULT 0,
    restart_window_start TEXT,
    needs_restart INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE vm_state_history (
    seq INTEGER PRIMARY KEY,
    vm TEXT NOT NULL,
    time TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL
  );
  CREATE INDEX vm_state_history_vm ON vm_state_history (vm, seq);
  `,
  `
  CREATE TABLE principals (
    address TEXT PRIMARY KEY,
    name TEXT,
    host_role TEXT,
    created_at TEXT NOT NULL
  );
  CREATE TABLE vm_permissions (
    vm TEXT NOT NULL,
    subject TEXT NOT NULL,
    role TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    PRIMARY KEY (vm, subject)
  );
  CREATE INDEX vm_permissions_subject ON vm_permissions (subject);
  CREATE TABLE teams (
    name TEXT PRIMARY KEY,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE team_members (
    team TEXT NOT NULL REFERENCES teams (name) ON DELETE CASCADE,
    address TEXT NOT NULL,
    admin INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (team, address)
  );
  CREATE INDEX team_members_address ON team_members (address);
  `,
  `
  CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX sessions_address ON sessions (address);
  `,
  `
  CREATE TABLE killswitch (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    trigger TEXT,
    record TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  `,
  // 6: the process running an engage or release, so that other processes wait for it instead of cutting twice.
  `ALTER TABLE killswitch ADD COLUMN owner INTEGER;`,
  // 7: the host agent's file integrity baselines.
  `
  -- The host agent's file integrity baselines. Each generation (fim init / update) is a chain of entry rows, each
  -- row hashing its content and the row before it; the generations are chained the same way, and each new
  -- generation's hash also goes to the audit log, so a baseline rewritten with fresh hashes still shows.
  CREATE TABLE fim_generations (
    generation INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    principal TEXT NOT NULL,
    entries INTEGER NOT NULL,
    entries_head TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE TABLE fim_entries (
    generation INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    path TEXT NOT NULL,
    type TEXT NOT NULL,
    mode TEXT NOT NULL,
    uid INTEGER NOT NULL,
    gid INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns TEXT NOT NULL,
    inode TEXT NOT NULL,
    target TEXT,
    sha256 TEXT,
    error TEXT,
    attributes TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (generation, seq)
  );
  CREATE TRIGGER fim_generations_no_update BEFORE UPDATE ON fim_generations
    BEGIN SELECT RAISE(ABORT, 'FIM baselines are append-only'); END;
  CREATE TRIGGER fim_entries_no_update BEFORE UPDATE ON fim_entries
    BEGIN SELECT RAISE(ABORT, 'FIM baselines are append-only'); END;
  `,
];
