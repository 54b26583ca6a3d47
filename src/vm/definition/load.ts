/**
 * Reading VM definitions: one or more YAML files deep-merged in order (later files win; maps merge key by key,
 * lists and scalars are replaced whole, as in MAQET), validated against the schema. Every problem is reported at
 * once, each at the file, line and column that supplied the value, so a user fixes them all in one pass.
 */
import { readFileSync } from 'node:fs';
import { VigilError } from '../../core/errors.js';
import {
  formatProblem,
  issuesToProblems,
  parseYamlSource,
  positionIn,
  sortProblems,
  type Problem,
  type ProblemPlace,
  type YamlSource,
} from '../../core/yaml-errors.js';
import { vmDefinitionSchema, type VmDefinition } from './schema.js';

/** A loaded definition and the files it came from, in merge order. */
export interface LoadedDefinition {
  definition: VmDefinition;
  files: string[];
}

/**
 * Which files supplied a value. A map that several files define has `children` (merged key by key); anything a
 * later file replaced whole (a list, a scalar, a map over a non-map) is owned by that one file down to its leaves.
 */
interface Origin {
  /** The files (indexes) that defined this path, in merge order. */
  files: number[];
  children?: Map<string, Origin>;
}

function isPlainMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Sets a key without letting `__proto__` reach the prototype. */
function put(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function mergeValue(base: unknown, baseOrigin: Origin | undefined, over: unknown, file: number): { value: unknown; origin: Origin } {
  if (!isPlainMap(over)) return { value: over, origin: { files: [file] } };
  // A map merges into a map; over anything else it starts afresh.
  const merging = isPlainMap(base) && baseOrigin?.children !== undefined;
  const value: Record<string, unknown> = {};
  const origin: Origin = merging ? { files: [...baseOrigin.files, file], children: new Map(baseOrigin.children) } : { files: [file], children: new Map() };
  if (merging) for (const [k, v] of Object.entries(base)) put(value, k, v);
  for (const [k, v] of Object.entries(over)) {
    const merged = mergeValue(value[k], origin.children!.get(k), v, file);
    put(value, k, merged.value);
    origin.children!.set(k, merged.origin);
  }
  return { value, origin };
}

/**
 * The file and position to blame for `path`: the last file that defined it; for a path nobody defined (a missing
 * required field), the first file that defined the map that should hold it, at that map.
 */
function locateIn(sources: readonly YamlSource[], root: Origin, path: readonly PropertyKey[], key: boolean): ProblemPlace {
  const place = (fileIndex: number, p: readonly PropertyKey[], asKey: boolean): ProblemPlace => {
    const source = sources[fileIndex] ?? sources[0]!;
    return { file: source.file, ...positionIn(source, p, { key: asKey }) };
  };
  let origin = root;
  for (let depth = 0; depth < path.length; depth++) {
    if (origin.children === undefined) return place(origin.files[origin.files.length - 1] ?? 0, path, key);
    const child = origin.children.get(String(path[depth]));
    if (child === undefined) return place(origin.files[0] ?? 0, path.slice(0, depth), false);
    origin = child;
  }
  return place(origin.files[origin.files.length - 1] ?? 0, path, key);
}

function invalid(problems: Problem[], files: readonly string[]): VigilError {
  const sorted = sortProblems(problems, files);
  const what = files.length === 1 ? files[0]! : files.join(' + ');
  return new VigilError('VIGIL_CONFIG_INVALID', `VM definition ${what} has ${sorted.length} problem(s):\n${sorted.map(formatProblem).join('\n')}`, {
    context: { files: [...files], problems: sorted },
  });
}

/** Parses texts as one definition (merged in order); throws VIGIL_CONFIG_INVALID listing every problem. */
function definitionFromTexts(texts: readonly { text: string; file: string }[]): VmDefinition {
  const files = texts.map((t) => t.file);
  const sources: YamlSource[] = [];
  const problems: Problem[] = [];
  for (const { text, file } of texts) {
    const parsed = parseYamlSource(text, file);
    sources.push(parsed.source);
    problems.push(...parsed.problems);
  }
  if (problems.length > 0) throw invalid(problems, files);

  let merged: unknown = {};
  let root: Origin = { files: [], children: new Map() };
  sources.forEach((source, i) => {
    const value: unknown = source.doc.toJS({ maxAliasCount: 100 }) ?? {};
    if (!isPlainMap(value)) {
      problems.push({ file: source.file, ...positionIn(source, []), path: '', message: 'a VM definition is a map of fields (name: ..., memory: ..., disks: ...)' });
      return;
    }
    const next = mergeValue(merged, root, value, i);
    merged = next.value;
    root = next.origin;
  });
  if (problems.length > 0) throw invalid(problems, files);

  const result = vmDefinitionSchema.safeParse(merged);
  if (result.success) return result.data;
  throw invalid(
    issuesToProblems(result.error.issues, vmDefinitionSchema, (path, opts) => locateIn(sources, root, path, opts.key)),
    files,
  );
}

/** Reads, merges (later files win) and validates definition files; throws one VIGIL_CONFIG_INVALID listing every problem. */
export function loadDefinitionFiles(files: string[]): LoadedDefinition {
  if (files.length === 0) throw new VigilError('VIGIL_INVALID_INPUT', 'no definition file given: pass at least one YAML file');
  const texts = files.map((file) => {
    try {
      return { file, text: readFileSync(file, 'utf8') };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new VigilError('VIGIL_NOT_FOUND', `definition file ${file} does not exist`, { cause: err, context: { file } });
      throw new VigilError('VIGIL_CONFIG_INVALID', `cannot read definition file ${file}: ${(err as Error).message}`, { cause: err, context: { file } });
    }
  });
  return { definition: definitionFromTexts(texts), files: [...files] };
}

/** Validates one definition document given as YAML or JSON text (`file` names it in messages, e.g. `request body`). */
export function parseDefinitionText(text: string, file: string): VmDefinition {
  return definitionFromTexts([{ text, file }]);
}

/** Validates an already parsed object (a JSON request body); problems carry the field path but no position. */
export function definitionFromObject(obj: unknown, source: string): VmDefinition {
  if (!isPlainMap(obj)) {
    throw invalid([{ file: source, path: '', message: 'a VM definition is an object of fields (name, memory, disks, ...)' }], [source]);
  }
  const result = vmDefinitionSchema.safeParse(obj);
  if (result.success) return result.data;
  throw invalid(
    issuesToProblems(result.error.issues, vmDefinitionSchema, () => ({ file: source })),
    [source],
  );
}

/** The problems of a VIGIL_CONFIG_INVALID error from this module (empty for any other error). */
export function definitionProblems(err: unknown): Problem[] {
  if (!(err instanceof VigilError) || err.code !== 'VIGIL_CONFIG_INVALID') return [];
  const problems = err.context.problems;
  return Array.isArray(problems) ? (problems as Problem[]) : [];
}

export type { Problem };
