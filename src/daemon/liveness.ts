/**
 * vigild's liveness, for the guardian: a Unix socket vigild listens on (the guardian holds a connection; the
 * kernel closes it the instant vigild dies, however it dies) and a clean-stop marker written just before a
 * deliberate stop closes that socket. A close without the marker is a crash.
 */
import { rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../core/log.js';

/** The socket vigild listens on while alive (in the runtime directory). */
export const LIVENESS_SOCKET = 'vigild.live.sock';
/** Written with vigild's pid when it stops on purpose; removed when it starts. */
export const CLEAN_STOP_MARKER = 'vigild.clean';

/** vigild's side: `markCleanAndClose()` at the end of a deliberate stop. */
export interface Liveness {
  markCleanAndClose(): Promise<void>;
}

/**
 * Starts listening; each guardian that connects is told vigild's pid and then held open. Never throws: without the
 * socket the guardian still sees a death through the pidfile (polled), only later, so vigild starts anyway.
 */
export async function startLiveness(runtimeDir: string, logger?: Logger): Promise<Liveness> {
  const socketPath = join(runtimeDir, LIVENESS_SOCKET);
  const marker = join(runtimeDir, CLEAN_STOP_MARKER);
  rmSync(marker, { force: true });
  rmSync(socketPath, { force: true });
  const peers = new Set<Socket>();
  const server = createServer((s) => {
    peers.add(s);
    s.on('close', () => peers.delete(s));
    s.on('error', () => undefined);
    s.write(`${process.pid}\n`);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    chmodSync(socketPath, 0o600);
  } catch (err) {
    server.close();
    logger?.error({ err: String(err), socket: socketPath }, 'liveness socket not served; the guardian falls back to polling the pidfile');
    return { markCleanAndClose: () => Promise.resolve(writeFileSync(marker, `${process.pid}\n`, { mode: 0o600 })) };
  }
  return {
    async markCleanAndClose() {
      // The marker first: a guardian that sees the socket close then finds it and stands down.
      writeFileSync(marker, `${process.pid}\n`, { mode: 0o600 });
      for (const s of peers) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
