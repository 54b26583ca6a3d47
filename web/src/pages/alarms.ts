/**
 * Host alarms: the host agent's monitors, the alarm history (from the audit log, newest first) with new alarms
 * and action outcomes arriving live over `host` events, the listening ports against the allowlist, and (host
 * admin) the configured lockdowns, each run only after a confirmation step.
 */
import { api, ApiError } from '../api.js';
import type { Page } from '../context.js';
import { h, replace } from '../dom.js';

interface AgentStatus {
  running: boolean;
  honeypots: { name: string; address: string; port: number }[];
  canaries: { name: string; path: string; exists: boolean }[];
  ports: { watching: boolean; listeners: number };
  fim: { watching: boolean; watches: number; error?: string };
  lockdowns: string[];
}
interface Listener {
  proto: 'tcp' | 'udp';
  family: 4 | 6;
  address: string;
  port: number;
  uid: number;
  user: string;
  processes: { pid: number; name: string; cmdline: string }[];
  allowed: boolean;
  allowedBy?: string;
}
interface Outcome {
  action: string;
  lockdown?: string;
  outcome: string;
  elapsedMs: number;
  error?: string;
}
interface Alarm {
  id: string;
  time: string;
  source: string;
  name: string;
  summary: string;
  /** `note`: a follow-up fact (a honeypot's captured bytes) that runs no actions. */
  note: boolean;
  outcomes: Outcome[];
}
interface AuditRow {
  time: string;
  command: string;
  args: Record<string, unknown>;
  outcome: string;
  reason: string;
  error: string | null;
  durationMs: number;
}

/** How many audit rows of kind host the history reads. */
const HISTORY_ROWS = 1000;

function ms(n: number): string {
  return n < 10 ? `${n.toFixed(1)} ms` : `${Math.round(n)} ms`;
}

function notice(id: string, title: string, text: string, status?: number): HTMLElement {
  return h('div', { class: 'card notice error', id, role: 'alert', 'data-status': status }, h('p', {}, h('strong', {}, `${title}. `), text));
}

/** What a refusal of GET /host/agent means for the person looking. */
function explain(err: unknown): HTMLElement {
  if (err instanceof ApiError && err.status === 403) {
    return notice(
      'alarms-error',
      'Host admin or auditor role needed',
      'Host alarms describe the whole host (honeypots, files, listening ports, lockdowns), so the API shows them to host admins and auditors only. Your key has neither host role: ask a host admin to give you the auditor role (PUT /principals/<address> with {"hostRole": "auditor"}) to read them.',
      403,
    );
  }
  if (err instanceof ApiError && err.status === 404) return notice('alarms-error', 'No host agent', `${err.message}.`, 404);
  return notice('alarms-error', 'Could not read the host agent', err instanceof Error ? err.message : String(err));
}

/** Builds the alarms (oldest first) from audit rows: `alarm <source>` rows open one, `action <type>` rows add to it. */
function fromAudit(rows: AuditRow[]): Map<string, Alarm> {
  const alarms = new Map<string, Alarm>();
  for (const r of rows) {
    const id = typeof r.args.alarmId === 'string' ? r.args.alarmId : undefined;
    if (!id) continue;
    if (r.command.startsWith('alarm ')) {
      const prev = alarms.get(id);
      alarms.set(id, { id, time: r.time, source: r.command.slice(6), name: typeof r.args.name === 'string' ? r.args.name : '', summary: r.reason, note: r.outcome === 'note', outcomes: prev?.outcomes ?? [] });
    } else if (r.command.startsWith('action ')) {
      const alarm = alarms.get(id);
      if (!alarm) continue;
      alarm.outcomes.push({
        action: r.command.slice(7),
        ...(typeof r.args.lockdown === 'string' ? { lockdown: r.args.lockdown } : {}),
        outcome: r.outcome,
        elapsedMs: r.durationMs,
        ...(r.error ? { error: r.error } : {}),
      });
    }
  }
  return alarms;
}

function outcomeItem(o: Outcome): HTMLElement {
  return h(
    'li',
    { 'data-action': o.action, 'data-outcome': o.outcome },
    h('strong', {}, o.action),
    o.lockdown ? ` (lockdown ${o.lockdown})` : '',
    ': ',
    h('span', { class: `outcome outcome-${o.outcome}` }, o.outcome),
    ` in ${ms(o.elapsedMs)}`,
    o.error ? ` — ${o.error}` : '',
  );
}

