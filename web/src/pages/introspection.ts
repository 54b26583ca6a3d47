/**
 * Inside a running Linux guest, read from the host with no agent in it (GET /vms/:id/vmi/linux/*, Owner only):
 * the kernel's identity, the process table (filter and sort), the process tree and the kernel modules. Every
 * refusal the API can give (not Owner, VM stopped, guest still booting or without BTF, no memory backend) is
 * explained in words, never shown as an empty table.
 */
import { api, ApiError, atLeast, type VmView } from '../api.js';
import type { Page, PageContext } from '../context.js';
import { h, replace } from '../dom.js';
import { stateBadge } from './vm-list.js';

/** One process as the API's ps and pstree views return it (64-bit values as 0x-hex strings). */
interface Proc {
  pid: number;
  tgid: number;
  ppid: number;
  comm: string;
  state: string;
  uid: number;
  gid: number;
  cmdline?: string;
  kernelThread: boolean;
}

interface Uname {
  sysname: string;
  nodename: string;
  release: string;
  version: string;
  machine: string;
  kernelOffset: string;
  dtb: string;
  pagingLevels: number;
  pageSize: number;
}

interface Module {
  name: string;
  base: string;
  size: number;
  state: string;
}

type SortKey = 'pid' | 'ppid' | 'uid' | 'state' | 'comm' | 'cmdline';

const COLUMNS: { key: SortKey; label: string }[] = [
  { key: 'pid', label: 'PID' },
  { key: 'ppid', label: 'PPID' },
  { key: 'uid', label: 'UID' },
  { key: 'state', label: 'State' },
  { key: 'comm', label: 'Name' },
  { key: 'cmdline', label: 'Command line' },
];

const AUTO_MS = 5000;

async function view<T>(vm: string, name: string): Promise<T> {
  return (await api<{ result: T }>('GET', `/vms/${encodeURIComponent(vm)}/vmi/linux/${name}`)).result;
}

/** What a refusal means for the person looking, and what to do about it. */
function explain(err: unknown, vm: VmView | undefined): { title: string; text: string } {
  if (!(err instanceof ApiError)) return { title: 'Could not read the guest', text: err instanceof Error ? err.message : String(err) };
  if (err.status === 403) {
    return {
      title: 'Owner role needed',
      text: `Introspection copies what is in the guest's memory (process names, command lines), so the API allows it to the VM's Owners only.${vm ? ` Your role on '${vm.id}' is ${vm.role}.` : ''} Ask an Owner to grant you the Owner role, or to look for you.`,
    };
  }
  if (err.code === 'VIGIL_VM_STATE') return { title: 'The VM is not running', text: `${err.message}. Start it, wait for its kernel to boot, then refresh.` };
  if (err.code === 'VIGIL_VMI_BACKEND') return { title: 'No way into its memory', text: `${err.message}. Add 'introspection: true' to the VM's definition and restart it.` };
  if (err.status === 422) {
    return {
      title: 'The guest kernel cannot be read (yet)',
      text: `${err.message}. If the VM has just started, its kernel may still be in firmware or early boot: wait a few seconds and refresh. A kernel built without BTF (CONFIG_DEBUG_INFO_BTF) cannot be read here; the CLI takes its BTF from a file: vigil vmi ${vm?.id ?? '<vm>'} ps --btf FILE.`,
    };
  }
  return { title: `Could not read the guest (${err.code})`, text: err.message };
}

function notice(id: string, title: string, text: string, kind: 'warn' | 'error' = 'warn'): HTMLElement {
  return h('div', { class: `card notice ${kind}`, id, role: kind === 'error' ? 'alert' : 'note' }, h('p', {}, h('strong', {}, `${title}. `), text));
}

function tree(procs: Proc[]): HTMLElement {
  const children = new Map<number, Proc[]>();
  const pids = new Set(procs.map((p) => p.pid));
  for (const p of procs) {
    // Roots: pid 0 (the idle task), and anything whose parent is not listed (it exited while we read).
    const parent = p.pid === 0 || !pids.has(p.ppid) || p.ppid === p.pid ? -1 : p.ppid;
    children.set(parent, [...(children.get(parent) ?? []), p]);
  }
  const seen = new Set<number>();
  const branch = (parent: number): HTMLElement | null => {
    const kids = (children.get(parent) ?? []).filter((p) => !seen.has(p.pid)).sort((a, b) => a.pid - b.pid);
    if (kids.length === 0) return null;
    for (const k of kids) seen.add(k.pid);
    return h(
      'ul',
      {},
      ...kids.map((p) =>
        h(
          'li',
          { 'data-pid': p.pid },
          h('span', { class: p.kernelThread ? 'kthread' : undefined }, p.kernelThread ? `[${p.comm}]` : p.comm, ` (${p.pid})`),
          p.cmdline ? h('span', { class: 'help mono' }, ` ${p.cmdline}`) : null,
          branch(p.pid),
        ),
      ),
    );
  };
  return h('div', { class: 'proc-tree', id: 'vmi-tree' }, branch(-1) ?? h('p', {}, 'No processes.'));
}

