/**
 * The QMP guard: classifies every command Vigil sends on someone's behalf and decides whether it may run.
 * Pure (no I/O but resolving paths): the guarded channel applies the verdict and writes the audit record.
 */
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { VigilError } from '../core/errors.js';
import { DEFAULT_GUARD_RULES, type GuardRule, type QmpClass, type RuleCondition } from './guard-table.js';

/** The subdirectory of a VM's runtime directory that holds the VM's own files (memory dumps, screenshots, scratch images). */
export const VM_FILES_SUBDIR = 'files';

/**
 * The VM's files directory: the only place whose host paths count as the VM's own. The rest of the runtime
 * directory is Vigil's (qmp.sock, monitor.sock, serial.sock, gdb.sock, vnc.sock, qemu.pid, ram).
 */
export function vmFilesDir(runtimeDir: string): string {
  return join(runtimeDir, VM_FILES_SUBDIR);
}

/** What the guard knows about the VM a command is for. */
export interface GuardContext {
  /**
   * The VM's runtime directory. Only host paths inside its `files/` subdirectory ({@link vmFilesDir}) are the VM's
   * own; everything else, Vigil's sockets, pidfile and RAM file in the runtime directory included, is outside.
   * Unknown: every path is outside.
   */
  runtimeDir?: string | undefined;
  /** The commands this QEMU's `query-qmp-schema` lists; a command outside it is refused. Unknown: not checked. */
  schemaCommands?: ReadonlySet<string> | undefined;
}

/** A verdict: the class, why, and whether the command may run as asked. */
export interface GuardVerdict {
  command: string;
  /** `unknown`: this QEMU's schema does not list the command. */
  class: QmpClass | 'unknown';
  allowed: boolean;
  reason: string;
  /** The table row that decided, if any (none: safe by default, or unknown). */
  rule: GuardRule | undefined;
  /** Host paths that made the verdict (for `host-path-outside` conditions, alone or within `all`). */
  paths: string[];
  /** For a refusal: the message shown to the user, naming the class, the reason and how to allow it. */
  refusal: string | undefined;
}

function getPath(args: Record<string, unknown>, dotted: string): unknown {
  let cur: unknown = args;
  for (const part of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function collectStrings(value: unknown, keys: ReadonlySet<string>, out: string[]): void {
  if (Array.isArray(value)) {
    for (const v of value) collectStrings(v, keys, out);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    if (keys.has(k) && typeof v === 'string') out.push(v);
    else collectStrings(v, keys, out);
  }
}

/** Every string in `value` (itself, or inside it at any depth). */
function allStrings(value: unknown, out: string[]): void {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) allStrings(v, out);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) allStrings(v, out);
}

/** Every string given under one of `keys`, at any depth (all the strings inside an array or object value). */
function stringsUnder(value: unknown, keys: ReadonlySet<string>, out: string[]): void {
  if (Array.isArray(value)) {
    for (const v of value) stringsUnder(v, keys, out);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    if (keys.has(k)) allStrings(v, out);
    else stringsUnder(v, keys, out);
  }
}

/** True when a key at any depth satisfies `test`. */
function hasKey(value: unknown, test: (key: string) => boolean): boolean {
  if (Array.isArray(value)) return value.some((v) => hasKey(v, test));
  if (value === null || typeof value !== 'object') return false;
  return Object.entries(value).some(([k, v]) => test(k) || hasKey(v, test));
}

/**
 * Follows symlinks as far as the path exists, dangling ones included (QEMU would create their target), so a link
 * inside the files directory cannot point out of it.
 */
function realish(path: string, hops = 0): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    if (hops < 40) {
      try {
        if (lstatSync(abs).isSymbolicLink()) return realish(resolve(dirname(abs), readlinkSync(abs)), hops + 1);
      } catch {
        // Nothing at this path: resolve what is above it.
      }
    }
    const parent = dirname(abs);
    return parent === abs ? abs : join(realish(parent, hops), abs.slice(parent.length + (parent.endsWith(sep) ? 0 : 1)));
  }
}

/**
 * True when `path` is not strictly inside `dir`: `dir` itself is outside (it is not a file in it), and so are
 * relative paths (QEMU's working directory is not ours).
 */
export function isOutside(path: string, dir: string | undefined): boolean {
  if (!dir || !isAbsolute(path)) return true;
  const root = realish(dir);
  const target = realish(path);
  return !target.startsWith(root.endsWith(sep) ? root : root + sep) || target === root;
}

function hostPathsOutside(cond: Extract<RuleCondition, { kind: 'host-path-outside' }>, args: Record<string, unknown>, ctx: GuardContext): string[] {
  const found: string[] = [];
  collectStrings(args, new Set(cond.keys), found);
  const paths = cond.strip === undefined ? found : found.filter((p) => p.startsWith(cond.strip!)).map((p) => p.slice(cond.strip!.length));
  // A relative (or empty) runtime directory would resolve against our working directory: treat it as unknown.
  const filesDir = ctx.runtimeDir !== undefined && isAbsolute(ctx.runtimeDir) ? vmFilesDir(ctx.runtimeDir) : undefined;
  return paths.filter((p) => isOutside(p, filesDir));
}

/** Every regular expression a condition uses (`has-key`, `key-match`), nested ones included. */
function conditionPatterns(cond: RuleCondition | undefined): string[] {
  if (cond === undefined) return [];
  if (cond.kind === 'all') return cond.conditions.flatMap(conditionPatterns);
  if (cond.kind === 'key-match') return [cond.pattern];
  if (cond.kind === 'has-key' && cond.pattern !== undefined) return [cond.pattern];
  return [];
}

function allowHint(command: string): string {
  return (
    `If you really need '${command}', pass --allow-dangerous (CLI) or allowDangerous: true (library, API) and understand the risks; ` +
    "or change its class with a rule under 'qmp.rules' in config.yaml. See docs/QMP-GUARD.md."
  );
}

