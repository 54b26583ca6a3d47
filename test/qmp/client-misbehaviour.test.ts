/** The QMP client against peers that break the protocol: every call settles with a typed error, none hangs. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { isVigilError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { QmpClient } from '../../src/qmp/client.js';
import { reply, startFakeQmp, type FakeQmp } from '../helpers/fake-qmp.js';

const servers: FakeQmp[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function fake(...args: Parameters<typeof startFakeQmp>): Promise<FakeQmp> {
  const s = await startFakeQmp(...args);
  servers.push(s);
  return s;
}

function client(opts: ConstructorParameters<typeof QmpClient>[0] = {}): QmpClient {
  return new QmpClient({ logger: silentLogger, ...opts });
}

test('handshake negotiates oob when offered, and replies are matched by id out of order', async () => {
  const held: Array<() => void> = [];
  const server = await fake((msg, socket) => {
    held.push(() => reply(socket, msg, { echo: msg.execute }));
    if (held.length === 3) for (const send of held.reverse()) send();
  });
  const qmp = client();
  const states: string[] = [];
  qmp.onStateChange((s) => states.push(s));
  const greeting = await qmp.connect({ path: server.path });
  assert.equal(greeting.QMP.version.package, 'fake');
  assert.deepEqual(server.received[0], { execute: 'qmp_capabilities', id: 'v1', arguments: { enable: ['oob'] } });
  assert.equal(qmp.oobEnabled, true);
  const results = await Promise.all([qmp.execute('a'), qmp.execute('b'), qmp.execute('c')]);
  assert.deepEqual(results, [{ echo: 'a' }, { echo: 'b' }, { echo: 'c' }]);
  await qmp.close();
  assert.deepEqual(states, ['connecting', 'running', 'disconnecting', 'idle']);
});

test('an id-less error fails the pending call with a protocol error and drops the connection', async () => {
  const server = await fake((_msg, socket) => {
    socket.write('{"error": {"class": "GenericError", "desc": "JSON parse error, invalid keyword"}}\n');
  });
  const qmp = client();
  await qmp.connect({ path: server.path });
  await assert.rejects(qmp.execute('query-status'), (err) => {
    assert.ok(isVigilError(err, 'VIGIL_QMP_PROTOCOL'));
    assert.match(err.message, /without an id: JSON parse error/);
    return true;
  });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(qmp.state, 'idle');
  await assert.rejects(qmp.execute('query-status'), (err) => isVigilError(err, 'VIGIL_QMP_DISCONNECTED'));
});

test('a garbage line fails every pending call with a protocol error', async () => {
  const server = await fake((_msg, socket) => socket.write('this is not json\n'));
  const qmp = client();
  await qmp.connect({ path: server.path });
  const a = qmp.execute('one');
  const b = qmp.execute('two');
  await assert.rejects(a, (err) => isVigilError(err, 'VIGIL_QMP_PROTOCOL') && /not JSON/.test(err.message));
  await assert.rejects(b, (err) => isVigilError(err, 'VIGIL_QMP_PROTOCOL'));
});

test('an oversize line is a typed error, not a crash or an unbounded buffer', async () => {
  const server = await fake((_msg, socket) => {
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    for (let i = 0; i < 3; i++) socket.write(chunk);
  });
  const qmp = client({ maxLineBytes: 2 * 1024 * 1024 });
  await qmp.connect({ path: server.path });
  await assert.rejects(qmp.execute('query-qmp-schema'), (err) => isVigilError(err, 'VIGIL_QMP_FRAME_TOO_LARGE'));
});

test('the default bound is 16 MiB', async () => {
  const server = await fake((_msg, socket) => {
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    for (let i = 0; i < 17; i++) socket.write(chunk);
  });
  const qmp = client();
  await qmp.connect({ path: server.path });
  await assert.rejects(qmp.execute('x'), (err) => isVigilError(err, 'VIGIL_QMP_FRAME_TOO_LARGE') && err.context.maxLineBytes === 16 * 1024 * 1024);
});

test('a socket that accepts but never greets times out and leaves the client idle', async () => {
  const server = await fake(() => undefined, { greet: false });
  const qmp = client({ connectTimeoutMs: 200 });
  const started = Date.now();
  await assert.rejects(qmp.connect({ path: server.path }), (err) => isVigilError(err, 'VIGIL_QMP_TIMEOUT') && err.context.phase === 'greeting');
  assert.ok(Date.now() - started < 2000);
  assert.equal(qmp.state, 'idle');
});

test('a missing socket is a connect error that names it', async () => {
  const qmp = client();
  await assert.rejects(qmp.connect({ path: '/nonexistent/vigil/qmp.sock' }), (err) => {
    assert.ok(isVigilError(err, 'VIGIL_QMP_CONNECT'));
    assert.match(err.message, /\/nonexistent\/vigil\/qmp\.sock/);
    return true;
  });
  assert.equal(qmp.state, 'idle');
});

test('a command with no reply times out; its late reply is dropped; the connection stays usable', async () => {
  let first: (() => void) | undefined;
  const server = await fake((msg, socket) => {
    if (msg.execute === 'slow') first = () => reply(socket, msg, 'late');
    else reply(socket, msg, 'fast');
  });
  const qmp = client();
  await qmp.connect({ path: server.path });
  await assert.rejects(qmp.execute('slow', undefined, { timeoutMs: 50 }), (err) => isVigilError(err, 'VIGIL_QMP_TIMEOUT') && err.context.command === 'slow');
  first?.();
  assert.equal(await qmp.execute('quick'), 'fast');
  await qmp.close();
});

test('an aborted call rejects at once', async () => {
  const server = await fake(() => undefined);
  const qmp = client();
  await qmp.connect({ path: server.path });
  const ac = new AbortController();
  const call = qmp.execute('never', undefined, { signal: ac.signal });
  ac.abort();
  await assert.rejects(call, (err) => isVigilError(err, 'VIGIL_ABORTED'));
  await qmp.close();
});

test('a dropped socket rejects pending calls, waiters and ends event streams', async () => {
  const server = await fake((_msg, socket) => socket.destroy());
  const qmp = client();
  await qmp.connect({ path: server.path });
  const stream = qmp.events();
  const waiter = qmp.waitForEvent('SHUTDOWN', undefined, 10000);
  await assert.rejects(qmp.execute('anything'), (err) => isVigilError(err, 'VIGIL_QMP_DISCONNECTED'));
  await assert.rejects(waiter, (err) => isVigilError(err, 'VIGIL_QMP_DISCONNECTED'));
  assert.deepEqual(await stream.next(), { value: undefined, done: true });
});

test('reconnect with backoff after the server drops the connection', async () => {
  const server = await fake((msg, socket) => {
    if (msg.execute === 'drop') socket.destroy();
    else reply(socket, msg, 'pong');
  });
  const qmp = client({ reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
  await qmp.connect({ path: server.path });
  await assert.rejects(qmp.execute('drop'), (err) => isVigilError(err, 'VIGIL_QMP_DISCONNECTED'));
  const back = await new Promise<string>((resolve) => qmp.onStateChange((s) => s === 'running' && resolve(s)));
  assert.equal(back, 'running');
  assert.equal(await qmp.execute('ping'), 'pong');
  await qmp.close();
  assert.equal(qmp.state, 'idle');
});

test('events are routed apart from replies, to callbacks, iterators and waiters', async () => {
  const server = await fake((msg, socket) => {
    socket.write(JSON.stringify({ event: 'STOP', data: {}, timestamp: { seconds: 1, microseconds: 0 } }) + '\n');
    reply(socket, msg, { status: 'paused' });
    socket.write(JSON.stringify({ event: 'RESUME', timestamp: { seconds: 2, microseconds: 0 } }) + '\n');
  });
  const qmp = client();
  await qmp.connect({ path: server.path });
  const seen: string[] = [];
  const off = qmp.onEvent((e) => seen.push(e.event));
  const onlyResume = qmp.events({ names: ['RESUME'] });
  const resumed = qmp.waitForEvent('RESUME');
  assert.deepEqual(await qmp.execute('stop'), { status: 'paused' });
  const ev = await resumed;
  assert.deepEqual(ev.data, {}, 'missing data becomes {}');
  assert.equal((await onlyResume.next()).value?.event, 'RESUME');
  assert.deepEqual(seen, ['STOP', 'RESUME']);
  off();
  await qmp.close();
  assert.equal((await onlyResume.next()).done, true);
});

test('connect while running is refused by the state guard', async () => {
  const server = await fake((msg, socket) => reply(socket, msg));
  const qmp = client();
  await qmp.connect({ path: server.path });
  await assert.rejects(qmp.connect({ path: server.path }), (err) => isVigilError(err, 'VIGIL_QMP_STATE'));
  await qmp.close();
});
