/**
 * A VM's Snapshots section: the list (ReadOnly and up), and for Managers a create form (with a name), restore
 * and delete, each after a confirmation where state is lost. The API decides when each applies (a memory
 * snapshot needs the VM running and a writable qcow2 disk); its refusal is shown as it gives it.
 */
import { api, ApiError, atLeast, type VmView } from '../api.js';
import { formatDuration, h, replace } from '../dom.js';
import { formatBytes } from './images.js';

interface Snapshot {
  name: string;
  kind: 'internal' | 'external';
  vmStateSize: number;
  date: string;
  vmClockSec: number;
}

interface SnapshotResult {
  name: string;
  ms: number;
  skipped: string[];
}

/** The section; `getVm` gives the VM as last loaded (its role and state). */
export function snapshotsSection(getVm: () => VmView): { el: HTMLElement; reload: () => Promise<void> } {
  const vmId = getVm().id;
  const base = `/vms/${encodeURIComponent(vmId)}/snapshots`;
  const body = h('tbody', {}, h('tr', {}, h('td', { colspan: 5 }, 'Loading…')));
  const status = h('p', { id: 'snap-status', role: 'status', 'aria-live': 'polite', class: 'help' });
  const listError = h('p', { id: 'snap-list-error', class: 'help' });
  let busy = false;
  const canManage = (): boolean => atLeast(getVm().role, 'Manager');

  const run = async (label: string, fn: () => Promise<unknown>): Promise<void> => {
    busy = true;
    status.textContent = `${label}…`;
    form?.querySelector('button')?.setAttribute('disabled', '');
    try {
      const r = (await fn()) as Partial<SnapshotResult>;
      const skipped = r.skipped && r.skipped.length > 0 ? ` Not covered: ${r.skipped.join(', ')}.` : '';
      status.textContent = `${label}: done${r.ms !== undefined ? ` in ${(r.ms / 1000).toFixed(1)} s` : ''}.${skipped}`;
    } catch (err) {
      status.textContent = `${label} failed: ${err instanceof ApiError ? err.message : String(err)}`;
    } finally {
      busy = false;
      form?.querySelector('button')?.removeAttribute('disabled');
      await reload();
    }
  };

  const reload = async (): Promise<void> => {
    let snaps: Snapshot[];
    try {
      snaps = (await api<{ snapshots: Snapshot[] }>('GET', base)).snapshots;
      listError.textContent = '';
    } catch (err) {
      // A VM without a qcow2 disk has no snapshots to list: the API says why.
      snaps = [];
      listError.textContent = err instanceof ApiError ? err.message : String(err);
    }
    const manage = canManage();
    replace(
      body,
      ...(snaps.length === 0
        ? [h('tr', {}, h('td', { colspan: manage ? 5 : 4 }, 'No snapshots.'))]
        : snaps.map((s) =>
            h(
              'tr',
              { 'data-snapshot': s.name },
              h('th', { scope: 'row', 'data-label': 'Name', class: 'mono' }, s.name),
              h('td', { 'data-label': 'Taken' }, h('time', { datetime: s.date }, new Date(s.date).toLocaleString())),
              h('td', { 'data-label': 'Kind' }, s.kind === 'internal' ? (s.vmStateSize > 0 ? 'memory and disks' : 'disks') : 'disk only (external)'),
              h('td', { 'data-label': 'Saved state' }, s.vmStateSize > 0 ? `${formatBytes(s.vmStateSize)}, guest up ${formatDuration(s.vmClockSec)}` : '—'),
              manage
                ? h(
                    'td',
                    { class: 'buttons' },
                    h(
                      'button',
                      {
                        type: 'button',
                        'data-restore': s.name,
                        'aria-label': `Restore snapshot ${s.name}`,
                        disabled: busy,
                        onclick: () => {
                          if (!confirm(`Restore '${s.name}'? The VM's current memory and disk state is lost.`)) return;
                          void run(`Restore ${s.name}`, () => api('POST', `${base}/${encodeURIComponent(s.name)}/restore`));
                        },
                      },
                      'Restore',
                    ),
                    h(
                      'button',
                      {
                        type: 'button',
                        class: 'danger',
                        'data-delete': s.name,
                        'aria-label': `Delete snapshot ${s.name}`,
                        disabled: busy,
                        onclick: () => {
                          if (!confirm(`Delete snapshot '${s.name}'?`)) return;
                          void run(`Delete ${s.name}`, () => api('DELETE', `${base}/${encodeURIComponent(s.name)}`));
                        },
                      },
                      'Delete',
                    ),
                  )
                : null,
            ),
          )),
    );
  };

  const name = h('input', { id: 'snap-name', spellcheck: 'false', placeholder: 'before-upgrade', pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}', 'aria-describedby': 'snap-name-help' });
  const form = canManage()
    ? h(
        'form',
        {
          id: 'snap-form',
          class: 'inline-form',
          onsubmit: (e: Event) => {
            e.preventDefault();
            const n = name.value.trim();
            void run(`Snapshot ${n || '(named by time)'}`, () => api('POST', base, n ? { name: n } : {})).then(() => (name.value = ''));
          },
        },
        h('div', {}, h('label', { for: 'snap-name' }, 'Snapshot name'), name, h('span', { class: 'help', id: 'snap-name-help' }, 'Letters, digits, . _ -; empty: named by the time. The VM must be running.')),
        h('button', { type: 'submit', class: 'primary' }, 'Take snapshot'),
      )
    : null;

  const el = h(
    'section',
    { class: 'card', id: 'snapshots', 'aria-labelledby': 'snapshots-h' },
    h('h2', { id: 'snapshots-h' }, 'Snapshots'),
    canManage() ? null : h('p', { class: 'help', id: 'snap-readonly' }, `Taking, restoring and deleting snapshots needs the Manager role; yours is ${getVm().role}.`),
    listError,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'list', id: 'snap-table' },
        h('thead', {}, h('tr', {}, ...['Name', 'Taken', 'Kind', 'Saved state'].map((c) => h('th', { scope: 'col' }, c)), canManage() ? h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')) : null)),
        body,
      ),
    ),
    form,
    status,
  );
  return { el, reload };
}
