/**
 * The gdbstub client against a scripted stub on a real Unix socket, for misbehaviour QEMU does not produce on
 * demand: a corrupted packet (the client asks again with '-'), a refused packet (the client sends it again), a
 * stub that never answers, a stub that hangs up mid-request, an `Exx` reply.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isVigilError } from '../../src/core/errors.js';
import { GdbClient } from '../../src/gdb/client.js';
import { checksumHex, RspFramer } from '../../src/gdb/framer.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-fake-gdb-'));
let n = 0;
const servers: Server[] = [];

after(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

function packet(text: string, corrupt = false): string {
  const cs = checksumHex(Buffer.from(text, 'latin1'));
  return `$${text}#${corrupt ? (cs === '00' ? '01' : '00') : cs}`;
}

/**
 * A stub that acks every packet and answers through `reply(packet, socket, count)`: a string is sent as a
 * packet, undefined sends nothing. Returns the socket path and the packets it received.
 */
async function fakeStub(reply: (p: string, s: Socket, count: number) => string | undefined): Promise<{ path: string; received: string[]; raw: string[] }> {
  const path = join(dir, `stub-${n++}.sock`);
  const received: string[] = [];
  const raw: string[] = [];
  const server = createServer((socket) => {
    const framer = new RspFramer();
    let last: string | undefined;
    socket.on('data', (chunk: Buffer) => {
      raw.push(chunk.toString('latin1'));
      for (const f of framer.push(chunk)) {
        // The client did not get our last packet right: send it again, the way a stub does; resends are clean.
        if (f.kind === 'nack' && last !== undefined) socket.write((last = packet(last.slice(1, last.indexOf('#')))));
        if (f.kind !== 'packet') continue;
        const text = f.payload.toString('latin1');
        received.push(text);
        const count = received.filter((r) => r === text).length;
        socket.write('+');
        const answer = reply(text, socket, count);
        if (answer !== undefined) socket.write((last = answer.startsWith('$') ? answer : packet(answer)));
      }
    });
    socket.on('error', () => undefined);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(path, r));
  return { path, received, raw };
}

/** The handshake answers of a minimal stub. */
function handshake(p: string): string | undefined {
  if (p.startsWith('qSupported')) return 'PacketSize=200';
  if (p === '?') return 'S05';
  return undefined;
}

test('a corrupted reply is answered with - and the resent one is used', async () => {
  const stub = await fakeStub((p, _s, count) => {
    if (p.startsWith('qSupported') && count === 1) return packet('PacketSize=200', true);
    return handshake(p);
  });
  const client = new GdbClient({ connectTimeoutMs: 2000 });
  await client.connect({ path: stub.path });
  assert.equal(client.packetSize, 0x200);
  assert.ok(stub.raw.join('').includes('-'), 'the client asked for the packet again');
  client.close();
});

test('a packet the stub refuses (-) is sent again', async () => {
  let refused = false;
  const path = join(dir, `stub-${n++}.sock`);
  const server = createServer((socket) => {
    const framer = new RspFramer();
    socket.on('data', (chunk: Buffer) => {
      for (const f of framer.push(chunk)) {
        if (f.kind !== 'packet') continue;
        const text = f.payload.toString('latin1');
        if (text.startsWith('qSupported') && !refused) {
          refused = true;
          socket.write('-');
          continue;
        }
        socket.write('+');
        const a = handshake(text);
        if (a !== undefined) socket.write(packet(a));
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(path, r));
  const client = new GdbClient({ connectTimeoutMs: 2000 });
  await client.connect({ path });
  assert.equal(client.stats.retransmits, 1);
  assert.equal(client.state, 'stopped');
  client.close();
});

test('no reply: VIGIL_GDB_TIMEOUT names the packet; a connect without answer is VIGIL_GDB_CONNECT', async () => {
  const stub = await fakeStub((p) => (p.startsWith('m') ? undefined : handshake(p)));
  const client = new GdbClient({ requestTimeoutMs: 300 });
  await client.connect({ path: stub.path });
  await assert.rejects(client.readMemory(0x1000n, 16), (e) => isVigilError(e, 'VIGIL_GDB_TIMEOUT') && /\bm\b/.test(e.message));
  client.close();
  const silent = await fakeStub(() => undefined);
  const c2 = new GdbClient({ connectTimeoutMs: 300 });
  await assert.rejects(c2.connect({ path: silent.path }), (e) => isVigilError(e, 'VIGIL_GDB_CONNECT') && /one debugger at a time/.test(e.message));
  assert.equal(c2.state, 'idle');
});

test('the stub hangs up mid-request: the pending call and a stop waiter reject with VIGIL_GDB_DISCONNECTED', async () => {
  const stub = await fakeStub((p, s) => {
    if (p.startsWith('g')) {
      s.destroy();
      return undefined;
    }
    return handshake(p);
  });
  const client = new GdbClient();
  await client.connect({ path: stub.path });
  await assert.rejects(client.request('g'), (e) => isVigilError(e, 'VIGIL_GDB_DISCONNECTED'));
  assert.equal(client.state, 'idle');
  await assert.rejects(client.request('g'), (e) => isVigilError(e, 'VIGIL_GDB_DISCONNECTED'));
  await assert.rejects(client.nextStop(), (e) => isVigilError(e, 'VIGIL_GDB_DISCONNECTED'));
});

test('Exx replies are VIGIL_GDB_ERROR with the errno; an empty reply to Z is VIGIL_GDB_UNSUPPORTED; requests while running are refused', async () => {
  const stub = await fakeStub((p) => {
    if (p.startsWith('m')) return 'E14';
    if (p.startsWith('Z')) return '';
    if (p.startsWith('vCont')) return undefined;
    return handshake(p);
  });
  const client = new GdbClient();
  await client.connect({ path: stub.path });
  await assert.rejects(client.readMemory(0x10n, 4), (e) => isVigilError(e, 'VIGIL_GDB_ERROR') && e.context.errno === 0x14);
  await assert.rejects(client.insertBreakpoint('hardware', 0x1000n, 1), (e) => isVigilError(e, 'VIGIL_GDB_UNSUPPORTED'));
  // Memory reads are split by PacketSize (0x200 = 512 bytes -> 256 bytes per m).
  assert.equal(client.maxReadChunk, 256);
  await client.continue();
  assert.equal(client.state, 'running');
  await assert.rejects(client.request('g'), (e) => isVigilError(e, 'VIGIL_GDB_STATE') && /pause the guest first/.test(e.message));
  client.close();
});
