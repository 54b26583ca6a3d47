/**
 * A scripted QMP server on a real Unix socket, for misbehaviour a real QEMU will not produce (id-less errors,
 * garbage, oversize lines, silence). Everything a real QEMU can do is tested against a real QEMU.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const GREETING = JSON.stringify({
  QMP: { version: { qemu: { micro: 0, minor: 2, major: 7 }, package: 'fake' }, capabilities: ['oob'] },
});

/** What the script does with each message the client sends. */
export type FakeHandler = (msg: Record<string, unknown>, socket: Socket) => void;

export interface FakeQmp {
  path: string;
  received: Record<string, unknown>[];
  sockets: Socket[];
  close(): Promise<void>;
}

/** Starts a fake server; `greet: false` accepts connections and says nothing. */
export async function startFakeQmp(handler: FakeHandler, options: { greet?: boolean } = {}): Promise<FakeQmp> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-fakeqmp-'));
  const path = join(dir, 'qmp.sock');
  const received: Record<string, unknown>[] = [];
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    if (options.greet !== false) socket.write(GREETING + '\n');
    let buf = '';
    socket.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      let nl = buf.indexOf('\n');
      while (nl !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const msg = JSON.parse(line) as Record<string, unknown>;
        received.push(msg);
        if (msg.execute === 'qmp_capabilities') socket.write(JSON.stringify({ return: {}, id: msg.id }) + '\n');
        else handler(msg, socket);
        nl = buf.indexOf('\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    received,
    sockets,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Replies `{"return": value}` with the request's id. */
export function reply(socket: Socket, msg: Record<string, unknown>, value: unknown = {}): void {
  socket.write(JSON.stringify({ return: value, id: msg.id }) + '\n');
}
