/**
 * Problems in YAML files with their positions: syntax errors and zod issues mapped back to file:line:col with the
 * yaml package's LineCounter, so every problem says where to look, which field, and what to change.
 */
import { isMap, isNode, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';

/** One problem in a file: `line`/`col` are 1-based and absent when the input had no positions (plain JSON objects). */
export interface Problem {
  file: string;
  line?: number;
  col?: number;
  /** The field as a dotted path (`disks.0.cache`); empty for the whole document. */
  path: string;
  message: string;
}

/** A parsed YAML file that remembers where each node came from. */
export interface YamlSource {
  file: string;
  doc: Document;
  lineCounter: LineCounter;
}

/** Where a problem is: a file and, when known, a position in it. */
export interface ProblemPlace {
  file: string;
  line?: number;
  col?: number;
}

/** Parses YAML (or JSON) text keeping positions; syntax errors come back as problems with line and column. */
export function parseYamlSource(text: string, file: string): { source: YamlSource; problems: Problem[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const problems = doc.errors.map((e): Problem => {
    const pos = lineCounter.linePos(e.pos[0]);
    // The parser's messages end with a hint of their own; the first line is the one worth showing.
    const message = (e.message.split('\n')[0] ?? e.message).trim();
    return { file, line: pos.line, col: pos.col, path: '', message: `YAML syntax: ${message}` };
  });
  return { source: { file, doc, lineCounter }, problems };
}

function rangeStart(node: unknown): number | undefined {
  return isNode(node) && node.range ? node.range[0] : undefined;
}

/**
 * The position of the node at `path` (of its key when `key` is set), or of the deepest enclosing node that exists:
 * a missing field is reported where the map that should hold it starts.
 */
export function positionIn(source: YamlSource, path: readonly PropertyKey[], opts: { key?: boolean } = {}): { line: number; col: number } {
  const keys = path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  const at = (offset: number): { line: number; col: number } => source.lineCounter.linePos(offset);
  if (opts.key === true && keys.length > 0) {
    const parent = keys.length === 1 ? source.doc.contents : source.doc.getIn(keys.slice(0, -1), true);
    if (isMap(parent)) {
      const want = String(keys[keys.length - 1]);
      const pair = parent.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === want);
      const offset = rangeStart(pair?.key);
      if (offset !== undefined) return at(offset);
    }
  }
  for (let depth = keys.length; depth > 0; depth--) {
    const offset = rangeStart(source.doc.getIn(keys.slice(0, depth), true));
    if (offset !== undefined) return at(offset);
  }
  const offset = rangeStart(source.doc.contents);
  return offset === undefined ? { line: 1, col: 1 } : at(offset);
}

/** A zod path as the dotted field name users see (`nics.0.forward`). */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p) => String(p)).join('.');
}

/** Formats one problem as `file:line:col: field.path: message` (the position left out when unknown). */
export function formatProblem(p: Problem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}:${p.col ?? 1}`;
  return `${where}: ${p.path === '' ? '(top level)' : p.path}: ${p.message}`;
}

type AnyDef = { type?: string; shape?: Record<string, unknown>; innerType?: unknown; in?: unknown; element?: unknown; options?: unknown[] };

function defOf(schema: unknown): AnyDef | undefined {
  return (schema as { _zod?: { def?: AnyDef } } | undefined)?._zod?.def;
}

function unwrap(schema: unknown): unknown {
  let s = schema;
  for (let i = 0; i < 16; i++) {
    const def = defOf(s);
    if (def === undefined) return s;
    if (def.type === 'pipe') s = def.in;
    else if (def.innerType !== undefined) s = def.innerType;
    else return s;
  }
  return s;
}

function objectOptions(schema: unknown): AnyDef[] {
  const def = defOf(unwrap(schema));
  if (def?.type === 'object' && def.shape) return [def];
  if (def?.type === 'union') return (def.options ?? []).flatMap(objectOptions);
  return [];
}

/** The field names a zod object schema accepts at `path` (numbers step into arrays); empty when unknown. */
export function knownKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let current: unknown[] = [schema];
  for (const seg of path) {
    const next: unknown[] = [];
    for (const s of current) {
      const def = defOf(unwrap(s));
      if (def?.type === 'array' && typeof seg === 'number') next.push(def.element);
      for (const o of objectOptions(s)) if (o.shape && typeof seg === 'string' && o.shape[seg] !== undefined) next.push(o.shape[seg]);
    }
    current = next;
  }
  return [...new Set(current.flatMap((s) => objectOptions(s).flatMap((o) => Object.keys(o.shape ?? {}))))];
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const here = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = here;
    }
  }
  return row[b.length]!;
}

/** The message for an unknown field: the likely intended name when one is close, else the names allowed there. */
export function unknownFieldMessage(key: string, allowed: readonly string[]): string {
  const close = allowed
    .map((k) => ({ k, d: k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(k.toLowerCase(), key.toLowerCase()) }))
    .filter((c) => c.d <= Math.max(1, Math.floor(key.length / 4)))
    .sort((a, b) => a.d - b.d)[0];
  if (close !== undefined) return `unknown field "${key}": did you mean "${close.k}"?`;
  if (allowed.length === 0) return `unknown field "${key}": remove it`;
  return `unknown field "${key}": remove it (the fields allowed here are ${allowed.join(', ')})`;
}

/**
 * Turns zod issues into problems placed by `locate`. An `unrecognized_keys` issue becomes one problem per key, at
 * the key itself, with a suggestion taken from `schema`.
 */
export function issuesToProblems(
  issues: readonly z.core.$ZodIssue[],
  schema: z.ZodType,
  locate: (path: readonly PropertyKey[], opts: { key: boolean }) => ProblemPlace,
): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const allowed = knownKeys(schema, issue.path);
      for (const key of issue.keys) {
        const path = [...issue.path, key];
        problems.push({ ...locate(path, { key: true }), path: fieldPath(path), message: unknownFieldMessage(key, allowed) });
      }
      continue;
    }
    // zod words a missing field as a type error ("expected number, received undefined"); say what to do instead.
    const missing = issue.code === 'invalid_type' && /received undefined$/.test(issue.message) && issue.path.length > 0;
    const message = missing ? `required: add "${String(issue.path[issue.path.length - 1])}" (${issue.expected})` : issue.message;
    problems.push({ ...locate(issue.path, { key: false }), path: fieldPath(issue.path), message });
  }
  return problems;
}

/** Problems in file order, then by position, so a reader fixes them top to bottom. */
export function sortProblems(problems: readonly Problem[], fileOrder: readonly string[] = []): Problem[] {
  const rank = (f: string): number => {
    const i = fileOrder.indexOf(f);
    return i < 0 ? fileOrder.length : i;
  };
  return [...problems].sort((a, b) => rank(a.file) - rank(b.file) || (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
}
