/**
 * QEMU's `key=value,key=value` option strings: writing them with commas escaped (a value holding a comma must not
 * be able to add an option of its own), and reading them the way QEMU does, for the extraArgs guard.
 */

/** A value as QEMU reads it: a comma inside a value is written twice. */
export function escapeValue(value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  return String(value).replaceAll(',', ',,');
}

/** One `key=value` part; `undefined` values are left out, so optional settings can be listed inline. */
export type KeyvalPart = readonly [key: string, value: string | number | boolean | undefined];

/** Builds `head,key=value,...` with every value escaped (`head` is the implied first value, e.g. a driver). */
export function keyval(head: string | undefined, parts: readonly KeyvalPart[]): string {
  const out = head === undefined ? [] : [escapeValue(head)];
  for (const [key, value] of parts) if (value !== undefined) out.push(`${key}=${escapeValue(value)}`);
  return out.join(',');
}

/** One parsed entry; `implied` marks the first value written without its key (`-device virtio-net-pci,...`). */
export interface KeyvalEntry {
  key: string;
  value: string;
  implied?: boolean;
}

/** Reads a value up to a lone comma; `,,` is a literal comma. Returns the value and where the next part starts. */
function readValue(text: string, start: number): { value: string; next: number } {
  let value = '';
  let i = start;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ',') {
      if (text[i + 1] !== ',') break;
      value += ',';
      i += 2;
      continue;
    }
    value += c;
    i += 1;
  }
  return { value, next: i < text.length ? i + 1 : i };
}

/**
 * Parses an option string exactly as QEMU's QemuOpts parser does (util/qemu-option.c): a name ends at the first
 * `=` or `,` (names cannot hold escaped commas), values unescape `,,`, a bare word is a flag (`foo` = on,
 * `nofoo` = off), and only the first part may omit the implied key.
 */
export function parseKeyval(text: string, impliedKey?: string): KeyvalEntry[] {
  const entries: KeyvalEntry[] = [];
  let i = 0;
  let first = true;
  while (i < text.length) {
    const rest = text.slice(i);
    const len = rest.search(/[=,]/) < 0 ? rest.length : rest.search(/[=,]/);
    if (rest[len] === '=') {
      const { value, next } = readValue(text, i + len + 1);
      entries.push({ key: rest.slice(0, len), value });
      i = next;
    } else if (first && impliedKey !== undefined) {
      const { value, next } = readValue(text, i);
      entries.push({ key: impliedKey, value, implied: true });
      i = next;
    } else {
      const name = rest.slice(0, len);
      entries.push(name.startsWith('no') ? { key: name.slice(2), value: 'off' } : { key: name, value: 'on' });
      i += len < rest.length ? len + 1 : len;
    }
    first = false;
  }
  return entries;
}

function flatten(value: unknown, prefix: string, out: KeyvalEntry[]): void {
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix === '' ? k : `${prefix}.${k}`, out);
    return;
  }
  out.push({ key: prefix, value: typeof value === 'string' ? value : value === null || value === undefined ? '' : JSON.stringify(value) });
}

/**
 * Parses an option argument the way QEMU reads it for options that also take JSON (`-device`, `-object`,
 * `-audiodev`): JSON when it starts with `{` (nested keys flattened with dots), key=value otherwise. Throws a
 * plain Error when the JSON does not parse.
 */
export function parseOptionArgument(text: string, impliedKey: string | undefined, acceptsJson: boolean): KeyvalEntry[] {
  if (!acceptsJson || !text.startsWith('{')) return parseKeyval(text, impliedKey);
  const parsed: unknown = JSON.parse(text);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('the JSON form must be an object');
  const out: KeyvalEntry[] = [];
  flatten(parsed, '', out);
  return out;
}
