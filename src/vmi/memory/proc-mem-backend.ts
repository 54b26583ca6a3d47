/**
 * The fallback for VMs started without a RAM file: QEMU's own address space through `/proc/<pid>/mem`. Each RAM
 * range's host virtual address comes from HMP `gpa2hva`. Needs ptrace rights over QEMU (same user with
 * ptrace_scope 0, or CAP_SYS_PTRACE).
 */
import { closeSync, openSync } from 'node:fs';
import { VigilError } from '../../core/errors.js';
import type { QmpChannel } from '../../qmp/types.js';
import type { BackendCapabilities, MemoryBackend } from './backend.js';
import { preadFully, pwriteFully } from './file-io.js';
import type { PhysMap, RamRange } from './phys-map.js';
import { gpaToHva } from './qemu-map.js';

/** Reads guest RAM out of QEMU's process memory. */
export class ProcMemBackend implements MemoryBackend {
  readonly name = 'proc-mem';
  readonly capabilities: BackendCapabilities;
  private fd: number | undefined;

  private constructor(
    readonly pid: number,
    fd: number,
    writable: boolean,
    /** Host virtual address of each range's first byte, by range start. */
    private readonly hva: ReadonlyMap<number, number>,
  ) {
    this.fd = fd;
    this.capabilities = { read: true, write: writable, whileRunning: true, needsPtrace: true, roms: true, maxTransfer: 1 << 20 };
  }

  /** Opens QEMU `pid`'s memory and asks QEMU (raw channel) where each range of `map` lives in it. */
  static async open(pid: number, channel: QmpChannel, map: PhysMap, options: { writable?: boolean } = {}): Promise<ProcMemBackend> {
    const hva = new Map<number, number>();
    for (const r of map.ranges) {
      try {
        hva.set(r.start, Number(await gpaToHva(channel, r.start)));
      } catch (err) {
        // A region without host memory of its own (a ROM device in MMIO mode) is simply not served.
        if (!(err instanceof VigilError) || err.code !== 'VIGIL_VMI_BACKEND') throw err;
      }
    }
    if (hva.size === 0) throw new VigilError('VIGIL_VMI_BACKEND', `QEMU gave no host address for any RAM range of process ${pid}`, { context: { pid } });
    const path = `/proc/${pid}/mem`;
    let fd: number;
    try {
      fd = openSync(path, options.writable === true ? 'r+' : 'r');
    } catch (err) {
      throw new VigilError('VIGIL_VMI_BACKEND', `cannot open ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}): reading QEMU's memory needs ptrace rights over it (same user and kernel.yama.ptrace_scope=0, or CAP_SYS_PTRACE)`, {
        cause: err,
        context: { pid, path },
      });
    }
    return new ProcMemBackend(pid, fd, options.writable === true, hva);
  }

  /** Every range QEMU gave a host address for (ROMs included). */
  serves(range: RamRange): boolean {
    return this.hva.has(range.start);
  }

  /** A pread of QEMU's memory at the range's host address. */
  read(range: RamRange, blockOffset: number, _pa: number, dst: Buffer): Promise<void> {
    preadFully(this.openFd(), dst, this.address(range, blockOffset), `/proc/${this.pid}/mem`);
    return Promise.resolve();
  }

  /** A pwrite of QEMU's memory. */
  write(range: RamRange, blockOffset: number, _pa: number, src: Buffer): Promise<void> {
    if (!this.capabilities.write) throw new VigilError('VIGIL_VMI_BACKEND', 'this /proc/<pid>/mem backend was opened read-only', { context: { pid: this.pid } });
    pwriteFully(this.openFd(), src, this.address(range, blockOffset), `/proc/${this.pid}/mem`);
    return Promise.resolve();
  }

  /** Closes the file. */
  close(): Promise<void> {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    return Promise.resolve();
  }

  private address(range: RamRange, blockOffset: number): number {
    const base = this.hva.get(range.start);
    if (base === undefined) throw new VigilError('VIGIL_VMI_BACKEND', `no host address known for the RAM range at 0x${range.start.toString(16)}`, { context: { start: range.start } });
    return base + (blockOffset - range.blockOffset);
  }

  private openFd(): number {
    if (this.fd === undefined) throw new VigilError('VIGIL_VMI_BACKEND', 'the /proc/<pid>/mem backend is closed', { context: { pid: this.pid } });
    return this.fd;
  }
}
