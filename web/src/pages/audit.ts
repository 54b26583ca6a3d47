/** The audit log with filters (the API's own) and the hash chain's verification status (`verify=true`). */
import { api } from '../api.js';
import type { Page } from '../context.js';
import { flash, h, replace } from '../dom.js';

interface Row {
  seq: number;
  time: string;
  kind: string;
  vm: string;
  principal: string;
  command: string;
  class: string;
  outcome: string;
  reason: string;
  error: string | null;
}
interface Verification {
  ok: boolean;
  rows: number;
  head: string;
  problems: { seq: number; problem: string; detail: string }[];
}

const FILTERS: [string, string, string][] = [
  ['vm', 'VM', 'text'],
  ['kind', 'Kind', 'text'],
  ['outcome', 'Outcome', 'text'],
  ['principal', 'Principal', 'text'],
  ['command', 'Command', 'text'],
  ['class', 'Class', 'text'],
  ['pattern', 'Pattern (regex)', 'text'],
  ['since', 'Since', 'datetime-local'],
  ['until', 'Until', 'datetime-local'],
  ['limit', 'Limit', 'number'],
];

/** #/audit */
export const auditPage: Page = async (main) => {
  const inputs = new Map(FILTERS.map(([key, , type]) => [key, h('input', { id: `a-${key}`, name: key, type, ...(key === 'limit' ? { value: '100', min: '1', max: '10000' } : {}) })]));
  const verify = h('div', { id: 'audit-verify', role: 'status', 'aria-live': 'polite' });
  const body = h('tbody', {});
  const count = h('p', { class: 'help', id: 'audit-count' });

  const load = async (): Promise<void> => {
    const q = new URLSearchParams({ verify: 'true' });
    for (const [key, input] of inputs) {
      const v = input.value.trim();
      if (!v) continue;
      q.set(key, input.type === 'datetime-local' ? new Date(v).toISOString() : v);
    }
    const { entries, verification } = await api<{ entries: Row[]; verification: Verification }>('GET', `/audit?${q.toString()}`);
    replace(
      verify,
      verification.ok
        ? h('p', { class: 'badge ok' }, `Chain verified: ${verification.rows} rows intact (head ${verification.head.slice(0, 12)}…)`)
        : h('p', { class: 'badge bad' }, `Chain BROKEN: ${verification.problems.length} problem(s): ${verification.problems.map((p) => `row ${p.seq}: ${p.problem} (${p.detail})`).join('; ')}`),
    );
    count.textContent = `${entries.length} entries (newest first).`;
    replace(
      body,
      ...entries
        .slice()
        .reverse()
        .map((r) =>
          h(
            'tr',
            { class: `outcome-${r.outcome}` },
            h('td', { 'data-label': '#' }, r.seq),
            h('td', { 'data-label': 'Time' }, h('time', { datetime: r.time }, new Date(r.time).toLocaleString())),
            h('td', { 'data-label': 'Kind' }, r.kind),
            h('td', { 'data-label': 'VM' }, r.vm),
            h('td', { 'data-label': 'Principal', class: 'mono' }, r.principal),
            h('td', { 'data-label': 'Command' }, r.command),
            h('td', { 'data-label': 'Outcome' }, r.outcome),
            h('td', { 'data-label': 'Reason' }, r.reason, r.error ? ` (${r.error})` : ''),
          ),
        ),
    );
  };
  const form = h(
    'form',
    {
      id: 'audit-filters',
      class: 'card filters',
      'aria-label': 'Filters',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void load().catch((err: unknown) => flash((err as Error).message));
      },
    },
    ...FILTERS.map(([key, label]) => h('div', { class: 'field' }, h('label', { for: `a-${key}` }, label), inputs.get(key))),
    h('button', { type: 'submit', class: 'primary' }, 'Apply'),
  );
  replace(
    main,
    h('h1', {}, 'Audit log'),
    verify,
    form,
    count,
    h(
      'div',
      { class: 'table-wrap' },
      h('table', { class: 'list', id: 'audit-table' }, h('thead', {}, h('tr', {}, ...['#', 'Time', 'Kind', 'VM', 'Principal', 'Command', 'Outcome', 'Reason'].map((c) => h('th', { scope: 'col' }, c)))), body),
    ),
  );
  await load();
};
