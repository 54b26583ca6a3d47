/**
 * Glob patterns for FIM rules, matched against paths relative to a rule's root: `**` any number of path
 * segments, `*` any run of characters within one segment, `?` one character, `[abc]`/`[!abc]` a class, and
 * `{a,b}` alternatives. Dotfiles are matched like any name: an integrity policy must not skip hidden files.
 */
import { VigilError } from '../../core/errors.js';

function escape(ch: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? `\\${ch}` : ch;
}

/** The regular expression source of one glob (anchored by the caller). */
function translate(glob: string, field: string): string {
  let out = '';
  let i = 0;
  let braces = 0;
  while (i < glob.length) {
    const ch = glob[i]!;
    if (ch === '*') {
      if (glob[i + 1] === '*') {
        const atStart = i === 0 || glob[i - 1] === '/';
        const atEnd = i + 2 === glob.length || glob[i + 2] === '/';
        if (!atStart || !atEnd) throw new VigilError('VIGIL_INVALID_INPUT', `${field}: '**' must be a whole path segment in '${glob}' (write 'a/**/b', not 'a**b')`, { context: { field } });
        if (i + 2 === glob.length) {
          out += '.*';
          i += 2;
        } else {
          // `**/` matches zero or more whole segments.
          out += '(?:[^/]*/)*';
          i += 3;
        }
        continue;
      }
      out += '[^/]*';
    } else if (ch === '?') out += '[^/]';
    else if (ch === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) throw new VigilError('VIGIL_INVALID_INPUT', `${field}: unclosed '[' in '${glob}'`, { context: { field } });
      let body = glob.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, (c) => `\\${c}`)}]`;
      i = close + 1;
      continue;
    } else if (ch === '{') {
      braces += 1;
      out += '(?:';
    } else if (ch === '}' && braces > 0) {
      braces -= 1;
      out += ')';
    } else if (ch === ',' && braces > 0) out += '|';
    else out += escape(ch);
    i += 1;
  }
  if (braces > 0) throw new VigilError('VIGIL_INVALID_INPUT', `${field}: unclosed '{' in '${glob}'`, { context: { field } });
  return out;
}

/** A compiled glob: `matches(rel)` for a path relative to the rule's root (no leading `/`). */
export interface Glob {
  readonly source: string;
  matches(rel: string): boolean;
}

/** Compiles `glob`; `field` names it in errors. */
export function compileGlob(glob: string, field = 'glob'): Glob {
  const re = new RegExp(`^${translate(glob.replace(/^\/+/, ''), field)}$`);
  return { source: glob, matches: (rel) => re.test(rel) };
}

/** True when any of `globs` matches `rel`. */
export function anyMatch(globs: readonly Glob[], rel: string): boolean {
  return globs.some((g) => g.matches(rel));
}
