/** Positioned reads and writes of a whole buffer on a file descriptor, shared by the file-based backends. */
import { readSync, writeSync } from 'node:fs';
import { VigilError } from '../../core/errors.js';

/**
 * Reads exactly dst.length bytes at `position`. Synchronous on purpose: a pread of a page-cache-backed file
 * costs less than the thread-pool round trip of the async API, and these reads never block on a device.
 */
export function preadFully(fd: number, dst: Buffer, position: number, what: string): void {
  let done = 0;
  while (done < dst.length) {
    const n = readSync(fd, dst, done, dst.length - done, position + done);
    if (n === 0) {
      throw new VigilError('VIGIL_VMI_BACKEND', `${what}: short read at offset 0x${(position + done).toString(16)} (${done} of ${dst.length} bytes)`, {
        context: { position: position + done, wanted: dst.length },
      });
    }
    done += n;
  }
}

/** Writes all of `src` at `position`. */
export function pwriteFully(fd: number, src: Buffer, position: number, what: string): void {
  let done = 0;
  while (done < src.length) {
    const n = writeSync(fd, src, done, src.length - done, position + done);
    if (n === 0) throw new VigilError('VIGIL_VMI_BACKEND', `${what}: short write at offset 0x${(position + done).toString(16)}`, { context: { position: position + done } });
    done += n;
  }
}
