/**
 * Kernel modules from the host. The `modules` list head has no VMCOREINFO entry, so the list is found by a
 * validated search of the module area (the only place module structs live): every present page is read, each
 * cache-line aligned spot that looks like a `struct module` (a known state, list pointers into kernel space, a
 * module name) is checked by following its list all the way around, with every `next->prev` pointing back.
 */
import { VigilError } from '../../../core/errors.js';
import { mappedRanges } from '../../paging/ranges.js';
import { START_KERNEL_MAP, type LinuxKernel } from './kernel.js';
import type { StructView } from './struct-view.js';

/** One loaded module, as /proc/modules shows it. */
export interface LinuxModule {
  name: string;
  /** Where its core (text and data) is mapped. */
  base: bigint;
  /** Bytes, as /proc/modules counts them (core plus any init part not yet freed). */
  size: number;
  /** live, coming, going, unformed. */
  state: string;
  /** The struct module's guest-virtual address. */
  address: bigint;
}

/** Where the module area ends on x86-64 (MODULES_END, below the fixmap). */
const MODULES_END = 0xffffffffff000000n;
const STATES = ['live', 'coming', 'going', 'unformed'];
const NAME = /^[A-Za-z0-9_-]{1,55}$/;

function inKernelSpace(va: bigint): boolean {
  return va >= 0xff00000000000000n;
}

/** The modules in list order; an empty list when none is loaded. */
export async function listModules(kernel: LinuxKernel): Promise<LinuxModule[]> {
  const mod = kernel.layout('module');
  const listOff = BigInt(mod.offsetOf('list'));
  const nameOff = mod.offsetOf('name');
  const stateOff = mod.offsetOf('state');
  const imageSize = kernel.vmcoreinfo.numbers.get('KERNEL_IMAGE_SIZE');
  if (imageSize === undefined) throw new VigilError('VIGIL_VMI_KERNEL', 'VMCOREINFO lacks NUMBER(KERNEL_IMAGE_SIZE): cannot tell where the module area starts', {});
  const start = START_KERNEL_MAP + imageSize;
  const page = Buffer.allocUnsafe(4096);
  const ranges = [];
  for await (const r of mappedRanges(kernel.mem, kernel.dtb, kernel.virt.levels, start, MODULES_END)) ranges.push(r);
  for (const r of ranges) {
    for (let off = 0; off < r.size; off += 4096) {
      await kernel.mem.readPhysInto(r.pa + off, page);
      // struct module is ____cacheline_aligned: only 64-byte boundaries can start one.
      for (let i = 0; i + nameOff + 56 <= 4096; i += 64) {
        const state = page.readUInt32LE(i + stateOff);
        if (state > 3) continue;
        const next = page.readBigUInt64LE(i + Number(listOff));
        const prev = page.readBigUInt64LE(i + Number(listOff) + 8);
        if (!inKernelSpace(next) || !inKernelSpace(prev)) continue;
        const end = page.indexOf(0, i + nameOff);
        if (end === -1 || end > i + nameOff + 55 || !NAME.test(page.toString('latin1', i + nameOff, end))) continue;
        const found = await walkList(kernel, r.va + BigInt(off + i) + listOff, start).catch(() => undefined);
        if (found) return found;
      }
    }
  }
  return [];
}

/** Follows the list through `node` all the way around; the one node outside the module area is the head. */
async function walkList(kernel: LinuxKernel, node: bigint, areaStart: bigint): Promise<LinuxModule[] | undefined> {
  const listOff = BigInt(kernel.layout('module').offsetOf('list'));
  const found: LinuxModule[] = [];
  // How many modules came before the head on this walk: the kernel's order starts right after the head.
  let beforeHead: number | undefined;
  let at = node;
  for (let hops = 0; hops < 10_000; hops++) {
    const next = (await kernel.virt.read(at, 8, { dtb: kernel.dtb })).readBigUInt64LE(0);
    const back = (await kernel.virt.read(next + 8n, 8, { dtb: kernel.dtb })).readBigUInt64LE(0);
    if (back !== at) return undefined;
    if (at >= areaStart && at < MODULES_END) found.push(describe(await kernel.read('module', at - listOff)));
    else if (beforeHead === undefined) beforeHead = found.length;
    else return undefined;
    at = next;
    if (at === node) return beforeHead === undefined ? undefined : [...found.slice(beforeHead), ...found.slice(0, beforeHead)];
  }
  return undefined;
}

function describe(m: StructView): LinuxModule {
  let base = 0n;
  let size = 0;
  // 6.1 keeps core_layout and init_layout (init is 0 once freed); 6.4 and later a mem[] array: not read yet.
  try {
    base = m.ptr('core_layout.base');
    size = (m.int('core_layout.size') >>> 0) + (m.int('init_layout.size') >>> 0);
  } catch {
    // a layout this reader does not know: base and size stay 0
  }
  const state = m.int('state');
  return { name: m.str('name'), base, size, state: STATES[state] ?? String(state), address: m.va };
}
