/**
 * The kill switch: one large engage/release control (host admin), the state live from `killswitch` events, the
 * last trigger with its timings, and each VM's device outcomes from the last report.
 */
import { api, ApiError } from '../api.js';
import type { Page } from '../context.js';
import { flash, h, replace } from '../dom.js';

interface DeviceOutcome {
  device: { deviceId: string; kind: string; action: string };
  outcome: string;
  elapsedMs: number;
  error?: string;
}
interface VmOutcome {
  vmName: string;
  notRunning?: boolean;
  safe: boolean;
  elapsedMs: number;
  monitor?: string;
  devices: DeviceOutcome[];
  escalated: { step: string; ok: boolean; atMs: number }[];
  error?: string;
}
interface Report {
  action: 'engage' | 'release';
  trigger: { source: string; principal?: string; detail?: string };
  startedAt: string;
  elapsedMs: number;
  vms: VmOutcome[];
  error?: string;
  unrestored?: string[];
}
interface Status {
  state: 'armed' | 'engaging' | 'engaged' | 'releasing';
  inFlight: string | null;
  trigger: { source: string; principal?: string; detail?: string } | null;
  report: Report | null;
  updatedAt: string;
  plan: { vms: { vmName: string; devices: { deviceId: string; action: string }[]; problem?: string }[] };
}

/** Milliseconds as people read them (the report keeps sub-millisecond precision). */
function ms(n: number): string {
  return n < 10 ? `${n.toFixed(1)} ms` : `${Math.round(n)} ms`;
}

function reportView(report: Report | null): HTMLElement {
  if (!report) return h('p', { id: 'ks-report' }, 'The kill switch has not been used yet.');
  const t = report.trigger;
  return h(
    'div',
    { id: 'ks-report' },
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Last action'),
      h('dd', { id: 'ks-last-action' }, report.action),
      h('dt', {}, 'Trigger'),
      h('dd', {}, [t.source, t.principal, t.detail].filter(Boolean).join(' · ')),
      h('dt', {}, 'Started'),
      h('dd', {}, h('time', { datetime: report.startedAt }, new Date(report.startedAt).toLocaleString())),
      h('dt', {}, 'Took'),
      h('dd', { id: 'ks-elapsed' }, ms(report.elapsedMs)),
    ),
    report.error ? h('p', { class: 'flash error' }, report.error) : null,
    report.unrestored?.length ? h('p', { class: 'flash error' }, `Not restored: ${report.unrestored.join('; ')}`) : null,
    ...report.vms.map((vm) =>
      h(
        'section',
        { class: 'vm-outcome', 'data-vm': vm.vmName, 'aria-label': `Outcome for ${vm.vmName}` },
        h('h3', {}, vm.vmName, ' ', h('span', { class: `badge ${vm.safe ? 'ok' : 'bad'}` }, vm.notRunning ? 'not running' : vm.safe ? 'safe' : 'NOT SAFE'), ` ${ms(vm.elapsedMs)}`, vm.monitor ? ` · monitor ${vm.monitor}` : ''),
        vm.error ? h('p', { class: 'flash error' }, vm.error) : null,
        vm.devices.length
          ? h(
              'div',
              { class: 'table-wrap' },
              h(
                'table',
                { class: 'list' },
                h('thead', {}, h('tr', {}, ...['Device', 'Action', 'Outcome', 'Time'].map((c) => h('th', { scope: 'col' }, c)))),
                h(
                  'tbody',
                  {},
                  ...vm.devices.map((d) =>
                    h(
                      'tr',
                      { 'data-device': d.device.deviceId },
                      h('td', { 'data-label': 'Device' }, d.device.deviceId),
                      h('td', { 'data-label': 'Action' }, d.device.action),
                      h('td', { 'data-label': 'Outcome', class: `outcome outcome-${d.outcome}` }, d.outcome, d.error ? ` (${d.error})` : ''),
                      h('td', { 'data-label': 'Time' }, ms(d.elapsedMs)),
                    ),
                  ),
                ),
              ),
            )
          : null,
        vm.escalated.length ? h('p', {}, `Escalated: ${vm.escalated.map((s) => `${s.step} ${s.ok ? 'ok' : 'failed'} at ${ms(s.atMs)}`).join(', ')}`) : null,
      ),
    ),
  );
}

