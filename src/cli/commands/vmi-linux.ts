/** `vigil vmi <vm> uname|ps|pstree|modules`: a Linux guest's kernel, processes and modules, read from the host. */
import type { Command } from 'commander';
import { userInfo } from 'node:os';
import { formatTree, viewJson, LinuxViews, type LinuxViewName, type LinuxViewResult } from '../../vmi/os/linux/views.js';
import type { LinuxProcess } from '../../vmi/os/linux/tasks.js';
import { Vigil } from '../../vigil.js';
import { printJson } from '../output.js';

const hex = (n: bigint): string => `0x${n.toString(16)}`;

interface ViewOpts {
  json?: boolean;
  btf?: string;
}

async function run<V extends LinuxViewName>(vm: string, view: V, o: ViewOpts, print: (result: LinuxViewResult[V]) => string[]): Promise<void> {
  const json = o.json === true;
  const vigil = Vigil.open();
  const views = new LinuxViews({ paths: vigil.paths, store: vigil.db, ...(o.btf === undefined ? {} : { btfFile: o.btf }) });
  try {
    const result = await views.view(vm, view, userInfo().username);
    if (json) printJson(viewJson(result));
    else process.stdout.write(print(result).join('\n') + '\n');
  } finally {
    await views.close();
    vigil.close();
  }
}

function psLines(procs: LinuxProcess[]): string[] {
  const lines = [`${'PID'.padStart(6)} ${'PPID'.padStart(6)} ${'UID'.padStart(5)} S  ${'COMM'.padEnd(16)} COMMAND`];
  for (const p of [...procs].sort((a, b) => a.pid - b.pid)) {
    const cmd = p.kernelThread ? `[${p.comm}]` : (p.cmdline ?? '?');
    lines.push(`${String(p.pid).padStart(6)} ${String(p.ppid).padStart(6)} ${String(p.uid).padStart(5)} ${p.state}  ${p.comm.padEnd(16)} ${cmd}`);
  }
  return lines;
}

/** Adds the Linux views to the `vmi` command group. */
export function addLinuxVerbs(vmi: Command): void {
  vmi
    .command('uname')
    .description("the guest kernel's identity, as its uname -a, with the KASLR slide and paging depth")
    .argument('<vm>', 'VM name')
    .option('--json', 'print JSON')
    .option('--btf <file>', "the guest kernel's BTF (/sys/kernel/btf/vmlinux) or vmlinux, when it cannot be found in memory")
    .action((vm: string, o: ViewOpts) =>
      run(vm, 'uname', o, (u) => [`${u.sysname} ${u.nodename} ${u.release} ${u.version} ${u.machine}`, `KASLR offset ${hex(u.kernelOffset)}, ${u.pagingLevels}-level paging, kernel DTB ${hex(u.dtb)}`]),
    );
  vmi
    .command('ps')
    .description("the guest's processes (pid, parent, uid, state, name, command line), read from its memory")
    .argument('<vm>', 'VM name')
    .option('--json', 'print JSON')
    .option('--btf <file>', "the guest kernel's BTF (/sys/kernel/btf/vmlinux) or vmlinux, when it cannot be found in memory")
    .action((vm: string, o: ViewOpts) => run(vm, 'ps', o, psLines));
  vmi
    .command('pstree')
    .description("the guest's processes as a tree")
    .argument('<vm>', 'VM name')
    .option('--json', 'print JSON')
    .option('--btf <file>', "the guest kernel's BTF (/sys/kernel/btf/vmlinux) or vmlinux, when it cannot be found in memory")
    .action((vm: string, o: ViewOpts) => run(vm, 'pstree', o, formatTree));
  vmi
    .command('modules')
    .description("the guest kernel's loaded modules (name, size, base), as its /proc/modules")
    .argument('<vm>', 'VM name')
    .option('--json', 'print JSON')
    .option('--btf <file>', "the guest kernel's BTF (/sys/kernel/btf/vmlinux) or vmlinux, when it cannot be found in memory")
    .action((vm: string, o: ViewOpts) =>
      run(vm, 'modules', o, (r) => r.map((m) => `${m.name.padEnd(20)} ${String(m.size).padStart(8)}  ${m.state}  ${hex(m.base)}`)),
    );
}
