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
    const findBtf = options.btfFile === undefined ? locateBtf(mem).then((l) => l.btf) : readBtfFile(options.btfFile);
    const [btf, info] = await Promise.all([findBtf, locateVmcoreinfo(mem)]);
    const physBase = info.numbers.get('phys_base');
    const topPgt = info.symbols.get('init_top_pgt');
    if (physBase === undefined || topPgt === undefined) {
      throw new VigilError('VIGIL_VMI_KERNEL', 'VMCOREINFO lacks NUMBER(phys_base) or SYMBOL(init_top_pgt): not an x86-64 kernel Vigil knows; supply a vmlinux', {});
    }
    const levels: PagingLevels = info.numbers.get('pgtable_l5_enabled') === 1n ? 5 : 4;
    const dtb = topPgt - START_KERNEL_MAP + physBase;
    const virt = new VirtualMemory(mem, levels);
    // The DTB must map its own symbol to itself: a wrong phys_base or a torn read shows here, not as wrong answers later.
    const self = await virt.toPhys(topPgt, dtb).catch(() => undefined);
    if (self === undefined || BigInt(self) !== dtb) {
      throw new VigilError('VIGIL_VMI_KERNEL', `the kernel page-table root at ${hex(dtb)} does not map init_top_pgt to itself: the guest may still be booting, or memory does not hold together`, { context: { dtb: hex(dtb) } });
    }
    const kernel = new LinuxKernel(mem, btf, info, virt, dtb, 0n);
    return new LinuxKernel(mem, btf, info, virt, dtb, await kernel.findInitTask(physBase));
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
  private async findInitTask(physBase: bigint): Promise<bigint> {
    const task = this.layout('task_struct');
    const commOff = task.offsetOf('comm');
    const tasksOff = BigInt(task.offsetOf('tasks'));
    const prevOff = BigInt(this.layout('list_head').offsetOf('prev'));
    let checked = 0;
    for (const hit of await this.mem.search(Buffer.from('swapper/0\0'), { limit: 64 })) {
      const pa = BigInt(hit - commOff);
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

/** `0x`-prefixed hex. */
export function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}
