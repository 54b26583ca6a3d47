/** One path's recorded attributes, and the comparison of two records attribute by attribute. */
import type { FimAttribute } from '../config.js';

/** A file system object as FIM records it. Numbers that can exceed 2^53 (inode, mtime in ns) are strings. */
export interface FimEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  /** Permission bits and setuid/setgid/sticky (`mode & 0o7777`), as octal text: `0644`. */
  mode: string;
  uid: number;
  gid: number;
  size: number;
  /** Nanoseconds since the epoch. */
  mtimeNs: string;
  inode: string;
  /** A symlink's target as stored in the link (never followed). */
  target: string | null;
  /** Regular files whose rule hashes contents; null otherwise. */
  sha256: string | null;
  /** Why the contents could not be read (EACCES, ...), or null. */
  error: string | null;
  /** The attributes this path's rule compares. */
  attributes: FimAttribute[];
}

/** One changed attribute. */
export interface AttributeChange {
  attribute: FimAttribute | 'type';
  old: string | number | null;
  new: string | number | null;
}

function value(e: FimEntry, a: FimAttribute): string | number | null {
  switch (a) {
    case 'sha256':
      return e.error !== null ? `unreadable (${e.error})` : e.sha256;
    case 'mtime':
      return formatNs(e.mtimeNs);
    case 'target':
      return e.target;
    default:
      return e[a];
  }
}

/** An mtime in ns as ISO 8601 with nanoseconds (what a person reads in a report). */
export function formatNs(ns: string): string {
  const n = BigInt(ns);
  const ms = n / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString();
  const frac = (((n % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${frac}Z`;
}

/**
 * The attributes that differ between the baseline's record and the current one, compared as the baseline's rule
 * said. A directory's size and mtime move with every entry added or removed, which the report already shows as
 * added/removed paths, so they are not compared for directories.
 */
export function compareEntries(old: FimEntry, now: FimEntry): AttributeChange[] {
  if (old.type !== now.type) return [{ attribute: 'type', old: old.type, new: now.type }];
  const changes: AttributeChange[] = [];
  for (const a of old.attributes) {
    if (old.type === 'dir' && (a === 'size' || a === 'mtime')) continue;
    if (a === 'sha256' && old.type !== 'file') continue;
    if (a === 'target' && old.type !== 'symlink') continue;
    const before = value(old, a);
    const after = value(now, a);
    if (before !== after) changes.push({ attribute: a, old: before, new: after });
  }
  return changes;
}
