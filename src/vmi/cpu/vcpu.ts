/**
 * vCPU state of a VM through its gdbstub: the vCPUs (gdb threads) by index, their registers (CR3 included, as the
 * target description names them), guest virtual memory as a vCPU sees it, physical memory through QEMU's
 * physical mode, and the primitive pause / resume / single-step. The events layer (vmi/events) drives the guest
 * through this; use one or the other to resume, not both.
 */
import { VigilError } from '../../core/errors.js';
import { GdbClient, type GdbAddress, type GdbClientOptions, type GdbThread, type RegisterValue } from '../../gdb/client.js';
import type { StopReply, ThreadId } from '../../gdb/stop-reply.js';

/** One vCPU: its index (0-based, QEMU's CPU#n) and the gdb thread that stands for it. */
export interface Vcpu {
  index: number;
  thread: ThreadId;
  /** What the stub says of it (QEMU: `CPU#0 [halted ]`). */
  description?: string;
}

/** Integer registers by name (rip, rsp, cr3, eflags ...); registers wider than 64 bits included as bigints. */
export type Registers = Record<string, bigint>;

/** The registers printed first and checked by `regs`: the ones that say where a vCPU is and what it runs. */
export const CORE_REGISTERS = ['rip', 'rsp', 'rbp', 'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'eflags', 'cs', 'ss', 'fs_base', 'gs_base', 'cr0', 'cr2', 'cr3', 'cr4', 'efer'] as const;

function sameThread(a: ThreadId, b: ThreadId): boolean {
  return a.tid === b.tid && (a.pid === undefined || b.pid === undefined || a.pid === b.pid);
}

/** vCPU control over one gdbstub connection. Open with `VmiCpu.open(...)`, end with `close()`. */
export class VmiCpu {
  readonly gdb: GdbClient;
  private list: Vcpu[] = [];
  private physicalChain: Promise<unknown> = Promise.resolve();

  private constructor(gdb: GdbClient) {
    this.gdb = gdb;
  }

  /** Attaches to the gdbstub (QEMU pauses the guest on attach) and lists the vCPUs. */
  static async open(address: GdbAddress | string, options: GdbClientOptions = {}): Promise<VmiCpu> {
    const gdb = new GdbClient(options);
    await gdb.connect(typeof address === 'string' ? { path: address } : address);
    const cpu = new VmiCpu(gdb);
    try {
      cpu.list = (await gdb.threads()).map((t: GdbThread) => ({ index: t.vcpu, thread: t.id, ...(t.extra === undefined ? {} : { description: t.extra }) }));
    } catch (err) {
      gdb.close();
      throw err;
    }
    return cpu;
  }

  /** The vCPUs, by index. */
  get vcpus(): readonly Vcpu[] {
    return this.list;
  }

  /** True while the guest runs (as far as this connection knows). */
  get running(): boolean {
    return this.gdb.state === 'running';
  }

  /** The vCPU with this index; VIGIL_INVALID_INPUT names the valid range. */
  vcpu(index: number): Vcpu {
    const v = this.list.find((c) => c.index === index);
    if (v === undefined) {
      throw new VigilError('VIGIL_INVALID_INPUT', `vcpu ${index} does not exist; this VM has vCPUs 0..${this.list.length - 1}`, {
        context: { field: 'vcpu', value: index, count: this.list.length },
      });
    }
    return v;
  }

  /** The vCPU index of a gdb thread id (from a stop reply). */
  vcpuOfThread(thread: ThreadId | undefined): number {
    if (thread === undefined) return this.list[0]?.index ?? 0;
    return this.list.find((c) => sameThread(c.thread, thread))?.index ?? Math.max(0, thread.tid - 1);
  }

  /** Every register of a vCPU as numbers (unavailable ones left out). The guest must be paused. */
  async registers(vcpu = 0): Promise<Registers> {
    const raw = await this.gdb.readRegisters(this.vcpu(vcpu).thread);
    return toRegisters(raw);
  }

  /** One register of a vCPU (e.g. 'rip', 'cr3'). */
  async register(name: string, vcpu = 0): Promise<bigint> {
    const v = await this.gdb.readRegister(name, this.vcpu(vcpu).thread);
    if (v.value === undefined) throw new VigilError('VIGIL_GDB_UNSUPPORTED', `register ${name} of vcpu ${vcpu} is unavailable`, { context: { register: name, vcpu } });
    return v.value;
  }

  /** Writes registers of a vCPU (names as the target description has them). */
  async setRegisters(values: Registers, vcpu = 0): Promise<void> {
    const thread = this.vcpu(vcpu).thread;
    for (const [name, value] of Object.entries(values)) await this.gdb.writeRegister(name, value, thread);
  }

  /** Reads guest virtual memory through the vCPU's own page tables (QEMU walks them). */
  async readVirtual(address: bigint, length: number, vcpu = 0): Promise<Buffer> {
    return this.inMode(async () => {
      await this.gdb.selectThread(this.vcpu(vcpu).thread);
      return this.gdb.readMemory(address, length);
    });
  }

  /** Writes guest physical memory with QEMU's physical mode, switched back to virtual afterwards. */
  async writePhysical(address: bigint, data: Uint8Array): Promise<void> {
    return this.inMode(async () => {
      await this.gdb.setPhysicalMemoryMode(true);
      try {
        await this.gdb.writeMemory(address, data);
      } finally {
        await this.gdb.setPhysicalMemoryMode(false);
      }
    });
  }

  /** Runs memory accesses one at a time: the physical/virtual mode is the connection's, shared by all of them. */
  private inMode<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.physicalChain.then(fn);
    this.physicalChain = run.catch(() => undefined);
    return run;
  }

  /** Reads guest physical memory with QEMU's physical mode, switched back to virtual afterwards. */
  async readPhysical(address: bigint, length: number): Promise<Buffer> {
    // One at a time: the mode is the connection's, and two interleaved reads would run one of them in virtual mode.
    return this.inMode(async () => {
      await this.gdb.setPhysicalMemoryMode(true);
      try {
        return await this.gdb.readMemory(address, length);
      } finally {
        await this.gdb.setPhysicalMemoryMode(false);
      }
    });
  }

  /** Pauses a running guest (all vCPUs) and returns the stop; the stop is the interrupt's or a concurrent event's. */
  pause(timeoutMs?: number): Promise<StopReply> {
    return this.gdb.pause(timeoutMs);
  }

  /** Resumes every vCPU. */
  resume(): Promise<void> {
    return this.gdb.continue();
  }

  /** Single-steps one vCPU (the others stay stopped) and waits for the stop. */
  async step(vcpu = 0, timeoutMs = 10_000): Promise<StopReply> {
    await this.gdb.step(this.vcpu(vcpu).thread);
    return this.gdb.nextStop(timeoutMs);
  }

  /** Detaches: QEMU removes the breakpoints it holds for us and resumes the guest. */
  close(): Promise<void> {
    return this.gdb.detach();
  }
}

/** Register values as a name -> bigint record, leaving out the unavailable ones. */
export function toRegisters(raw: Map<string, RegisterValue>): Registers {
  const out: Registers = {};
  for (const [name, v] of raw) if (v.value !== undefined) out[name] = v.value;
  return out;
}
