/**
 * The target description (`qXfer:features:read:target.xml`): which registers exist, their numbers, sizes and
 * features, discovered from the stub's XML (with its `xi:include`s) rather than hard-coded per architecture.
 */
import { VigilError } from '../core/errors.js';

/** One register as the target describes it. */
export interface RegisterInfo {
  name: string;
  /** The number used by `p`/`P` and the position in the `g` block. */
  regnum: number;
  bitsize: number;
  /** e.g. int64, code_ptr, data_ptr, i387_ext, vec128, or a flags/struct type id. */
  type: string;
  /** The feature that holds it (org.gnu.gdb.i386.core, ...). */
  feature: string;
  group?: string;
}

/** A parsed target description. */
export interface TargetDescription {
  architecture?: string;
  registers: RegisterInfo[];
  /** The feature names, in document order. */
  features: string[];
}

/** Reads one annex (target.xml, i386-64bit.xml, ...) and returns its whole text. */
export type AnnexReader = (annex: string) => Promise<string>;

/** A parsed element of the description: tag, attributes, children and text. */
interface Element {
  tag: string;
  attrs: Record<string, string>;
  children: Element[];
  text: string;
}

const XI_INCLUDE = 'xi:include';
// GDB's own parser ignores namespaces, and QEMU's target.xml uses xi:include without declaring the prefix, so a
// strict namespace-aware XML parser rejects it: this small tolerant reader accepts what GDB accepts.
const TOKEN = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)/gy;
const ATTR = /([A-Za-z_][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e] ?? '');
}

/** Parses one annex into its root element; throws VIGIL_GDB_PROTOCOL on malformed XML. */
export function parseXml(text: string, annex: string): Element {
  const bad = (why: string): VigilError => new VigilError('VIGIL_GDB_PROTOCOL', `target description ${annex} is not valid XML: ${why}`, { context: { annex } });
  const root: Element = { tag: '#document', attrs: {}, children: [], text: '' };
  const stack: Element[] = [root];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(text);
    if (m === null) throw bad(`unexpected text at offset ${at}`);
    const [, close, tag, attrText, selfClose, chars] = m;
    const top = stack[stack.length - 1] as Element;
    if (chars !== undefined) top.text += unescapeXml(chars);
    else if (tag === undefined) continue;
    else if (close === '/') {
      if (top.tag !== tag) throw bad(`</${tag}> closes <${top.tag}>`);
      stack.pop();
    } else {
      const attrs: Record<string, string> = {};
      for (const a of (attrText ?? '').matchAll(ATTR)) attrs[a[1] as string] = unescapeXml(a[2] ?? a[3] ?? '');
      const el: Element = { tag, attrs, children: [], text: '' };
      top.children.push(el);
      if (selfClose !== '/') stack.push(el);
    }
  }
  if (stack.length !== 1) throw bad(`<${(stack[stack.length - 1] as Element).tag}> is never closed`);
  const first = root.children[0];
  if (first === undefined) throw bad('no root element');
  return first;
}

/** Loads target.xml and every annex it includes; registers numbered as GDB numbers them (implicit regnum = previous + 1). */
export async function loadTargetDescription(read: AnnexReader, annex = 'target.xml'): Promise<TargetDescription> {
  const desc: TargetDescription = { registers: [], features: [] };
  let next = 0;
  const seen = new Set<string>();

  const visitFeature = (feature: Element): void => {
    const fname = feature.attrs.name ?? '';
    desc.features.push(fname);
    for (const el of feature.children) {
      if (el.tag !== 'reg') continue;
      const name = el.attrs.name;
      const bits = Number(el.attrs.bitsize);
      if (name === undefined || !Number.isInteger(bits) || bits <= 0) {
        throw new VigilError('VIGIL_GDB_PROTOCOL', `register without a name or bitsize in feature ${fname}`, { context: { feature: fname } });
      }
      const rn = el.attrs.regnum;
      const regnum = rn === undefined || rn === '' ? next : Number(rn);
      next = regnum + 1;
      const group = el.attrs.group;
      desc.registers.push({ name, regnum, bitsize: bits, type: el.attrs.type ?? 'int', feature: fname, ...(group ? { group } : {}) });
    }
  };

  const visit = async (el: Element): Promise<void> => {
    if (el.tag === 'architecture') desc.architecture = el.text.trim();
    else if (el.tag === 'feature') visitFeature(el);
    else if (el.tag === XI_INCLUDE) {
      const href = el.attrs.href;
      if (href === undefined || seen.has(href)) return;
      seen.add(href);
      await visit(parseXml(await read(href), href));
    } else if (el.tag === 'target') for (const c of el.children) await visit(c);
  };

  seen.add(annex);
  await visit(parseXml(await read(annex), annex));
  desc.registers.sort((a, b) => a.regnum - b.regnum);
  return desc;
}
