/**
 * A running Linux guest seen from the host with no configuration: the kernel's own BTF for struct layouts,
 * VMCOREINFO for its release, KASLR slide, page-table root and symbols, and `init_task` found by a validated
 * search (its `swapper/0` comm at the BTF offset, pid 0, a tasks list that links back to it). Every view is
 * read through the kernel's page tables; nothing is assumed that the guest's memory does not confirm.
 */
import { VigilError } from '../../../core/errors.js';
import { VirtualMemory } from '../../paging/virtual-memory.js';
import type { PagingLevels } from '../../paging/walker.js';
import type { PhysicalMemory } from './access.js';
import { readBtfFile } from './btf/file.js';
import { locateBtf } from './btf/locate.js';
import type { Btf } from './btf/parse.js';
import { StructLayout, StructView } from './struct-view.js';
import { locateVmcoreinfo, type VmcoreInfo } from './vmcoreinfo.js';

/** Where the kernel image is mapped before the KASLR slide (x86-64 `__START_KERNEL_map`). */
export const START_KERNEL_MAP = 0xffffffff80000000n;

/** What attaching needs: guest-physical memory that also serves page-table walks. */
export type KernelMemory = PhysicalMemory & ConstructorParameters<typeof VirtualMemory>[0];

/** The kernel's identity, as `vigil vmi uname` shows it. */
export interface KernelIdentity {
  sysname: string;
  nodename: string;
  release: string;
  version: string;
  machine: string;
  /** The KASLR slide of the kernel image. */
  kernelOffset: bigint;
  /** The kernel page-table root (guest-physical). */
  dtb: bigint;
  pagingLevels: PagingLevels;
  pageSize: number;
}

/** An attached kernel. */
export class LinuxKernel {
  private readonly layouts = new Map<string, StructLayout>();

  private constructor(
    readonly mem: KernelMemory,
    readonly btf: Btf,
    readonly vmcoreinfo: VmcoreInfo,
    readonly virt: VirtualMemory,
    /** The kernel's page-table root, guest-physical. */
    readonly dtb: bigint,
    /** init_task's guest-virtual address. */
    readonly initTask: bigint,
  ) {}

  /**
   * Finds the BTF (or takes `btfFile`: a BTF blob or a vmlinux), VMCOREINFO, the DTB and init_task;
   * VIGIL_VMI_BTF or VIGIL_VMI_KERNEL with what to supply otherwise.
   */
  static async attach(mem: KernelMemory, options: { btfFile?: string } = {}): Promise<LinuxKernel> {
    // VMCOREINFO first: a candidate counts only if its page-table root maps init_top_pgt to itself (a wrong
    // phys_base, a torn read or a copy planted by a guest process shows here, not as wrong answers later).
    let checked: { dtb: bigint; virt: VirtualMemory; physBase: bigint; topPgt: bigint } | undefined;
    const info = await locateVmcoreinfo(mem, async (i) => {
      checked = await checkRoot(mem, i);
      return checked !== undefined;
    });
    if (!checked) throw new VigilError('VIGIL_VMI_KERNEL', 'VMCOREINFO without a usable page-table root', {});
    const { dtb, virt, physBase, topPgt } = checked;
    // The kernel image, where .BTF and init_task live: from _stext to init_top_pgt (.data), plus room for .data.
    const stext = info.symbols.get('_stext');
    const imageStart = stext === undefined ? 0 : Number(stext - START_KERNEL_MAP + physBase);
    const dataEnd = Number(topPgt - START_KERNEL_MAP + physBase) + IMAGE_DATA_SLACK;
    const btf = options.btfFile === undefined ? (await locateBtf(mem, stext === undefined ? {} : { start: imageStart, end: Number(dtb) })).btf : await readBtfFile(options.btfFile);
    const kernel = new LinuxKernel(mem, btf, info, virt, dtb, 0n);
    return new LinuxKernel(mem, btf, info, virt, dtb, await kernel.findInitTask(physBase, { start: imageStart, end: dataEnd }));
  }

  /** The layout of a kernel struct (cached). */
  layout(name: string): StructLayout {
    let l = this.layouts.get(name);
    if (!l) {
      l = new StructLayout(this.btf, name);
      this.layouts.set(name, l);
    }
    return l;
  }

  /** Reads a whole struct at kernel virtual address `va`. */
  async read(name: string, va: bigint): Promise<StructView> {
    const layout = this.layout(name);
    return new StructView(layout, await this.virt.read(va, layout.size, { dtb: this.dtb }), va);
  }