/** Classifies QMP commands with a rule table (defaults plus operator overrides, overrides first). */
export class QmpGuard {
  readonly rules: readonly GuardRule[];
  private readonly patterns = new Map<string, RegExp>();

  /** Throws VIGIL_CONFIG_INVALID when a rule's `pattern` is not a valid regular expression. */
  constructor(overrides: readonly GuardRule[] = [], defaults: readonly GuardRule[] = DEFAULT_GUARD_RULES) {
    this.rules = [...overrides, ...defaults];
    for (const rule of this.rules) {
      for (const pattern of conditionPatterns(rule.when)) {
        if (this.patterns.has(pattern)) continue;
        try {
          this.patterns.set(pattern, new RegExp(pattern));
        } catch (err) {
          throw new VigilError('VIGIL_CONFIG_INVALID', `QMP guard rule for '${rule.command}': pattern ${JSON.stringify(pattern)} is not a valid regular expression`, {
            cause: err,
            context: { command: rule.command, pattern },
          });
        }
      }
    }
  }

  /** The class of `command` with these arguments, and the rule that decided it. */
  classify(command: string, args: Record<string, unknown> = {}, ctx: GuardContext = {}): Omit<GuardVerdict, 'allowed' | 'refusal'> {
    if (ctx.schemaCommands && !ctx.schemaCommands.has(command)) {
      return {
        command,
        class: 'unknown',
        reason: "this QEMU's schema (query-qmp-schema) does not list it, so Vigil cannot classify it",
        rule: undefined,
        paths: [],
      };
    }
    for (const rule of this.rules) {
      if (rule.command !== command) continue;
      const paths = this.matches(rule.when, args, ctx);
      if (paths) return { command, class: rule.class, reason: rule.reason, rule, paths };
    }
    return { command, class: 'safe', reason: 'no rule names it: it reads state or changes nothing risky', rule: undefined, paths: [] };
  }

  /** The verdict for running `command` now; dangerous commands need `allowDangerous`, unknown ones never run. */
  check(command: string, args: Record<string, unknown> = {}, ctx: GuardContext & { allowDangerous?: boolean } = {}): GuardVerdict {
    const verdict = this.classify(command, args, ctx);
    if (verdict.class === 'unknown') {
      return {
        ...verdict,
        allowed: false,
        refusal: `Unknown QMP command '${command}' refused: ${verdict.reason}. Check the spelling; 'query-commands' lists what this QEMU accepts.`,
      };
    }
    if (verdict.class === 'dangerous' && !ctx.allowDangerous) {
      const where = verdict.paths.length > 0 ? ` (${verdict.paths.join(', ')})` : '';
      return {
        ...verdict,
        allowed: false,
        refusal: `Dangerous QMP command '${command}' blocked: ${verdict.reason}${where}. ${allowHint(command)}`,
      };
    }
    return { ...verdict, allowed: true, refusal: undefined };
  }

  /** Throws VIGIL_GUARD_REFUSED for a command that may not run; returns the verdict otherwise. */
  enforce(command: string, args: Record<string, unknown> = {}, ctx: GuardContext & { allowDangerous?: boolean } = {}): GuardVerdict {
    const verdict = this.check(command, args, ctx);
    if (!verdict.allowed) throw refusalError(verdict);
    return verdict;
  }

  /** The matched host paths ([] for matches that name none), or undefined when the condition does not hold. */
  private matches(cond: RuleCondition | undefined, args: Record<string, unknown>, ctx: GuardContext): string[] | undefined {
    if (!cond) return [];
    switch (cond.kind) {
      case 'arg-prefix': {
        const v = getPath(args, cond.arg);
        return typeof v === 'string' && cond.prefixes.some((p) => v.startsWith(p)) ? [] : undefined;
      }
      case 'arg-in': {
        const v = getPath(args, cond.arg);
        return typeof v === 'string' && cond.values.includes(v) ? [] : undefined;
      }
      case 'arg-not-in': {
        const v = getPath(args, cond.arg);
        return typeof v === 'string' && cond.values.includes(v) ? undefined : [];
      }
      case 'arg-absent':
        return getPath(args, cond.arg) === undefined ? [] : undefined;
      case 'has-key': {
        const keys = new Set(cond.keys ?? []);
        const re = cond.pattern === undefined ? undefined : this.regex(cond.pattern);
        return hasKey(args, (k) => keys.has(k) || (re?.test(k) ?? false)) ? [] : undefined;
      }
      case 'key-match': {
        const found: string[] = [];
        stringsUnder(args, new Set(cond.keys), found);
        const re = this.regex(cond.pattern);
        return found.some((v) => re.test(v)) ? [] : undefined;
      }
      case 'host-path-outside': {
        const outside = hostPathsOutside(cond, args, ctx);
        return outside.length > 0 ? outside : undefined;
      }
      case 'all': {
        const paths: string[] = [];
        for (const sub of cond.conditions) {
          const found = this.matches(sub, args, ctx);
          if (found === undefined) return undefined;
          paths.push(...found);
        }
        return paths;
      }
    }
  }

  private regex(pattern: string): RegExp {
    let re = this.patterns.get(pattern);
    if (re === undefined) {
      re = new RegExp(pattern);
      this.patterns.set(pattern, re);
    }
    return re;
  }
}

/** The typed error for a refused verdict. */
export function refusalError(verdict: GuardVerdict): VigilError {
  return new VigilError('VIGIL_GUARD_REFUSED', verdict.refusal ?? `QMP command '${verdict.command}' refused`, {
    context: { command: verdict.command, class: verdict.class, reason: verdict.reason, paths: verdict.paths },
  });
}