/** #/vms/:id/introspection */
export const introspectionVmPage: Page = async (main, ctx: PageContext, [id = '']) => {
  let vm: VmView | undefined;
  let procs: Proc[] = [];
  let sortKey: SortKey = 'pid';
  let ascending = true;
  let timer: ReturnType<typeof setInterval> | undefined;
  let loading = false;

  const head = h('div', { class: 'title-row' }, h('h1', {}, `Inside ${id}`));
  const notices = h('div', { id: 'vmi-notices' });
  const status = h('p', { id: 'vmi-status', role: 'status', 'aria-live': 'polite', class: 'help' });
  const unameBox = h('dl', { class: 'facts', id: 'vmi-uname' });
  const procBody = h('tbody', {});
  const procHead = h('tr', {});
  const count = h('p', { class: 'help', id: 'vmi-count' });
  const treeBox = h('div', {});
  const modBody = h('tbody', {});
  // The data sections show only once something was read: a refusal is explained, not shown as empty tables.
  const data = h('div', { id: 'vmi-data', hidden: true });

  const filter = h('input', { id: 'vmi-filter', type: 'search', placeholder: 'pid, name, command line, uid…', spellcheck: 'false' });
  const kthreads = h('input', { id: 'vmi-kthreads', type: 'checkbox', checked: true });
  const refresh = h('button', { type: 'button', id: 'vmi-refresh', class: 'primary' }, 'Refresh');
  const auto = h('input', { id: 'vmi-auto', type: 'checkbox' });

  const matches = (p: Proc): boolean => {
    if (!kthreads.checked && p.kernelThread) return false;
    const q = filter.value.trim().toLowerCase();
    if (!q) return true;
    return [String(p.pid), String(p.ppid), String(p.uid), p.state, p.comm, p.cmdline ?? ''].some((s) => s.toLowerCase().includes(q));
  };

  // Header buttons are made once and only relabelled: redrawing them (auto-refresh) would take the focus away.
  const sorters = COLUMNS.map(({ key, label }) => {
    const button = h(
      'button',
      {
        type: 'button',
        class: 'sort',
        'data-sort': key,
        onclick: () => {
          ascending = sortKey === key ? !ascending : true;
          sortKey = key;
          drawProcs();
        },
      },
      label,
    );
    const th = h('th', { scope: 'col' }, button);
    procHead.append(th);
    return { key, label, th, button };
  });
  const drawHead = (): void => {
    for (const { key, label, th, button } of sorters) {
      if (sortKey === key) th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
      button.textContent = sortKey === key ? `${label} ${ascending ? '▲' : '▼'}` : label;
    }
  };

  const drawProcs = (): void => {
    drawHead();
    const rows = procs.filter(matches).sort((a, b) => {
      const x = a[sortKey] ?? '';
      const y = b[sortKey] ?? '';
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      return (ascending ? c : -c) || a.pid - b.pid;
    });
    count.textContent = `${rows.length} of ${procs.length} processes shown.`;
    replace(
      procBody,
      ...rows.map((p) =>
        h(
          'tr',
          { 'data-pid': p.pid },
          h('td', { 'data-label': 'PID' }, p.pid),
          h('td', { 'data-label': 'PPID' }, p.ppid),
          h('td', { 'data-label': 'UID' }, p.uid),
          h('td', { 'data-label': 'State' }, p.state),
          h('td', { 'data-label': 'Name', class: 'comm' }, p.kernelThread ? `[${p.comm}]` : p.comm),
          h('td', { 'data-label': 'Command line', class: 'mono' }, p.cmdline ?? '(unreadable)'),
        ),
      ),
    );
  };

  const clearData = (): void => {
    procs = [];
    replace(unameBox);
    replace(procBody);
    replace(modBody);
    replace(treeBox);
    count.textContent = '';
  };

  const load = async (): Promise<void> => {
    if (loading) return;
    loading = true;
    refresh.disabled = true;
    status.textContent = 'Reading the guest…';
    const notes: HTMLElement[] = [];
    try {
      vm = await api<VmView>('GET', `/vms/${encodeURIComponent(id)}`);
      replace(head, h('h1', {}, `Inside ${vm.id} `, stateBadge(vm.state)), h('span', { class: 'badge' }, `your role: ${vm.role}`));
      if (vm.definition && vm.definition.introspection !== true) {
        notes.push(
          notice(
            'vmi-no-introspection',
            "This VM is not defined with 'introspection: true'",
            "Without it, QEMU's RAM is not a shared file, so vigild must read the guest through /proc/<pid>/mem (it needs ptrace rights over QEMU). If reading fails, add 'introspection: true' to the definition and restart the VM.",
          ),
        );
      }
      const uname = await view<Uname>(id, 'uname');
      procs = await view<Proc[]>(id, 'ps');
      const modules = await view<Module[]>(id, 'modules');
      replace(
        unameBox,
        ...(
          [
            ['System', `${uname.sysname} ${uname.nodename} ${uname.release} ${uname.machine}`],
            ['Version', uname.version],
            ['KASLR offset', uname.kernelOffset],
            ['Paging', `${uname.pagingLevels}-level, ${uname.pageSize}-byte pages`],
            ['Page-table root', uname.dtb],
          ] as const
        ).flatMap(([k, v]) => [h('dt', {}, k), h('dd', { class: k === 'System' ? 'mono' : undefined }, v)]),
      );
      drawProcs();
      replace(treeBox, tree(procs));
      replace(
        modBody,
        ...(modules.length === 0
          ? [h('tr', {}, h('td', { colspan: 4 }, 'No modules loaded.'))]
          : modules.map((m) => h('tr', { 'data-module': m.name }, h('td', { 'data-label': 'Name' }, m.name), h('td', { 'data-label': 'Size' }, m.size), h('td', { 'data-label': 'State' }, m.state), h('td', { 'data-label': 'Base', class: 'mono' }, m.base)))),
      );
      data.hidden = false;
      status.textContent = `Read at ${new Date().toLocaleTimeString()}: ${procs.length} processes, ${modules.length} modules.`;
    } catch (err) {
      // A list that changed under the read (422) keeps the previous read on screen, marked as such.
      const keep = err instanceof ApiError && err.status === 422 && procs.length > 0;
      if (!keep) {
        clearData();
        data.hidden = true;
      }
      const { title, text } = explain(err, vm);
      notes.push(notice('vmi-error', title, keep ? `${text} The tables below are from the previous read.` : text, 'error'));
      if (err instanceof ApiError) notes.at(-1)?.setAttribute('data-status', String(err.status));
      status.textContent = '';
    } finally {
      replace(notices, ...notes);
      loading = false;
      refresh.disabled = false;
    }
  };

  refresh.addEventListener('click', () => void load());
  auto.addEventListener('change', () => {
    if (timer) clearInterval(timer);
    timer = auto.checked ? setInterval(() => void load(), AUTO_MS) : undefined;
  });
  filter.addEventListener('input', drawProcs);
  kthreads.addEventListener('change', drawProcs);
  ctx.onLeave(() => timer && clearInterval(timer));

  const section = (sid: string, title: string, ...children: (Node | null)[]): HTMLElement =>
    h('section', { class: 'card', id: sid, 'aria-labelledby': `${sid}-h` }, h('h2', { id: `${sid}-h` }, title), ...children);

  replace(
    main,
    h('p', {}, h('a', { href: `#/vms/${encodeURIComponent(id)}` }, `← ${id}`)),
    head,
    h('p', { class: 'help' }, "Read from the host out of the guest's memory, with nothing installed in the guest; each read is written to the audit log."),
    h(
      'div',
      { class: 'inline-form', role: 'group', 'aria-label': 'Refresh' },
      refresh,
      h('div', { class: 'field check' }, auto, h('label', { for: 'vmi-auto' }, `Refresh every ${AUTO_MS / 1000} s`)),
    ),
    status,
    notices,
    data,
  );
  replace(
    data,
    section('vmi-kernel', 'Kernel', unameBox),
    section(
      'vmi-processes',
      'Processes',
      h(
        'div',
        { class: 'inline-form' },
        h('div', {}, h('label', { for: 'vmi-filter' }, 'Filter processes'), filter),
        h('div', { class: 'field check' }, kthreads, h('label', { for: 'vmi-kthreads' }, 'Show kernel threads')),
      ),
      count,
      h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'vmi-ps' }, h('caption', { class: 'sr-only' }, 'Processes; the column buttons sort'), h('thead', {}, procHead), procBody)),
    ),
    section('vmi-pstree', 'Process tree', treeBox),
    section(
      'vmi-modules',
      'Kernel modules',
      h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'vmi-mods' }, h('thead', {}, h('tr', {}, ...['Name', 'Size', 'State', 'Base'].map((c) => h('th', { scope: 'col' }, c)))), modBody)),
    ),
  );
  drawHead();
  await load();
};

/** #/introspection: the VMs one may look inside (Owner), each linked to its page. */
export const introspectionIndexPage: Page = async (main) => {
  const { vms } = await api<{ vms: VmView[] }>('GET', '/vms');
  const owned = vms.filter((v) => atLeast(v.role, 'Owner'));
  replace(
    main,
    h('h1', {}, 'Processes'),
    h('p', { class: 'help' }, 'Look inside a running Linux guest: its kernel, processes and modules, read from the host. Only Owners of a VM may.'),
    owned.length === 0
      ? notice('vmi-none', 'No VM to look inside', 'Introspection needs the Owner role on a VM, and you own none.')
      : h(
          'ul',
          { id: 'vmi-vms', class: 'card' },
          ...owned.map((v) => h('li', {}, h('a', { href: `#/vms/${encodeURIComponent(v.id)}/introspection` }, v.id), ' ', stateBadge(v.state))),
        ),
  );
};
