/** Dashboard sessions: only a token's SHA-256 is stored, so a copy of the store does not log anyone in. */
import { createHash, randomBytes } from 'node:crypto';
import type { StoreDb } from './db.js';

/** A live session. */
export interface SessionRow {
  address: string;
  expiresAt: string;
}

function hash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Creates, checks and revokes session tokens. */
export class SessionRepo {
  constructor(private readonly db: StoreDb) {}

  /** A new token for `address`, valid for `ttlSec`. */
  create(address: string, ttlSec: number, now = Date.now()): { token: string; expiresAt: string } {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(now + ttlSec * 1000).toISOString();
    this.db.prepare('INSERT INTO sessions (token_hash, address, created_at, expires_at) VALUES (?, ?, ?, ?)').run(hash(token), address.toLowerCase(), new Date(now).toISOString(), expiresAt);
    return { token, expiresAt };
  }

  /** The session of a token, if it is live. */
  lookup(token: string, now = Date.now()): SessionRow | undefined {
    const r = this.db.prepare('SELECT address, expires_at, revoked FROM sessions WHERE token_hash = ?').get(hash(token)) as { address: string; expires_at: string; revoked: number } | undefined;
    if (!r || r.revoked === 1 || Date.parse(r.expires_at) <= now) return undefined;
    return { address: r.address, expiresAt: r.expires_at };
  }

  /** Revokes one token; true if it was live. */
  revoke(token: string): boolean {
    return this.db.prepare('UPDATE sessions SET revoked = 1 WHERE token_hash = ? AND revoked = 0').run(hash(token)).changes > 0;
  }

  /** Revokes every session of an address. */
  revokeAll(address: string): number {
    return this.db.prepare('UPDATE sessions SET revoked = 1 WHERE address = ? AND revoked = 0').run(address.toLowerCase()).changes;
  }
}
