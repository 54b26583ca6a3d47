/** Types commands into a Vigil VM's serial console shell and waits for their output in the serial log. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Sends one line to the serial socket (the test guest runs a shell there). */
export async function typeLine(serialSocket: string, line: string): Promise<void> {
  const socket = createConnection({ path: serialSocket });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  await new Promise<void>((resolve) => socket.write(`${line}\n`, () => resolve()));
  // Give QEMU a moment to read it before the connection goes.
  await sleep(200);
  socket.destroy();
}

/** Waits until the serial log (from byte `from` on) has a line matching `pattern`; returns the match. */
export async function waitForLog(serialLog: string, pattern: RegExp, timeoutMs = 60000, from = 0): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(serialLog) ? readFileSync(serialLog).subarray(from).toString('utf8') : '';
    const m = text.match(pattern);
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`serial log has no ${pattern} after ${timeoutMs} ms; tail:\n${text.split('\n').slice(-10).join('\n')}`);
    await sleep(100);
  }
}

/** The serial log's size now: pass it as `from` to wait only for output that comes later. */
export function logSize(serialLog: string): number {
  return existsSync(serialLog) ? statSync(serialLog).size : 0;
}
