/**
 * The list of what an import could not carry over. Importers record what they know they drop, with a reason
 * written for the user; `finish` then sweeps the tree for whatever they never looked at, so the list is
 * complete even where an importer has no case for an element.
 */
import type { SkippedEntry, TrackedElement } from './xml-tree.js';

/** A part of the document the sweep found unused: an element never looked at, or an attribute never read. */
export type Leftover = ReturnType<TrackedElement['leftovers']>[number];

interface Entry extends SkippedEntry {
  order: number;
  sub: number;
}

/** Collects skipped elements and attributes; `finish` returns them in document order. */
export class SkipLog {
  private readonly entries: Entry[] = [];

  /** Skips a whole element (and all inside it) for `reason`. */
  element(el: TrackedElement, reason: string): void {
    el.settle();
    this.entries.push({ path: el.path, reason, order: el.order, sub: 0 });
  }

  /** Skips one attribute of an element for `reason`. */
  attribute(el: TrackedElement, name: string, reason: string): void {
    el.attr(name);
    this.entries.push({ path: `${el.path}/@${name}`, reason, order: el.order, sub: 1 });
  }

  /** Records a change made while carrying something over (a rename, a rounding, a substitute). */
  note(el: TrackedElement, reason: string, attribute?: string): void {
    this.entries.push({ path: attribute === undefined ? el.path : `${el.path}/@${attribute}`, reason, order: el.order, sub: attribute === undefined ? 0 : 1 });
  }

  /** Records an entry for a set of elements (an XPath with a predicate), placed at the first of them. */
  group(path: string, first: TrackedElement, members: TrackedElement[], reason: string): void {
    for (const m of members) m.settle();
    this.entries.push({ path, reason, order: first.order, sub: 0 });
  }

  /** Accounts for an element silently: runtime state, or a value that is already Vigil's default. */
  ignore(...els: (TrackedElement | undefined)[]): void {
    for (const el of els) el?.settle();
  }

  /** Sweeps `root` for unused parts (described by `describe`) and returns every entry in document order. */
  finish(root: TrackedElement, describe: (leftover: Leftover) => string): SkippedEntry[] {
    for (const left of root.leftovers()) {
      this.entries.push({ path: left.path, reason: describe(left), order: left.order, sub: left.attribute ? 1 : 0 });
    }
    return this.entries
      .map((e, i) => ({ e, i }))
      .sort((a, b) => a.e.order - b.e.order || a.e.sub - b.e.sub || a.i - b.i)
      .map(({ e }) => ({ path: e.path, reason: e.reason }));
  }
}
