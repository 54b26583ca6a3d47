/**
 * One VM: the life-cycle buttons the caller's role allows (the role is the API's, from the VM view), its
 * devices, the serial console, QMP events and state changes as they happen, and (Owner) the permissions editor.
 */
import { api, ApiError, atLeast, type VmView } from '../api.js';
import type { Page, PageContext } from '../context.js';
import { flash, formatMiB, h, replace } from '../dom.js';
import { stateBadge, uptime } from './vm-list.js';
import { snapshotsSection } from './vm-snapshots.js';
import { STATS_MS, statsSection } from './vm-stats.js';

type Verb = 'start' | 'stop' | 'force-stop' | 'restart' | 'pause' | 'resume' | 'reset';

const VERBS: { verb: Verb; label: string; when: readonly string[] }[] = [
  { verb: 'start', label: 'Start', when: ['defined', 'stopped', 'crashed'] },
  { verb: 'stop', label: 'Stop', when: ['running', 'paused'] },
  { verb: 'force-stop', label: 'Force stop', when: ['running', 'paused', 'stopping', 'starting'] },
  { verb: 'restart', label: 'Restart', when: ['running', 'paused'] },
  { verb: 'pause', label: 'Pause', when: ['running'] },
  { verb: 'resume', label: 'Resume', when: ['paused'] },
  { verb: 'reset', label: 'Reset', when: ['running', 'paused'] },
];

interface Grant {
  subject: string;
  role: string;
  grantedBy: string;
  grantedAt: string;
}

function section(id: string, title: string, ...children: (Node | string | null)[]): HTMLElement {
  return h('section', { class: 'card', id, 'aria-labelledby': `${id}-h` }, h('h2', { id: `${id}-h` }, title), ...children);
}

function devicesTable(def: Record<string, unknown>): HTMLElement {
  const rows: [string, string, string][] = [];
  type Item = Record<string, string | number | boolean | undefined>;
  const list = (key: string): Item[] => (Array.isArray(def[key]) ? (def[key] as Item[]) : []);
  const str = (v: string | number | boolean | undefined, fallback = ''): string => (v === undefined ? fallback : String(v));
  list('disks').forEach((d, i) => rows.push(['disk', str(d.id, `disk${i}`), str(d.file ?? d.device)]));
  list('nics').forEach((n, i) => rows.push(['nic', str(n.id, `net${i}`), [n.type, n.bridge ?? n.tap, n.mac].filter((x) => x !== undefined).map(String).join(' ')]));
  list('usb').forEach((u, i) => rows.push(['usb', str(u.id, `usb${i}`), [u.vendorId, u.productId, u.hostbus].filter((x) => x !== undefined).map(String).join(' ')]));
  list('pci').forEach((p, i) => rows.push(['pci', str(p.id, `pci${i}`), str(p.address)]));
  list('devices').forEach((d, i) => rows.push(['device', str(d.id, `dev${i}`), str(d.driver)]));
  if (rows.length === 0) return h('p', {}, 'No devices beyond the machine defaults.');
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'list', id: 'devices' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Kind'), h('th', { scope: 'col' }, 'Id'), h('th', { scope: 'col' }, 'Backing'))),
      h('tbody', {}, ...rows.map(([k, id, b]) => h('tr', {}, h('td', { 'data-label': 'Kind' }, k), h('td', { 'data-label': 'Id' }, id), h('td', { 'data-label': 'Backing' }, b)))),
    ),
  );
}

