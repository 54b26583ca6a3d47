/**
 * The embedded store: one SQLite file (better-sqlite3, WAL), migrated forward on open. Several processes (the
 * CLI, the daemon) may open it at once; writers wait for each other through the busy timeout.
 */
import Database from 'better-sqlite3';
import { dirname } from 'node:path';
import { VigilError } from '../core/errors.js';
import { ensurePrivateDir } from '../core/paths.js';
import { MIGRATIONS } from './migrations.js';

/** An open store. */
export type StoreDb = Database.Database;

/** Opens (creating if needed) the store at `path` and applies pending migrations. `:memory:` works for tests. */
export function openStore(path: string): StoreDb {
  let db: StoreDb;
  try {
    if (path !== ':memory:') ensurePrivateDir(dirname(path));
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
  } catch (err) {
    throw new VigilError('VIGIL_STORE', `cannot open the store at ${path}: ${(err as Error).message}`, { cause: err, context: { path } });
  }
  try {
    migrate(db);
  } catch (err) {
    db.close();
    throw new VigilError('VIGIL_STORE', `cannot migrate the store at ${path}: ${(err as Error).message}`, { cause: err, context: { path } });
  }
  return db;
}

/** Applies every migration newer than the store's `user_version`, each in its own transaction. */
function migrate(db: StoreDb): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`store schema version ${current} is newer than this Vigil knows (${MIGRATIONS.length}); upgrade Vigil`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    const sql = MIGRATIONS[v]!;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
