/**
 * A VM's Stats section (GET /vms/:id/stats, ReadOnly and up): uptime, QEMU's CPU use (from the CPU seconds
 * between two reads) and RSS, disk I/O per device, tap NIC counters and the latest health check; refreshed
 * every few seconds while the page is open.
 */
import { api, ApiError } from '../api.js';
import { formatDuration, h, replace } from '../dom.js';
import { formatBytes } from './images.js';

interface Stats {
  state: string;
  uptimeSec: number | null;
  qemuStatus?: string;
  process?: { cpuSeconds: number; rssBytes: number; state: string; threads: number };
  disks: { device: string; node: string; readBytes: number; writeBytes: number; readOps: number; writeOps: number; flushOps: number }[];
  nics: { id: string; ifname: string; guestRxBytes: number; guestTxBytes: number }[];
  errors: string[];
  health?: { healthy: boolean; checkedAt: string; guest: string; reasons: string[]; failures: number; qmp: { ok: boolean; ms: number } };
}

/** How often the section refreshes. */
export const STATS_MS = 3000;

/** The section and its refresh; the caller clears the timer when the page is left. */
export function statsSection(vmId: string): { el: HTMLElement; refresh: () => Promise<void> } {
  const facts = h('dl', { class: 'facts', id: 'stats-facts' });
  const disks = h('div', { id: 'stats-disks' });
  const note = h('p', { class: 'help', id: 'stats-note' });
  let last: { at: number; cpu: number } | undefined;
  let cpuText = 'measuring…';

  const refresh = async (): Promise<void> => {
    let s: Stats;
    try {
      s = await api<Stats>('GET', `/vms/${encodeURIComponent(vmId)}/stats`);
    } catch (err) {
      note.textContent = `Stats unavailable: ${err instanceof ApiError ? err.message : String(err)}`;
      return;
    }
    const now = performance.now();
    let cpu = '—';
    if (s.process) {
      // A rate over at least a second: an extra refresh (after a state change) would only add noise.
      if (!last) last = { at: now, cpu: s.process.cpuSeconds };
      else if (now - last.at >= 1000) {
        cpuText = `${((((s.process.cpuSeconds - last.cpu) * 1000) / (now - last.at)) * 100).toFixed(0)} % of one core`;
        last = { at: now, cpu: s.process.cpuSeconds };
      }
      cpu = `${cpuText} (${s.process.cpuSeconds.toFixed(1)} s in total)`;
    } else {
      last = undefined;
      cpuText = 'measuring…';
    }
    const health = s.health ? (s.health.healthy ? 'healthy' : `unhealthy: ${s.health.reasons.join('; ')}`) + ` (guest ${s.health.guest}, checked ${new Date(s.health.checkedAt).toLocaleTimeString()})` : 'no check yet';
    replace(
      facts,
      ...(
        [
          ['State', s.qemuStatus ? `${s.state} (QEMU: ${s.qemuStatus})` : s.state],
          ['Uptime', s.uptimeSec === null ? '—' : formatDuration(s.uptimeSec)],
          ['CPU', cpu],
          ['RSS', s.process ? formatBytes(s.process.rssBytes) : '—'],
          ['Threads', s.process ? String(s.process.threads) : '—'],
          ['Health', health],
          ...s.nics.map((n) => [`NIC ${n.id} (${n.ifname})`, `received ${formatBytes(n.guestRxBytes)}, sent ${formatBytes(n.guestTxBytes)}`] as const),
        ] as const
      ).flatMap(([k, v]) => [h('dt', {}, k), h('dd', { 'data-stat': k }, v)]),
    );
    replace(
      disks,
      s.disks.length === 0
        ? null
        : h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'list' },
              h('caption', { class: 'sr-only' }, 'Disk I/O'),
              h('thead', {}, h('tr', {}, ...['Disk', 'Read', 'Written', 'Read ops', 'Write ops', 'Flushes'].map((c) => h('th', { scope: 'col' }, c)))),
              h(
                'tbody',
                {},
                ...s.disks.map((d) =>
                  h(
                    'tr',
                    { 'data-disk': d.device || d.node },
                    h('th', { scope: 'row', 'data-label': 'Disk' }, d.device || d.node),
                    h('td', { 'data-label': 'Read' }, formatBytes(d.readBytes)),
                    h('td', { 'data-label': 'Written' }, formatBytes(d.writeBytes)),
                    h('td', { 'data-label': 'Read ops' }, d.readOps),
                    h('td', { 'data-label': 'Write ops' }, d.writeOps),
                    h('td', { 'data-label': 'Flushes' }, d.flushOps),
                  ),
                ),
              ),
            ),
          ),
    );
    note.textContent = `${s.errors.length > 0 ? `Some numbers missing: ${s.errors.join('; ')}. ` : ''}Updated ${new Date().toLocaleTimeString()}, every ${STATS_MS / 1000} s.`;
  };

  const el = h('section', { class: 'card', id: 'stats', 'aria-labelledby': 'stats-h' }, h('h2', { id: 'stats-h' }, 'Stats'), facts, disks, note);
  return { el, refresh };
}
