/**
 * Section 5: introspection. The guest's init computed a marker and keeps it in tmpfs; from the host, `vigil vmi`
 * finds it in guest-physical memory, reads it back through the guest's own page tables at its address in the
 * kernel's direct map, and shows that translation.
 */
import { spawnSync } from 'node:child_process';
import { heading, note, root, vigil, vigilJson, type Demo } from '../lib.js';

// With nokaslr (the demo's kernel command line) the direct map of physical memory starts here: 4-level, then 5-level paging.
const DIRECT_MAP_BASES = [0xffff888000000000n, 0xff11000000000000n];

/** `vigil vmi ...` verbs the CLI offers (the list grows: uname and ps come with the Linux layer). */
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
  const linux = verbs(d).filter((v) => v === 'uname' || v === 'ps');
  if (linux.length === 0) {
    note('vigil vmi uname/ps (the Linux layer over this) are not in this build of the CLI yet');
  } else {
    note('the Linux layer: the guest kernel and its processes, read from memory with no agent in the guest');
    for (const v of linux) vigil(d, ['vmi', d.vm, v]);
  }
}
