/** A tiny element builder: the dashboard builds its DOM with this, never from HTML strings (no injection). */

type Child = Node | string | number | null | undefined | false;
type AttrValue = string | number | boolean | undefined | null | EventListener;

/** Creates `<tag>` with attributes (`on<event>` keys add listeners; false/null/undefined are skipped) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, AttrValue> = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === 'value' && 'value' in el) (el as HTMLInputElement).value = String(value);
    else if (key === 'checked' && el instanceof HTMLInputElement) el.checked = value === true;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children.flat());
  return el;
}

/** Appends children, skipping empty ones. */
export function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
}

/** Replaces an element's children. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A byte count in MiB as people read it. */
export function formatMiB(mib: number): string {
  return mib >= 1024 && mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`;
}

/** Seconds as `1d 2h`, `3h 4m`, `5m 6s`. */
export function formatDuration(sec: number): string {
  const s = Math.max(0, Math.floor(sec));
  const d = Math.floor(s / 86400);
  const hr = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${hr}h`;
  if (hr > 0) return `${hr}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s % 60}s`;
}

/** Shows a message in the page's alert region (errors stay until the next one; others fade). */
export function flash(message: string, kind: 'error' | 'info' = 'error'): void {
  const box = document.getElementById('flash');
  if (!box) return;
  replace(box, message ? h('p', { class: `flash ${kind}` }, message) : null);
  if (kind === 'info' && message) setTimeout(() => box.firstChild && box.replaceChildren(), 4000);
}