function permissionsEditor(id: string): HTMLElement {
  const body = h('tbody', {});
  const status = h('p', { role: 'status', class: 'help' });
  const load = async (): Promise<void> => {
    const { grants } = await api<{ grants: Grant[] }>('GET', `/vms/${encodeURIComponent(id)}/permissions`);
    replace(
      body,
      ...grants.map((g) =>
        h(
          'tr',
          {},
          h('td', { 'data-label': 'Subject', class: 'mono' }, g.subject),
          h('td', { 'data-label': 'Role' }, g.role),
          h(
            'td',
            {},
            h(
              'button',
              {
                type: 'button',
                'aria-label': `Revoke ${g.role} from ${g.subject}`,
                onclick: () =>
                  void api('DELETE', `/vms/${encodeURIComponent(id)}/permissions`, { subject: g.subject })
                    .then(load)
                    .catch((err: unknown) => (status.textContent = (err as Error).message)),
              },
              'Revoke',
            ),
          ),
        ),
      ),
    );
  };
  const subject = h('input', { id: 'grant-subject', required: true, placeholder: '0x… or team:name', spellcheck: 'false' });
  const role = h('select', { id: 'grant-role' }, ...['ReadOnly', 'Operator', 'Manager', 'Owner'].map((r) => h('option', { value: r }, r)));
  const form = h(
    'form',
    {
      class: 'inline-form',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void api('PUT', `/vms/${encodeURIComponent(id)}/permissions`, { subject: subject.value.trim(), role: role.value })
          .then(() => {
            subject.value = '';
            status.textContent = 'Granted.';
            return load();
          })
          .catch((err: unknown) => (status.textContent = (err as Error).message));
      },
    },
    h('label', { for: 'grant-subject' }, 'Subject'),
    subject,
    h('label', { for: 'grant-role' }, 'Role'),
    role,
    h('button', { type: 'submit' }, 'Grant'),
  );
  void load().catch((err: unknown) => (status.textContent = (err as Error).message));
  return section(
    'permissions',
    'Permissions',
    h('div', { class: 'table-wrap' }, h('table', { class: 'list' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Subject'), h('th', { scope: 'col' }, 'Role'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))), body)),
    form,
    status,
  );
}

async function act(id: string, verb: Verb): Promise<void> {
  const path = `/vms/${encodeURIComponent(id)}/${verb === 'force-stop' ? 'stop' : verb}`;
  await api('POST', path, verb === 'force-stop' ? { force: true } : verb === 'stop' ? { timeoutSec: 20 } : undefined);
}

/** #/vms/:id */
export const vmDetailPage: Page = async (main, ctx: PageContext, [id = '']) => {
  let vm = await api<VmView>('GET', `/vms/${encodeURIComponent(id)}`);
  const head = h('div', { class: 'title-row' });
  const summary = h('dl', { class: 'facts', id: 'facts' });
  const buttons = h('div', { id: 'lifecycle', class: 'buttons', role: 'group', 'aria-label': 'Life cycle' });
  const actStatus = h('p', { id: 'action-status', role: 'status', 'aria-live': 'polite', class: 'help' });
  const history = h('ol', { id: 'history', class: 'log' });
  const qmpEvents = h('ol', { id: 'qmp-events', class: 'log' }, h('li', { class: 'empty' }, 'No QMP events since this page opened.'));
  let busy = false;

  const drawHead = (): void => {
    replace(head, h('h1', {}, vm.id, ' ', stateBadge(vm.state)), h('span', { class: 'badge', id: 'role' }, `your role: ${vm.role}`));
    replace(
      summary,
      ...(
        [
          ['vCPUs', String(vm.cpus)],
          ['Memory', formatMiB(vm.memoryMiB)],
          ['Uptime', uptime(vm)],
          ['Autostart', vm.autostart ? 'yes' : 'no'],
          ['PID', vm.pid ? String(vm.pid) : '—'],
          ['Tags', vm.tags.join(', ') || '—'],
          ['Restart pending', vm.needsRestart ? 'yes' : 'no'],
        ] as const
      ).flatMap(([k, v]) => [h('dt', {}, k), h('dd', { class: k === 'Uptime' ? 'uptime' : undefined }, v)]),
    );
    if (!atLeast(vm.role, 'Operator')) {
      replace(buttons, h('p', { class: 'help', id: 'no-lifecycle' }, `Your role (${vm.role}) allows no life-cycle actions.`));
      return;
    }
    replace(
      buttons,
      ...VERBS.map(({ verb, label, when }) =>
        h(
          'button',
          {
            type: 'button',
            'data-verb': verb,
            class: verb === 'start' ? 'primary' : verb === 'force-stop' ? 'danger' : undefined,
            disabled: busy || !when.includes(vm.state),
            onclick: () => {
              busy = true;
              actStatus.textContent = `${label}…`;
              drawHead();
              void act(vm.id, verb)
                .then(() => (actStatus.textContent = `${label}: done.`))
                .catch((err: unknown) => {
                  actStatus.textContent = '';
                  flash(err instanceof ApiError ? `${label} failed: ${err.message}` : String(err));
                })
                .finally(() => {
                  busy = false;
                  void reload();
                });
            },
          },
          label,
        ),
      ),
      atLeast(vm.role, 'Owner')
        ? h(
            'button',
            {
              type: 'button',
              class: 'danger',
              'data-verb': 'delete',
              disabled: busy,
              onclick: () => {
                if (!confirm(`Delete VM '${vm.id}'? It is stopped first; its disks are kept.`)) return;
                void api('DELETE', `/vms/${encodeURIComponent(vm.id)}?force=true`)
                  .then(() => (location.hash = '#/vms'))
                  .catch((err: unknown) => flash(String((err as Error).message)));
              },
            },
            'Delete',
          )
        : null,
    );
  };
  const drawHistory = (): void => {
    replace(history, ...(vm.history ?? []).slice().reverse().map((e) => h('li', {}, h('time', { datetime: e.time }, new Date(e.time).toLocaleTimeString()), ` ${e.from} → ${e.to}`, e.reason ? ` (${e.reason})` : '')));
  };
  const reload = async (): Promise<void> => {
    vm = await api<VmView>('GET', `/vms/${encodeURIComponent(id)}`);
    drawHead();
    drawHistory();
  };
  drawHead();
  drawHistory();

  const consoleBox = h('div', { id: 'console', class: 'console' });
  const consoleSection = atLeast(vm.role, 'Operator')
    ? section(
        'serial',
        'Serial console',
        h(
          'button',
          {
            type: 'button',
            id: 'open-console',
            onclick: (e: Event) => {
              (e.currentTarget as HTMLButtonElement).disabled = true;
              // xterm.js is most of the bundle: load it only when a console is opened.
              void import('../console.js').then(({ openConsole }) => ctx.onLeave(openConsole(consoleBox, vm.id)));
            },
          },
          'Connect',
        ),
        consoleBox,
      )
    : null;

  const stats = statsSection(vm.id);
  const snapshots = snapshotsSection(() => vm);
  replace(
    main,
    h('p', {}, h('a', { href: '#/vms' }, '← VMs')),
    head,
    buttons,
    actStatus,
    atLeast(vm.role, 'Owner') ? h('p', {}, h('a', { href: `#/vms/${encodeURIComponent(vm.id)}/introspection`, id: 'introspect-link' }, 'Processes, kernel and modules inside this VM')) : null,
    section('summary', 'Summary', summary),
    stats.el,
    snapshots.el,
    section('devices-card', 'Devices', devicesTable(vm.definition ?? {})),
    consoleSection,
    section('events-card', 'QMP events', qmpEvents),
    section('history-card', 'State changes', history),
    atLeast(vm.role, 'Owner') ? permissionsEditor(vm.id) : null,
  );

  ctx.onLeave(
    ctx.events.on((e) => {
      if (e.vm !== vm.id) return;
      if (e.type === 'vm-state') {
        void reload().catch(() => undefined);
        void stats.refresh();
        void snapshots.reload();
      }
      if (e.type === 'qmp-event') {
        qmpEvents.querySelector('.empty')?.remove();
        const ev = e.data as { event?: string; data?: unknown };
        qmpEvents.prepend(h('li', {}, h('time', { datetime: e.time }, new Date(e.time).toLocaleTimeString()), ' ', h('strong', {}, ev.event ?? '?'), ev.data ? ` ${JSON.stringify(ev.data)}` : ''));
        while (qmpEvents.children.length > 100) qmpEvents.lastElementChild?.remove();
      }
    }),
  );
  const tick = setInterval(() => {
    const cell = summary.querySelector('.uptime');
    if (cell) cell.textContent = uptime(vm);
  }, 1000);
  ctx.onLeave(() => clearInterval(tick));
  void stats.refresh();
  void snapshots.reload();
  const statsTimer = setInterval(() => void stats.refresh(), STATS_MS);
  ctx.onLeave(() => clearInterval(statsTimer));
};
