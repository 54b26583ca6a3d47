/**
 * The primary backend: guest RAM is a `memory-backend-file` with `share=on`, so the file's page-cache pages are
 * the guest's own memory. Offsets in the file are offsets in the RAM block.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { VigilError } from '../../core/errors.js';
import type { BackendCapabilities, MemoryBackend } from './backend.js';
import { preadFully, pwriteFully } from './file-io.js';
import type { RamRange } from './phys-map.js';

/** Reads (and, opened writable, writes) the shared RAM file of one memory backend. */
export class RamFileBackend implements MemoryBackend {
  readonly name = 'ram-file';
  readonly capabilities: BackendCapabilities;
  private fd: number | undefined;
  readonly size: number;

  /** Opens `path`, the file of memory backend `block` (its QOM id, e.g. `ram`). */
  constructor(
    readonly path: string,
    readonly block: string,
    options: { writable?: boolean } = {},
  ) {
    const writable = options.writable ?? false;
    try {
      this.fd = openSync(path, writable ? 'r+' : 'r');
    } catch (err) {
      throw new VigilError('VIGIL_VMI_BACKEND', `cannot open the guest RAM file ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}): the VM needs 'introspection: true' and must be running`, {
        cause: err,
        context: { path },
      });
    }
    this.size = fstatSync(this.fd).size;
    this.capabilities = { read: true, write: writable, whileRunning: true, needsPtrace: false, roms: false, maxTransfer: 1 << 20 };
  }

  /** Only ranges of its own block. */
  serves(range: RamRange): boolean {
    return range.block === this.block;
  }

  /** A pread of the file. */
  read(_range: RamRange, blockOffset: number, _pa: number, dst: Buffer): Promise<void> {
    preadFully(this.openFd(), dst, blockOffset, `RAM file ${this.path}`);
    return Promise.resolve();
  }

  /** A pwrite of the file (seen by the guest at once: the mapping is shared). */
  write(_range: RamRange, blockOffset: number, _pa: number, src: Buffer): Promise<void> {
    if (!this.capabilities.write) throw new VigilError('VIGIL_VMI_BACKEND', 'this RAM file backend was opened read-only', { context: { path: this.path } });
    pwriteFully(this.openFd(), src, blockOffset, `RAM file ${this.path}`);
    return Promise.resolve();
  }

  /** Closes the file. */
  close(): Promise<void> {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    return Promise.resolve();
  }

  private openFd(): number {
    if (this.fd === undefined) throw new VigilError('VIGIL_VMI_BACKEND', 'the RAM file backend is closed', { context: { path: this.path } });
    return this.fd;
  }
}
