/** The FIM report: paths added, removed and changed (each changed attribute old -> new), and its exit bitmask. */
import { compareEntries, type AttributeChange, type FimEntry } from './entry.js';

/** Bits of the check's status, as AIDE's exit status: added 1, removed 2, changed 4. */
export const FIM_BITS = { added: 1, removed: 2, changed: 4 } as const;

/** A path in the report (added or removed): what it was or is. */
export interface FimPathSummary {
  path: string;
  type: FimEntry['type'];
  mode: string;
  size: number;
  sha256: string | null;
  target: string | null;
}

/** A changed path. */
export interface FimChange {
  path: string;
  changes: AttributeChange[];
}

/** The difference between a baseline and the tree now. */
export interface FimDiff {
  added: FimPathSummary[];
  removed: FimPathSummary[];
  changed: FimChange[];
  /** `FIM_BITS` of what the diff holds (0: no difference). */
  bits: number;
}

function summary(e: FimEntry): FimPathSummary {
  return { path: e.path, type: e.type, mode: e.mode, size: e.size, sha256: e.sha256, target: e.target };
}

const byPath = (a: { path: string }, b: { path: string }): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** Compares `now` with `baseline`; only `within` paths are considered when given (watch mode's partial checks). */
export function diffEntries(baseline: ReadonlyMap<string, FimEntry>, now: ReadonlyMap<string, FimEntry>, within?: (path: string) => boolean): FimDiff {
  const added: FimPathSummary[] = [];
  const removed: FimPathSummary[] = [];
  const changed: FimChange[] = [];
  for (const [path, old] of baseline) {
    if (within && !within(path)) continue;
    const cur = now.get(path);
    if (!cur) removed.push(summary(old));
    else {
      const changes = compareEntries(old, cur);
      if (changes.length > 0) changed.push({ path, changes });
    }
  }
  for (const [path, cur] of now) {
    if (within && !within(path)) continue;
    if (!baseline.has(path)) added.push(summary(cur));
  }
  added.sort(byPath);
  removed.sort(byPath);
  changed.sort(byPath);
  const bits = (added.length ? FIM_BITS.added : 0) | (removed.length ? FIM_BITS.removed : 0) | (changed.length ? FIM_BITS.changed : 0);
  return { added, removed, changed, bits };
}

/** The report as text, one line per path and one per changed attribute. */
export function formatDiff(diff: FimDiff): string {
  const lines: string[] = [];
  for (const a of diff.added) lines.push(`added:   ${a.path} (${a.type}${a.type === 'symlink' ? ` -> ${a.target ?? '?'}` : ''})`);
  for (const r of diff.removed) lines.push(`removed: ${r.path} (${r.type})`);
  for (const c of diff.changed) {
    lines.push(`changed: ${c.path}`);
    for (const ch of c.changes) lines.push(`  ${ch.attribute}: ${String(ch.old)} -> ${String(ch.new)}`);
  }
  lines.push(`${diff.added.length} added, ${diff.removed.length} removed, ${diff.changed.length} changed`);
  return lines.join('\n');
}
