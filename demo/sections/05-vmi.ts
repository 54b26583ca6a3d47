/**
 * Section 5: introspection. The guest's init computed a marker and keeps it in tmpfs; from the host, `vigil vmi`
 * finds it in guest-physical memory, reads it back through the guest's own page tables at its address in the
 * kernel's direct map, and shows that translation. Then the Linux layer (uname, ps) and the vCPUs through the
 * gdbstub (regs, step, break, watch), each shown when this build of the CLI has it.
 */
import { spawnSync } from 'node:child_process';
import { heading, note, root, serialLog, vigil, vigilJson, type Demo } from '../lib.js';

// With nokaslr (the demo's kernel command line) the direct map of physical memory starts here: 4-level, then 5-level paging.
const DIRECT_MAP_BASES = [0xffff888000000000n, 0xff11000000000000n];

/** `vigil vmi ...` verbs the CLI offers (uname and ps come with the Linux layer; `modules` is left out: this guest loads none). */
function verbs(d: Demo): string[] {
  const help = spawnSync(`${root}bin/vigil`, ['vmi', '--help'], { env: d.env, encoding: 'utf8' }).stdout;
  return [...help.matchAll(/^\s{2}(\w+)\b/gm)].map((m) => m[1]!);
}

/** Runs the section. */
export function introspection(d: Demo): void {
  heading('5. Introspection: guest memory from the host (vigil vmi)');
  vigil(d, ['vmi', d.vm, 'map']);
  note(`the guest's init computed "${d.marker}" (the host never wrote it whole) and keeps it in /dev/shm`);
  vigil(d, ['vmi', d.vm, 'search', d.marker, '--limit', '3']);
  const hits = vigilJson<{ matches: string[] }>(d, ['vmi', d.vm, 'search', d.marker, '--limit', '3']).matches;
  const pa = hits[0];
  if (pa === undefined) throw new Error(`the marker ${d.marker} is not in guest memory`);
  vigil(d, ['vmi', d.vm, 'read', pa, '48', '--phys']);
  const va = DIRECT_MAP_BASES.map((base) => `0x${(base + BigInt(pa)).toString(16)}`).find((candidate) => {
    const r = spawnSync(`${root}bin/vigil`, ['vmi', d.vm, 'translate', candidate, '--json'], { env: d.env, encoding: 'utf8' });
    return r.status === 0 && (JSON.parse(r.stdout) as { pa: string }).pa === pa;
  });
  if (va === undefined) throw new Error(`no direct-map address translates to ${pa}`);
  note("the same bytes at their kernel virtual address, through vCPU 0's page tables (CR3)");
  vigil(d, ['vmi', d.vm, 'translate', va]);
  const read = vigil(d, ['vmi', d.vm, 'read', va, '48']);
  if (!read.replace(/\s/g, '').includes(d.marker.slice(0, 8))) throw new Error('the virtual read does not show the marker');
  const linux = verbs(d);
  if (!linux.includes('uname') || !linux.includes('ps')) {
    note('vigil vmi uname/ps (the Linux layer over this) are not in this build of the CLI');
    return;
  }
  heading('5b. The Linux layer: the guest kernel and its processes, read from memory with no agent in the guest');
  vigil(d, ['vmi', d.vm, 'uname']);
  const ps = vigil(d, ['vmi', d.vm, 'ps'], 0, { quiet: true }).split('\n');
  // Kernel threads (children of kthreadd, pid 2) make most of the list; the user-space processes are the story.
  const user = ps.filter((line, i) => i === 0 || (/^\s*\d+\s+(\d+)/.exec(line)?.[1] !== '2' && !/^\s*2\s/.test(line) && line.trim() !== ''));
  console.log(`${user.join('\n')}\n-> (${ps.length - user.length - 1} kernel threads left out)`);
  const procs = vigilJson<{ pid: number; command?: string; cmdline?: string[] | string }[]>(d, ['vmi', d.vm, 'ps']);
  if (!JSON.stringify(procs).includes('100000')) throw new Error("the guest's 'sleep 100000' (started by its init) is not in vmi ps");
  if (linux.includes('regs')) vcpu(d);
}

/** vCPU state and events through the VM's gdbstub: registers, single steps, a breakpoint and a watchpoint. */
function vcpu(d: Demo): void {
  heading('5c. vCPUs through the gdbstub: registers, single-step, a breakpoint, a watchpoint');
  vigil(d, ['vmi', d.vm, 'regs']);
  vigil(d, ['vmi', d.vm, 'step', '--count', '3']);
  const regs = JSON.stringify(vigilJson<unknown>(d, ['vmi', d.vm, 'regs', '--vcpu', '0']));
  const rip = /"rip"\s*:\s*"(0x[0-9a-f]+)"/.exec(regs)?.[1];
  if (rip === undefined) throw new Error(`no rip in vmi regs --json: ${regs.slice(0, 200)}`);
  if (BigInt(rip) < 0xffff800000000000n) {
    // Caught in user space: that address need not run again soon, so it is no good for a short demo.
    note(`skipped the breakpoint: vCPU 0 was in user space (${rip}), not in the kernel's idle loop`);
  } else {
    note(`a breakpoint where vCPU 0 stands now (${rip}, the idle loop): hit when the guest next wakes`);
    vigil(d, ['vmi', d.vm, 'break', rip, '--count', '1', '--timeout', '20000']);
  }
  const jiffies = /jiffies at (0x[0-9a-f]+)/.exec(serialLog(d))?.[1];
  if (jiffies === undefined || /^0x0+$/.test(jiffies)) {
    note("skipped the watchpoint: the guest's /proc/kallsyms gave no address for jiffies");
    return;
  }
  note(`a write watchpoint on jiffies (${jiffies}, as the guest's init read it from /proc/kallsyms): the timer tick writes it`);
  vigil(d, ['vmi', d.vm, 'watch', jiffies, '8', '--write', '--count', '1', '--timeout', '20000']);
  vigil(d, ['qmp', d.vm, 'query-status', '--compact']);
}