function alarmItem(a: Alarm): HTMLElement {
  return h(
    'li',
    { class: 'card alarm', 'data-alarm-id': a.id, 'data-source': a.source, 'data-name': a.name },
    h(
      'p',
      { class: 'alarm-head' },
      h('span', { class: a.source === 'lockdown' ? 'badge' : 'badge bad' }, a.source),
      ' ',
      h('strong', {}, a.name),
      ' · ',
      h('time', { datetime: a.time }, new Date(a.time).toLocaleString()),
      a.note ? h('span', { class: 'badge' }, 'note') : null,
    ),
    h('p', { class: 'alarm-summary' }, a.summary),
    a.note
      ? null
      : a.outcomes.length
        ? h('ul', { class: 'alarm-actions', 'aria-label': `Actions for ${a.name}` }, ...a.outcomes.map(outcomeItem))
        : h('p', { class: 'help' }, 'No action outcome recorded yet.'),
  );
}

function monitorsView(s: AgentStatus): HTMLElement {
  return h(
    'dl',
    { class: 'facts', id: 'alarms-monitors' },
    h('dt', {}, 'Agent'),
    h('dd', { 'data-fact': 'agent' }, s.running ? 'running' : 'not running'),
    h('dt', {}, 'Honeypots'),
    h('dd', { 'data-fact': 'honeypots' }, s.honeypots.length ? h('ul', { class: 'plain' }, ...s.honeypots.map((p) => h('li', { 'data-honeypot': p.name }, h('strong', {}, p.name), ` on ${p.address}:${p.port}`))) : 'none configured'),
    h('dt', {}, 'Canary files'),
    h(
      'dd',
      { 'data-fact': 'canaries' },
      s.canaries.length
        ? h('ul', { class: 'plain' }, ...s.canaries.map((c) => h('li', { 'data-canary': c.name }, h('strong', {}, c.name), ' ', h('span', { class: 'mono' }, c.path), ' ', h('span', { class: `badge ${c.exists ? 'ok' : 'bad'}` }, c.exists ? 'present' : 'missing'))))
        : 'none configured',
    ),
    h('dt', {}, 'Port watch'),
    h('dd', { 'data-fact': 'ports' }, s.ports.watching ? `watching (${s.ports.listeners} listeners at start)` : 'off'),
    h('dt', {}, 'File integrity watch'),
    h('dd', { 'data-fact': 'fim' }, s.fim.watching ? `watching ${s.fim.watches} path(s)` : 'off', s.fim.error ? h('span', { class: 'outcome-failed' }, ` — ${s.fim.error}`) : null),
    h('dt', {}, 'Lockdowns'),
    h('dd', { 'data-fact': 'lockdowns' }, s.lockdowns.length ? s.lockdowns.join(', ') : 'none configured'),
  );
}

function portsRows(listeners: Listener[]): HTMLElement[] {
  // Not-allowed sockets first: they are what the table is for.
  const sorted = [...listeners].sort((a, b) => Number(a.allowed) - Number(b.allowed) || a.proto.localeCompare(b.proto) || a.port - b.port);
  return sorted.map((l) =>
    h(
      'tr',
      { 'data-proto': l.proto, 'data-port': l.port, 'data-allowed': l.allowed ? 'true' : 'false', class: l.allowed ? undefined : 'flagged' },
      h('td', { 'data-label': 'Proto' }, `${l.proto}${l.family === 6 ? '6' : ''}`),
      h('td', { 'data-label': 'Address', class: 'mono' }, l.address),
      h('td', { 'data-label': 'Port' }, l.port),
      h('td', { 'data-label': 'User' }, l.user),
      h(
        'td',
        { 'data-label': 'Process' },
        l.processes.length ? l.processes.map((p, i) => h('span', { 'data-pid': p.pid, title: p.cmdline }, i ? ', ' : '', `${p.name} (pid ${p.pid})`)) : h('span', { class: 'help' }, 'not readable by vigild'),
      ),
      h('td', { 'data-label': 'Allowlist' }, l.allowed ? h('span', { class: 'badge ok' }, `allowed by ${l.allowedBy ?? 'the allowlist'}`) : h('span', { class: 'badge bad' }, 'NOT ALLOWED')),
    ),
  );
}