/** #/killswitch */
export const killswitchPage: Page = async (main, ctx) => {
  const admin = ctx.session.hostRole === 'admin';
  const stateText = h('span', { id: 'ks-state', class: 'ks-state', 'aria-live': 'polite' });
  const big = h('button', { type: 'button', id: 'ks-toggle', class: 'ks-button' });
  const reason = h('input', { id: 'ks-reason', type: 'text', maxlength: '500', placeholder: 'optional' });
  const reportBox = h('div', {});
  const planBox = h('div', {});
  let status: Status = await api<Status>('GET', '/killswitch');
  let acting = false;

  const draw = (): void => {
    stateText.textContent = status.state + (status.inFlight ? ` (${status.inFlight} in progress)` : '');
    stateText.dataset.state = status.state;
    const engaged = status.state === 'engaged' || status.state === 'engaging';
    big.textContent = engaged ? 'Release kill switch' : 'Engage kill switch';
    big.className = `ks-button ${engaged ? 'release' : 'engage'}`;
    big.setAttribute('aria-pressed', engaged ? 'true' : 'false');
    big.disabled = !admin || acting || status.state === 'engaging' || status.state === 'releasing';
    replace(reportBox, reportView(status.report));
    replace(
      planBox,
      status.plan.vms.length === 0
        ? h('p', {}, 'No VM has a killswitch section: engaging cuts nothing.')
        : h('ul', { id: 'ks-plan' }, ...status.plan.vms.map((v) => h('li', {}, h('strong', {}, v.vmName), `: ${v.devices.map((d) => `${d.deviceId} (${d.action})`).join(', ') || 'no devices'}`, v.problem ? ` — ${v.problem}` : ''))),
    );
  };
  const reload = async (): Promise<void> => {
    status = await api<Status>('GET', '/killswitch');
    draw();
  };
  big.addEventListener('click', () => {
    const verb = status.state === 'engaged' ? 'release' : 'engage';
    acting = true;
    draw();
    void api('POST', `/killswitch/${verb}`, reason.value.trim() ? { reason: reason.value.trim() } : {})
      .catch((err: unknown) => flash(err instanceof ApiError ? `${verb} failed: ${err.message}` : String(err)))
      .finally(() => {
        acting = false;
        void reload();
      });
  });

  replace(
    main,
    h('h1', {}, 'Kill switch'),
    h(
      'section',
      { class: 'card ks-panel', 'aria-labelledby': 'ks-h' },
      h('h2', { id: 'ks-h' }, 'State: ', stateText),
      big,
      admin
        ? h('div', { class: 'field' }, h('label', { for: 'ks-reason' }, 'Reason (audited)'), reason)
        : h('p', { class: 'help' }, 'Only a host admin can engage or release; auditors see the state.'),
    ),
    h('section', { class: 'card', 'aria-labelledby': 'ks-report-h' }, h('h2', { id: 'ks-report-h' }, 'Last report'), reportBox),
    h('section', { class: 'card', 'aria-labelledby': 'ks-plan-h' }, h('h2', { id: 'ks-plan-h' }, 'Plan'), planBox),
  );
  draw();
  ctx.onLeave(
    ctx.events.on((e) => {
      if (e.type !== 'killswitch') return;
      // Show the pushed state at once, then fetch the report that goes with it.
      const data = e.data as { state?: Status['state']; inFlight?: string | null };
      if (data.state) status = { ...status, state: data.state, inFlight: data.inFlight ?? null };
      draw();
      void reload().catch(() => undefined);
    }),
  );
};
