/**
 * The Linux views one asks for by name (`uname`, `ps`, `pstree`, `modules`), over an attached kernel that is kept
 * per VM and boot so that a second listing is warm. Each view is audited like a memory dump (it copies what is
 * in guest memory: names, command lines), under the principal that asked.
 */
import type { StoreDb } from '../../../store/db.js';
import type { VigilPaths } from '../../../core/paths.js';
import { VigilError } from '../../../core/errors.js';
import { readPidfile } from '../../../vm/process.js';
import { openVmMemory, type VmMemory } from '../../memory/vm-memory.js';
import { LinuxKernel, type KernelIdentity } from './kernel.js';
import { listModules, type LinuxModule } from './modules.js';
import { listProcesses, type LinuxProcess } from './tasks.js';

/** The views. */
export const LINUX_VIEWS = ['uname', 'ps', 'pstree', 'modules'] as const;
/** One view's name. */
export type LinuxViewName = (typeof LINUX_VIEWS)[number];

/** What each view returns. */
export interface LinuxViewResult {
  uname: KernelIdentity;
  ps: LinuxProcess[];
  pstree: LinuxProcess[];
  modules: LinuxModule[];
}

interface Attached {
  pid: number;
  memory: VmMemory;
  kernel: LinuxKernel;
}

/** Attached kernels of running VMs, for callers that list more than once (vigild's API, benchmarks). */
export class LinuxViews {
  private readonly attached = new Map<string, Promise<Attached>>();
  /** The settled attach of each VM (to tell whether a failed view's attach is still the current one). */
  private readonly current = new Map<string, Attached>();

  constructor(private readonly opts: { paths: VigilPaths; store: StoreDb; btfFile?: string }) {}

  /** Runs `view` on VM `vm` as `principal`; the first call attaches (finds BTF, VMCOREINFO, init_task). */
  async view<V extends LinuxViewName>(vm: string, view: V, principal: string): Promise<LinuxViewResult[V]> {
    const started = performance.now();
    let a: Attached | undefined;
    try {
      a = await this.attach(vm);
      const result = await runView(a.kernel, view);
      a.memory.memory.recordDump(`vmi-linux-${view}`, {}, `${view} as ${principal}`, 'ok', performance.now() - started);
      return result;
    } catch (err) {
      const code = err instanceof VigilError ? err.code : 'error';
      a?.memory.memory.recordDump(`vmi-linux-${view}`, {}, `${view} as ${principal}`, 'failed', performance.now() - started, code);
      // A list that changed while it was read is worth a retry on the same kernel; anything else (a reboot, a
      // new QEMU, memory gone) is attached afresh next time. Only this attach is dropped, not a newer one.
      if (code !== 'VIGIL_VMI_KERNEL' && code !== 'VIGIL_INVALID_INPUT' && a && this.current.get(vm) === a) await this.forget(vm);
      throw err;
    }
  }

  /** Drops VM `vm`'s attached kernel (its QEMU stopped or was replaced). */
  async forget(vm: string): Promise<void> {
    const a = this.attached.get(vm);
    this.attached.delete(vm);
    this.current.delete(vm);
    await a?.then((x) => x.memory.close()).catch(() => undefined);
  }

  /** Closes everything. */
  async close(): Promise<void> {
    await Promise.all([...this.attached.keys()].map((vm) => this.forget(vm)));
  }

  private async attach(vm: string): Promise<Attached> {
    const current = this.attached.get(vm);
    if (current) {
      const a = await current.catch(() => undefined);
      // The same QEMU still runs (a restarted VM is a new boot: its kernel is found again).
      if (a && a.memory.pid === readPidfile(a.memory.files.pidfile)) return a;
      await this.forget(vm);
    }
    const p = (async (): Promise<Attached> => {
      const memory = await openVmMemory(vm, { paths: this.opts.paths, store: this.opts.store, principal: 'vigil:vmi' });
      // The views need no monitor after this: free it for the VM's other users (QEMU serves one client each).
      await memory.qmp.close();
      try {
        const a = { pid: memory.pid, memory, kernel: await LinuxKernel.attach(memory.memory, this.opts.btfFile === undefined ? {} : { btfFile: this.opts.btfFile }) };
        this.current.set(vm, a);
        return a;
      } catch (err) {
        await memory.close();
        throw err;
      }
    })();
    this.attached.set(vm, p);
    return p;
  }
}


/** One view over an attached kernel. */
export async function runView<V extends LinuxViewName>(kernel: LinuxKernel, view: V): Promise<LinuxViewResult[V]> {
  switch (view) {
    case 'uname':
      return (await kernel.identity()) as LinuxViewResult[V];
    case 'ps':
    case 'pstree':
      return (await listProcesses(kernel)) as LinuxViewResult[V];
    case 'modules':
      // Module memory is vmalloc'ed and reused after an unload: never trust translations from an earlier look.
      kernel.virt.invalidate();
      return (await listModules(kernel)) as LinuxViewResult[V];
    default:
      throw new VigilError('VIGIL_INVALID_INPUT', `unknown Linux view '${String(view)}': use one of ${LINUX_VIEWS.join(', ')}`, { context: { field: 'view' } });
  }
}

/** `pstree -p`-style lines from a process list. */
export function formatTree(procs: readonly LinuxProcess[]): string[] {
  const children = new Map<number, LinuxProcess[]>();
  for (const p of procs) {
    if (p.pid === 0) continue;
    const list = children.get(p.ppid) ?? [];
    list.push(p);
    children.set(p.ppid, list);
  }
  const lines: string[] = [];
  const walk = (p: LinuxProcess, prefix: string, last: boolean, root: boolean): void => {
    lines.push(`${root ? '' : `${prefix}${last ? '└─ ' : '├─ '}`}${p.comm}(${p.pid})`);
    const kids = (children.get(p.pid) ?? []).sort((a, b) => a.pid - b.pid);
    kids.forEach((k, i) => walk(k, root ? '' : `${prefix}${last ? '   ' : '│  '}`, i === kids.length - 1, false));
  };
  for (const r of (children.get(0) ?? []).sort((a, b) => a.pid - b.pid)) walk(r, '', true, true);
  return lines;
}

/** A view's result for JSON (the CLI's --json, the API): 64-bit values as `0x` hex strings. */
export function viewJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))) as unknown;
}
