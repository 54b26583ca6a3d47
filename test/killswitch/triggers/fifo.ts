/** FIFOs standing in for /dev/input/event* in tests and the benchmark (a real evdev node cannot be made here). */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export function mkfifo(path: string): void {
  execFileSync('mkfifo', ['-m', '0600', path]);
}

/** Opens the FIFO's write end; resolves once the trigger has opened its read end. */
export function openWriter(path: string): Promise<FileHandle> {
  return open(path, 'w');
}

/**
 * Wakes and releases every reader still blocked on the FIFO (in open() or read()) after the trigger was stopped:
 * a non-blocking writer opened and closed gives them EOF; ENXIO means no reader is left.
 */
export async function drainReaders(path: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch {
      return;
    }
    closeSync(fd);
    await sleep(20);
  }
}