/** #/alarms */
export const alarmsPage: Page = async (main, ctx) => {
  const admin = ctx.session.hostRole === 'admin';
  let status: AgentStatus;
  try {
    status = await api<AgentStatus>('GET', '/host/agent');
  } catch (err) {
    replace(main, h('h1', {}, 'Host alarms'), explain(err));
    return;
  }

  const alarms = new Map<string, Alarm>();
  const list = h('ol', { id: 'alarms-list', class: 'alarms' });
  // Redrawing the list would make a live list re-read it all: new alarms are announced here, one line each.
  const announce = h('p', { id: 'alarms-announce', class: 'sr-only', role: 'status', 'aria-live': 'polite' });
  const count = h('p', { class: 'help', id: 'alarms-count' });
  const drawAlarms = (): void => {
    const newest = [...alarms.values()].sort((a, b) => b.time.localeCompare(a.time));
    replace(list, ...newest.map(alarmItem));
    count.textContent = newest.length ? `${newest.length} alarm(s), newest first; new ones appear here live.` : 'No alarm yet; new ones appear here live.';
  };
  // Live events arrive while the history loads: subscribe first, merge by alarm id.
  const pending = new Map<string, Outcome[]>();
  ctx.onLeave(
    ctx.events.on((e) => {
      if (e.type !== 'host') return;
      const data = e.data as { type?: string; alarm?: Omit<Alarm, 'note' | 'outcomes'> & { detail?: Record<string, unknown> }; outcome?: Outcome & { alarmId: string } };
      if (data.type === 'alarm' && data.alarm) {
        const a = data.alarm;
        if (alarms.has(a.id)) return;
        const alarm: Alarm = { id: a.id, time: a.time, source: a.source, name: a.name, summary: a.summary, note: a.detail?.phase === 'capture', outcomes: pending.get(a.id) ?? [] };
        pending.delete(a.id);
        alarms.set(a.id, alarm);
        announce.textContent = `New ${a.source} alarm: ${a.summary}`;
      } else if (data.type === 'action' && data.outcome) {
        const o = data.outcome;
        const target = alarms.get(o.alarmId);
        const out: Outcome = { action: o.action, outcome: o.outcome, elapsedMs: o.elapsedMs, ...(o.lockdown ? { lockdown: o.lockdown } : {}), ...(o.error ? { error: o.error } : {}) };
        if (target) target.outcomes.push(out);
        else pending.set(o.alarmId, [...(pending.get(o.alarmId) ?? []), out]);
      } else return;
      drawAlarms();
    }),
  );

  const portsBody = h('tbody', {});
  const portsSummary = h('p', { class: 'help', id: 'ports-summary', role: 'status' });
  const loadPorts = async (): Promise<void> => {
    try {
      const { listeners } = await api<{ listeners: Listener[] }>('GET', '/host/ports');
      replace(portsBody, ...portsRows(listeners));
      const bad = listeners.filter((l) => !l.allowed).length;
      portsSummary.textContent = `${listeners.length} listening socket(s), ${bad} not allowed by host.ports.allow. Read at ${new Date().toLocaleTimeString()}.`;
    } catch (err) {
      portsSummary.textContent = `Could not list the ports: ${err instanceof Error ? err.message : String(err)}`;
    }
  };

  const lockdownBox = h('div', { id: 'lockdowns' });
  const lockdownResult = h('div', { id: 'lockdown-result', role: 'status', 'aria-live': 'polite' });
  const lockdownControl = (name: string): HTMLElement => {
    const box = h('div', { class: 'lockdown', 'data-lockdown': name });
    const start = (): void => {
      const reasonId = `lockdown-reason-${name}`;
      const reason = h('input', { id: reasonId, type: 'text', maxlength: '500', placeholder: 'optional' });
      const confirmBtn = h('button', { type: 'button', class: 'danger', 'data-confirm': name }, `Confirm: run lockdown ${name}`);
      const cancel = h('button', { type: 'button', onclick: () => idle() }, 'Cancel');
      confirmBtn.addEventListener('click', () => {
        confirmBtn.disabled = true;
        cancel.disabled = true;
        lockdownResult.textContent = `Running lockdown ${name}…`;
        const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
        void api<{ alarm: { id: string }; outcomes: Outcome[] }>('POST', `/host/lockdown/${encodeURIComponent(name)}`, body)
          .then((r) => {
            const failed = r.outcomes.filter((o) => o.outcome !== 'ok').length;
            replace(
              lockdownResult,
              h('p', { class: `flash ${failed ? 'error' : 'info'}`, 'data-lockdown-done': name }, `Lockdown ${name}: ${r.outcomes.length} action(s), ${failed} not ok.`),
              h('ul', { class: 'alarm-actions' }, ...r.outcomes.map(outcomeItem)),
            );
          })
          .catch((err: unknown) => replace(lockdownResult, h('p', { class: 'flash error' }, `Lockdown ${name} failed: ${err instanceof Error ? err.message : String(err)}`)))
          .finally(() => idle());
      });
      replace(
        box,
        h(
          'div',
          {
            class: 'confirm',
            role: 'group',
            'aria-label': `Confirm lockdown ${name}`,
            onkeydown: (e: Event) => {
              if ((e as KeyboardEvent).key === 'Escape' && !confirmBtn.disabled) idle();
            },
          },
          h('p', {}, h('strong', {}, `Run lockdown ${name}?`), ' Its actions run at once and are audited under your key. Escape or Cancel goes back.'),
          h('div', { class: 'field' }, h('label', { for: reasonId }, `Reason for ${name} (audited)`), reason),
          h('div', { class: 'buttons' }, confirmBtn, cancel),
        ),
      );
      confirmBtn.focus();
    };
    const idle = (): void => {
      const btn = h('button', { type: 'button', class: 'danger', 'data-lockdown-run': name, onclick: start }, `Lockdown ${name}…`);
      const focused = box.contains(document.activeElement);
      replace(box, btn);
      if (focused) btn.focus();
    };
    idle();
    return box;
  };
  replace(
    lockdownBox,
    status.lockdowns.length === 0
      ? h('p', {}, 'No lockdown is configured (host.lockdowns in config.yaml).')
      : admin
        ? h('div', { class: 'buttons' }, ...status.lockdowns.map(lockdownControl))
        : h('p', { class: 'help' }, `Configured: ${status.lockdowns.join(', ')}. Only a host admin can run a lockdown.`),
  );

  replace(
    main,
    h('h1', {}, 'Host alarms'),
    h('section', { class: 'card', 'aria-labelledby': 'mon-h' }, h('h2', { id: 'mon-h' }, 'Monitors'), monitorsView(status)),
    h('section', { class: 'card', 'aria-labelledby': 'lock-h' }, h('h2', { id: 'lock-h' }, 'Lockdowns'), lockdownBox, lockdownResult),
    h('section', { 'aria-labelledby': 'alarms-h', class: 'card-gap' }, h('h2', { id: 'alarms-h' }, 'Alarms'), count, announce, list),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'ports-h' },
      h('div', { class: 'title-row' }, h('h2', { id: 'ports-h' }, 'Listening ports'), h('button', { type: 'button', id: 'ports-refresh', onclick: () => void loadPorts() }, 'Refresh ports')),
      portsSummary,
      h(
        'div',
        { class: 'table-wrap' },
        h('table', { class: 'list', id: 'ports-table' }, h('thead', {}, h('tr', {}, ...['Proto', 'Address', 'Port', 'User', 'Process', 'Allowlist'].map((c) => h('th', { scope: 'col' }, c)))), portsBody),
      ),
    ),
  );

  const history = await api<{ entries: AuditRow[] }>('GET', `/audit?kind=host&limit=${HISTORY_ROWS}`).catch((err: unknown) => {
    count.textContent = `Could not read the alarm history: ${err instanceof Error ? err.message : String(err)}`;
    return { entries: [] };
  });
  for (const [id, a] of fromAudit(history.entries)) {
    const live = alarms.get(id);
    // The audit row holds every outcome written so far; live ones add only what it does not have yet.
    if (live) a.outcomes.push(...live.outcomes.slice(a.outcomes.length));
    alarms.set(id, a);
  }
  drawAlarms();
  await loadPorts();
};
