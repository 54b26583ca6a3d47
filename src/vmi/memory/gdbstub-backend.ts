/**
 * The last-resort backend: QEMU's gdbstub in physical mode (`Qqemu.PhyMemMode:1`), for a VM started without a
 * RAM file and without ptrace rights over its QEMU. It reaches RAM and ROMs alike, but only while the guest is
 * stopped (attaching pauses it; closing resumes it), one packet at a time: tens of MB/s, not GB/s.
 */
import { VigilError } from '../../core/errors.js';
import type { VmiCpu } from '../cpu/vcpu.js';
import type { BackendCapabilities, MemoryBackend } from './backend.js';
import type { RamRange } from './phys-map.js';

/** Reads and writes guest-physical memory through an attached gdbstub. */
export class GdbstubBackend implements MemoryBackend {
  readonly name = 'gdbstub';
  readonly capabilities: BackendCapabilities;
  private open = true;

  constructor(
    readonly cpu: VmiCpu,
    options: { writable?: boolean } = {},
  ) {
    this.capabilities = { read: true, write: options.writable ?? false, whileRunning: false, needsPtrace: false, roms: true, maxTransfer: 64 << 10 };
  }

  /** Every range: the gdbstub reads the guest's whole physical address space. */
  serves(): boolean {
    return true;
  }

  /** A physical-mode read of `dst.length` bytes at `pa`. */
  async read(_range: RamRange, _blockOffset: number, pa: number, dst: Buffer): Promise<void> {
    this.check();
    (await this.cpu.readPhysical(BigInt(pa), dst.length)).copy(dst);
  }

  /** A physical-mode write (the guest sees it when it resumes). */
  async write(_range: RamRange, _blockOffset: number, pa: number, src: Buffer): Promise<void> {
    this.check();
    if (!this.capabilities.write) throw new VigilError('VIGIL_VMI_BACKEND', 'this gdbstub backend was opened read-only', {});
    await this.cpu.writePhysical(BigInt(pa), src);
  }

  /** Detaches: QEMU resumes the guest. */
  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.cpu.close();
  }

  private check(): void {
    if (!this.open) throw new VigilError('VIGIL_VMI_BACKEND', 'the gdbstub backend is closed', {});
  }
}
