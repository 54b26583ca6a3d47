/** The VM list: state, vCPUs, memory, uptime, autostart; live over /events (state changes refetch the list). */
import { api, type VmView } from '../api.js';
import type { Page } from '../context.js';
import { formatDuration, formatMiB, h, replace } from '../dom.js';

/** A state as a labelled badge. */
export function stateBadge(state: string): HTMLElement {
  return h('span', { class: `state state-${state}`, 'data-state': state }, state);
}

/** Uptime of a running VM from its start time. */
export function uptime(vm: Pick<VmView, 'state' | 'startedAt'>): string {
  if (!vm.startedAt || (vm.state !== 'running' && vm.state !== 'paused')) return '—';
  return formatDuration((Date.now() - Date.parse(vm.startedAt)) / 1000);
}

/** #/vms */
export const vmListPage: Page = async (main, ctx) => {
  const body = h('tbody', {});
  const table = h(
    'table',
    { id: 'vm-table', class: 'list' },
    h('caption', { class: 'sr-only' }, 'Virtual machines'),
    h('thead', {}, h('tr', {}, ...['Name', 'State', 'vCPUs', 'Memory', 'Uptime', 'Autostart', 'Your role'].map((c) => h('th', { scope: 'col' }, c)))),
    body,
  );
  let vms: VmView[] = [];
  const draw = (): void => {
    replace(
      body,
      ...(vms.length === 0
        ? [h('tr', {}, h('td', { colspan: 7 }, 'No VMs you have a role on. ', h('a', { href: '#/new' }, 'Define one')))]
        : vms.map((vm) =>
            h(
              'tr',
              { 'data-vm': vm.id },
              h('th', { scope: 'row', 'data-label': 'Name' }, h('a', { href: `#/vms/${encodeURIComponent(vm.id)}` }, vm.id)),
              h('td', { 'data-label': 'State', class: 'vm-state' }, stateBadge(vm.state), vm.needsRestart ? h('span', { class: 'note' }, ' restart pending') : null),
              h('td', { 'data-label': 'vCPUs' }, vm.cpus),
              h('td', { 'data-label': 'Memory' }, formatMiB(vm.memoryMiB)),
              h('td', { 'data-label': 'Uptime', class: 'uptime' }, uptime(vm)),
              h('td', { 'data-label': 'Autostart' }, vm.autostart ? 'yes' : 'no'),
              h('td', { 'data-label': 'Your role' }, vm.role),
            ),
          )),
    );
  };
  const load = async (): Promise<void> => {
    vms = (await api<{ vms: VmView[] }>('GET', '/vms')).vms;
    draw();
  };
  replace(
    main,
    h('div', { class: 'title-row' }, h('h1', {}, 'Virtual machines'), h('a', { class: 'button primary', href: '#/new', id: 'new-vm' }, 'New VM')),
    h('div', { class: 'table-wrap' }, table),
  );
  await load();
  let pending: ReturnType<typeof setTimeout> | undefined;
  ctx.onLeave(
    ctx.events.on((e) => {
      if (e.type !== 'vm-state') return;
      // Show the new state at once, then refetch for pid and start time (coalescing bursts).
      const vm = vms.find((v) => v.id === e.vm);
      if (vm && typeof e.data.to === 'string') {
        vm.state = e.data.to;
        draw();
      }
      if (pending) clearTimeout(pending);
      pending = setTimeout(() => void load().catch(() => undefined), 250);
    }),
  );
  // Only the uptime cells tick: redrawing rows would take the keyboard focus away.
  const tick = setInterval(() => {
    for (const vm of vms) {
      const cell = body.querySelector(`tr[data-vm="${CSS.escape(vm.id)}"] .uptime`);
      if (cell) cell.textContent = uptime(vm);
    }
  }, 1000);
  ctx.onLeave(() => {
    clearInterval(tick);
    if (pending) clearTimeout(pending);
  });
};
