/**
 * The process list from the host, as the guest's own `ps` shows it: every thread-group leader on init_task's
 * tasks list, with pid, tgid, parent, comm, state, credentials, start time, and the command line read from the
 * process's own address space (its `mm->pgd`). One read per task_struct, its cred and mm; no guest cooperation.
 */
import { VigilError } from '../../../core/errors.js';
import type { LinuxKernel } from './kernel.js';

/** One process. */
export interface LinuxProcess {
  pid: number;
  tgid: number;
  ppid: number;
  comm: string;
  /** R, S, D, T, t, X, Z, I, P (as ps shows them). */
  state: string;
  uid: number;
  gid: number;
  /** Nanoseconds after boot (monotonic), as task_struct.start_time. */
  startTimeNs: bigint;
  /** The command line (arguments joined by spaces); empty for kernel threads; undefined when it could not be read. */
  cmdline?: string;
  kernelThread: boolean;
  /** The task_struct's guest-virtual address. */
  address: bigint;
}

const MAX_TASKS = 100_000;
const MAX_CMDLINE = 4096;

/** The state letter of a task (fs/proc/array.c's order: the lowest set bit of the state, zombies by exit_state). */
function stateLetter(state: number, exitState: number): string {
  if (exitState & 0x20) return 'Z';
  if (exitState & 0x10) return 'X';
  // TASK_IDLE = TASK_UNINTERRUPTIBLE | TASK_NOLOAD.
  if ((state & 0x402) === 0x402) return 'I';
  const letters: [number, string][] = [
    [0x1, 'S'],
    [0x2, 'D'],
    [0x4, 'T'],
    [0x8, 't'],
    [0x40, 'P'],
  ];
  for (const [bit, letter] of letters) if (state & bit) return letter;
  return state === 0 ? 'R' : '?';
}

/** Reads the process list; throws VIGIL_VMI_KERNEL when the list does not hold together (a racing or booting guest). */
export async function listProcesses(kernel: LinuxKernel): Promise<LinuxProcess[]> {
  const task = kernel.layout('task_struct');
  const tasksOff = BigInt(task.offsetOf('tasks'));
  const cred = kernel.layout('cred');
  const mm = kernel.layout('mm_struct');
  // Only the head of cred and mm is needed (ids; pgd and the argument area).
  const credHead = Math.max(cred.offsetOf('gid.val'), cred.offsetOf('uid.val')) + 4;
  const mmHead = Math.max(mm.offsetOf('pgd'), mm.offsetOf('arg_start'), mm.offsetOf('arg_end')) + 8;
  const views = [];
  const seen = new Set<bigint>();
  let va = kernel.initTask;
  do {
    if (seen.has(va) || seen.size > MAX_TASKS) throw new VigilError('VIGIL_VMI_KERNEL', `the tasks list loops back to ${va.toString(16)} without reaching init_task: the guest changed it while it was read; try again`, {});
    seen.add(va);
    const view = await kernel.read('task_struct', va);
    views.push(view);
    va = view.ptr('tasks.next') - tasksOff;
  } while (va !== kernel.initTask);

  const tgidByTask = new Map(views.map((v) => [v.va, v.int('tgid')]));
  return Promise.all(
    views.map(async (t): Promise<LinuxProcess> => {
      const credPtr = t.ptr('cred');
      const c = credPtr === 0n ? undefined : await kernel.readHead('cred', credPtr, credHead);
      const mmPtr = t.ptr('mm');
      const flags = t.int('flags') >>> 0;
      // PF_KTHREAD: kernel threads have no user address space, hence no command line.
      const kernelThread = (flags & 0x00200000) !== 0 || mmPtr === 0n;
      let cmdline: string | undefined = '';
      if (!kernelThread) cmdline = await readCmdline(kernel, mmPtr, mmHead).catch(() => undefined);
      const parent = t.ptr('real_parent');
      return {
        pid: t.int('pid'),
        tgid: t.int('tgid'),
        ppid: parent === t.va ? 0 : tgidByTask.get(parent) ?? (await kernel.readHead('task_struct', parent, task.offsetOf('tgid') + 4)).int('tgid'),
        comm: t.str('comm'),
        state: stateLetter(t.int('__state') >>> 0, t.int('exit_state') >>> 0),
        uid: c ? c.int('uid.val') >>> 0 : 0,
        gid: c ? c.int('gid.val') >>> 0 : 0,
        startTimeNs: t.ptr('start_time'),
        ...(cmdline === undefined ? {} : { cmdline }),
        kernelThread,
        address: t.va,
      };
    }),
  );
}

/** The process's argument area, read under its own page tables (mm->pgd, a direct-map address). */
async function readCmdline(kernel: LinuxKernel, mmPtr: bigint, head: number): Promise<string> {
  const m = await kernel.readHead('mm_struct', mmPtr, head);
  const start = m.ptr('arg_start');
  const end = m.ptr('arg_end');
  if (end <= start) return '';
  const dtb = BigInt(await kernel.virt.toPhys(m.ptr('pgd'), kernel.dtb));
  try {
    const bytes = await kernel.virt.read(start, Math.min(Number(end - start), MAX_CMDLINE), { dtb });
    return bytes.toString('utf8').replace(/\0+$/, '').split('\0').join(' ');
  } finally {
    // A process's page tables change under it and its pgd page is reused after it exits: never keep its translations.
    kernel.virt.invalidate(dtb);
  }
}