  /** The first `len` bytes of a struct (when only its head is needed). */
  async readHead(name: string, va: bigint, len: number): Promise<StructView> {
    const layout = this.layout(name);
    const bytes = Buffer.alloc(layout.size);
    (await this.virt.read(va, Math.min(len, layout.size), { dtb: this.dtb })).copy(bytes);
    return new StructView(layout, bytes, va);
  }

  /** The kernel's identity (init_uts_ns, as the guest's `uname -a`). */
  async identity(): Promise<KernelIdentity> {
    const uts = this.vmcoreinfo.symbols.get('init_uts_ns');
    if (uts === undefined) throw new VigilError('VIGIL_VMI_KERNEL', 'VMCOREINFO lacks SYMBOL(init_uts_ns)', {});
    const ns = await this.read('uts_namespace', uts);
    const nameOff = ns.layout.offsetOf('name');
    const name = new StructView(this.layout('new_utsname'), ns.bytes.subarray(nameOff), uts + BigInt(nameOff));
    return {
      sysname: name.str('sysname'),
      nodename: name.str('nodename'),
      release: name.str('release'),
      version: name.str('version'),
      machine: name.str('machine'),
      kernelOffset: this.vmcoreinfo.kernelOffset,
      dtb: this.dtb,
      pagingLevels: this.virt.levels,
      pageSize: this.vmcoreinfo.pageSize,
    };
  }

  /**
   * init_task: the `swapper/0` comm at task_struct's comm offset, in the kernel image, with pid 0 and a tasks
   * list whose first entry links back to it.
   */
  private async findInitTask(physBase: bigint, range: { start: number; end: number }): Promise<bigint> {
    const task = this.layout('task_struct');
    const commOff = task.offsetOf('comm');
    const tasksOff = BigInt(task.offsetOf('tasks'));
    const prevOff = BigInt(this.layout('list_head').offsetOf('prev'));
    const pidOff = task.offsetOf('pid');
    const tgidOff = task.offsetOf('tgid');
    let checked = 0;
    // Within the kernel image only, and every hit: the image has freed gaps a guest process's pages can land in,
    // so copies of the string there must not crowd the real one out. Cheap physical tests first.
    const hits = await this.mem.search(Buffer.from('swapper/0\0'), { limit: 10_000_000, ...range });
    for (const hit of hits) {
      const base = hit - commOff;
      // init_task is cache-line aligned, with pid and tgid 0.
      if (base % 64 !== 0) continue;
      const ids = await this.mem.readPhys(base + Math.min(pidOff, tgidOff), Math.abs(tgidOff - pidOff) + 4).catch(() => undefined);
      if (!ids || ids.readInt32LE(pidOff - Math.min(pidOff, tgidOff)) !== 0 || ids.readInt32LE(tgidOff - Math.min(pidOff, tgidOff)) !== 0) continue;
      const pa = BigInt(base);
      const va = pa - physBase + START_KERNEL_MAP;
      checked++;
      try {
        if (BigInt(await this.virt.toPhys(va, this.dtb)) !== pa) continue;
        const t = await this.read('task_struct', va);
        if (t.int('pid') !== 0 || t.int('tgid') !== 0) continue;
        const next = t.ptr('tasks.next');
        const back = (await this.virt.read(next + prevOff, 8, { dtb: this.dtb })).readBigUInt64LE(0);
        if (back === va + tasksOff) return va;
      } catch {
        // Not it: a copy of the string elsewhere, or a page that does not translate.
      }
    }
    throw new VigilError('VIGIL_VMI_KERNEL', `init_task not found (${checked} swapper/0 candidate(s) checked): the guest may still be booting; supply a vmlinux or System.map for its address`, { context: { checked } });
  }
}

/** How far past init_top_pgt the search for init_task goes (the rest of .data; .bss is not searched). */
const IMAGE_DATA_SLACK = 32 << 20;

/** The page-table root VMCOREINFO names, if it maps init_top_pgt to itself. */
async function checkRoot(mem: KernelMemory, info: VmcoreInfo): Promise<{ dtb: bigint; virt: VirtualMemory; physBase: bigint; topPgt: bigint } | undefined> {
  const physBase = info.numbers.get('phys_base');
  const topPgt = info.symbols.get('init_top_pgt');
  if (physBase === undefined || topPgt === undefined) return undefined;
  const levels: PagingLevels = info.numbers.get('pgtable_l5_enabled') === 1n ? 5 : 4;
  const dtb = topPgt - START_KERNEL_MAP + physBase;
  if (dtb <= 0n) return undefined;
  const virt = new VirtualMemory(mem, levels);
  const self = await virt.toPhys(topPgt, dtb).catch(() => undefined);
  return self !== undefined && BigInt(self) === dtb ? { dtb, virt, physBase, topPgt } : undefined;
}

/** `0x`-prefixed hex. */
export function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}
