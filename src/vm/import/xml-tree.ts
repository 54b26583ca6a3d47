/**
 * A parsed XML document whose elements remember which of their attributes and children an importer used, so
 * that whatever was not carried over can be listed afterwards with an XPath-like location. An importer that
 * forgets a case still reports it: nothing is dropped without a line in the list.
 */
import { DOMParser, type Element, type Node } from '@xmldom/xmldom';
import { VigilError } from '../../core/errors.js';

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const CDATA_SECTION_NODE = 4;

/** Something an importer could not carry over: where it is and why. */
export interface SkippedEntry {
  /** XPath-like location: `/domain/devices/disk[2]/driver/@io`. */
  path: string;
  reason: string;
}

/** One element of a parsed document, with a record of what has been used. */
export class TrackedElement {
  readonly children: TrackedElement[] = [];
  private readonly usedAttrs = new Set<string>();
  private used = false;
  private settled = false;

  constructor(
    readonly name: string,
    readonly path: string,
    /** Position in document order, to list skipped parts in the order they appear in the file. */
    readonly order: number,
    private readonly attrs: ReadonlyMap<string, string>,
    private readonly textContent: string,
  ) {}

  /** The attribute's value, or undefined when absent; marks the attribute and the element used. */
  attr(name: string): string | undefined {
    this.used = true;
    this.usedAttrs.add(name);
    return this.attrs.get(name);
  }

  /** The attribute's value without marking it used. */
  peek(name: string): string | undefined {
    return this.attrs.get(name);
  }

  /** Marks attributes (and the element) used without reading them: values accepted silently. */
  accept(...names: string[]): this {
    this.used = true;
    for (const n of names) this.usedAttrs.add(n);
    return this;
  }

  /** The trimmed text directly inside the element; reading it marks the element used. */
  text(): string {
    this.used = true;
    return this.textContent;
  }

  /** Marks the element itself used; its attributes and children are still checked. */
  use(): this {
    this.used = true;
    return this;
  }

  /** Marks the element and everything inside it as accounted for (mapped whole, skipped or ignored). */
  settle(): void {
    this.settled = true;
    this.used = true;
  }

  /** True once `settle()` was called. */
  get isSettled(): boolean {
    return this.settled;
  }

  /** True once the element was used, read or settled. */
  get isUsed(): boolean {
    return this.used;
  }

  /** The child elements with this name (all children when no name is given). */
  all(name?: string): TrackedElement[] {
    return name === undefined ? this.children : this.children.filter((c) => c.name === name);
  }

  /** The first child element with this name, marked used. */
  first(name: string): TrackedElement | undefined {
    return this.children.find((c) => c.name === name)?.use();
  }

  /** The text of the first child with this name (marking it used), or undefined. */
  childText(name: string): string | undefined {
    return this.children.find((c) => c.name === name)?.text();
  }

  /** Attribute names in document order. */
  get attributeNames(): string[] {
    return [...this.attrs.keys()];
  }

  /** Everything under this element that was never used: elements not looked at, attributes not read. */
  leftovers(): { path: string; order: number; element?: TrackedElement; attribute?: { name: string; value: string } }[] {
    if (this.settled) return [];
    if (!this.used) return [{ path: this.path, order: this.order, element: this }];
    const out: ReturnType<TrackedElement['leftovers']> = [];
    for (const [name, value] of this.attrs) {
      // Namespace declarations carry nothing of their own; the prefixed elements they serve are reported.
      if (this.usedAttrs.has(name) || name === 'xmlns' || name.startsWith('xmlns:')) continue;
      out.push({ path: `${this.path}/@${name}`, order: this.order, attribute: { name, value } });
    }
    for (const child of this.children) out.push(...child.leftovers());
    return out;
  }
}

function directText(el: Element): string {
  let text = '';
  for (let n: Node | null = el.firstChild; n !== null; n = n.nextSibling) {
    if (n.nodeType === TEXT_NODE || n.nodeType === CDATA_SECTION_NODE) text += n.nodeValue ?? '';
  }
  return text.trim();
}

function track(el: Element, path: string, counter: { n: number }): TrackedElement {
  const attrs = new Map(Array.from(el.attributes, (a) => [a.name, a.value] as const));
  const node = new TrackedElement(el.nodeName, path, counter.n++, attrs, directText(el));
  const elements: Element[] = [];
  for (let n: Node | null = el.firstChild; n !== null; n = n.nextSibling) if (n.nodeType === ELEMENT_NODE) elements.push(n as Element);
  const total = new Map<string, number>();
  for (const c of elements) total.set(c.nodeName, (total.get(c.nodeName) ?? 0) + 1);
  const seen = new Map<string, number>();
  for (const c of elements) {
    const i = (seen.get(c.nodeName) ?? 0) + 1;
    seen.set(c.nodeName, i);
    // XPath indexes count same-named siblings; an index on an only child is noise.
    const step = (total.get(c.nodeName) ?? 1) > 1 ? `${c.nodeName}[${i}]` : c.nodeName;
    node.children.push(track(c, `${path}/${step}`, counter));
  }
  return node;
}

/** Parses XML text strictly; a malformed document throws VIGIL_INVALID_INPUT naming `source:line:column`. */
export function parseTrackedXml(text: string, source: string): TrackedElement {
  let problem: { message: string; line?: number; column?: number } | undefined;
  let doc;
  try {
    doc = new DOMParser({
      // Warnings too: xmldom "repairs" things like unquoted attributes, and a guess is worse than a clear error.
      onError: (_level, message, context: { locator?: { lineNumber?: number; columnNumber?: number } } | undefined) => {
        problem ??= { message, ...(context?.locator?.lineNumber ? { line: context.locator.lineNumber } : {}), ...(context?.locator?.columnNumber ? { column: context.locator.columnNumber } : {}) };
        throw new Error(message);
      },
    }).parseFromString(text, 'text/xml');
  } catch (err) {
    const where = problem?.line !== undefined ? `${source}:${problem.line}${problem.column !== undefined ? `:${problem.column}` : ''}` : source;
    const message = problem?.message ?? (err instanceof Error ? err.message : String(err));
    throw new VigilError('VIGIL_INVALID_INPUT', `${where}: not well-formed XML: ${message}`, {
      cause: err,
      context: { file: source, ...(problem?.line !== undefined ? { line: problem.line } : {}) },
    });
  }
  const root = doc.documentElement;
  if (root === null) throw new VigilError('VIGIL_INVALID_INPUT', `${source}: the XML document has no root element`, { context: { file: source } });
  return track(root, `/${root.nodeName}`, { n: 0 });
}
