/**
 * The port audit against the real kernel: listeners this test opens (TCP v4 and v6, UDP, and one in a child
 * process) are found in /proc/net with the right pid; the allowlist and the watcher see them.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { compileAllowlist, listListeners, PortWatcher } from '../../src/host/ports/audit.js';
import { decodeAddress, parseProcNet } from '../../src/host/ports/procnet.js';

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function tcpServer(host: string): Promise<Server> {
  const s = createServer();
  s.listen(0, host);
  await once(s, 'listening');
  cleanups.push(() => new Promise((r) => s.close(r)));
  return s;
}

test('addresses decode as the kernel writes them (little-endian words)', () => {
  assert.equal(decodeAddress('0100007F'), '127.0.0.1');
  assert.equal(decodeAddress('00000000'), '0.0.0.0');
  assert.equal(decodeAddress('00000000000000000000000001000000'), '::1');
  assert.equal(decodeAddress('00000000000000000000000000000000'), '::');
  assert.equal(decodeAddress('0000000000000000FFFF00000100007F'), '::ffff:127.0.0.1');
  assert.equal(decodeAddress('B80D0120000000000000000001000000'), '2001:db8::1');
  const text = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0BBB 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0BBC 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 12346 1 0000000000000000 100 0 0 10 0`;
  assert.deepEqual(parseProcNet(text, 'tcp', 4), [{ proto: 'tcp', family: 4, address: '127.0.0.1', port: 3003, uid: 1000, inode: '12345' }]);
});

test('the audit finds listeners opened here (tcp v4, tcp v6, udp) with this pid', async () => {
  const v4 = await tcpServer('127.0.0.1');
  const udp = createSocket('udp4');
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  cleanups.push(() => udp.close());
  let v6: Server | undefined;
  try {
    v6 = await tcpServer('::1');
  } catch {
    v6 = undefined; // no IPv6 loopback on this host
  }
  const port4 = (v4.address() as AddressInfo).port;
  const portU = udp.address().port;
  const all = await listListeners([`tcp:127.0.0.1:${port4}`]);
  const tcp = all.find((l) => l.proto === 'tcp' && l.port === port4);
  assert.ok(tcp, `tcp ${port4} not listed`);
  assert.equal(tcp.address, '127.0.0.1');
  assert.equal(tcp.family, 4);
  assert.deepEqual(tcp.processes.map((p) => p.pid), [process.pid]);
  assert.equal(tcp.processes[0]!.name, 'node');
  assert.equal(tcp.uid, process.getuid!());
  assert.equal(tcp.allowed, true);
  assert.equal(tcp.allowedBy, `tcp:127.0.0.1:${port4}`);
  const u = all.find((l) => l.proto === 'udp' && l.port === portU);
  assert.ok(u, `udp ${portU} not listed`);
  assert.deepEqual(u.processes.map((p) => p.pid), [process.pid]);
  assert.equal(u.allowed, false);
  if (v6) {
    const p6 = (v6.address() as AddressInfo).port;
    const l6 = all.find((l) => l.proto === 'tcp' && l.port === p6 && l.family === 6);
    assert.ok(l6, `tcp6 ${p6} not listed`);
    assert.equal(l6.address, '::1');
    assert.deepEqual(l6.processes.map((p) => p.pid), [process.pid]);
  }
});

test('a listener in another process is found with its pid; the watcher reports it as new', async () => {
  const watcher = new PortWatcher({ allow: () => ['name:sshd'], intervalMs: 60_000 }, () => undefined);
  await watcher.start();
  cleanups.push(() => watcher.stop());
  const child: ChildProcess = spawn(process.execPath, ['-e', "const s=require('net').createServer().listen(0,'127.0.0.1',()=>console.log(s.address().port))"], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => child.kill('SIGKILL'));
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  const fresh = await watcher.poll();
  const mine = fresh.find((l) => l.port === port);
  assert.ok(mine, `the watcher did not report port ${port}: ${JSON.stringify(fresh)}`);
  assert.deepEqual(mine.processes.map((p) => p.pid), [child.pid]);
  assert.match(mine.processes[0]!.cmdline, /createServer/);
  assert.equal(mine.allowed, false);
  assert.deepEqual(await watcher.poll(), [], 'known listeners are not reported again');
});

test('allowlist entries are validated and match by port, address, wildcard and process name', () => {
  assert.throws(() => compileAllowlist(['tcp:99999']), /host\.ports\.allow\.0/);
  assert.throws(() => compileAllowlist(['ssh']), /not an allowlist entry/);
  const [anyAddr, star, v6, byName] = compileAllowlist(['tcp:22', 'tcp:*:80', 'tcp:[::1]:3003', 'name:sshd']);
  const sock = (address: string, port: number) => ({ proto: 'tcp' as const, family: 4 as const, address, port, uid: 0, inode: '1' });
  assert.ok(anyAddr!.matches(sock('10.0.0.1', 22), []));
  assert.ok(star!.matches(sock('0.0.0.0', 80), []) && star!.matches(sock('::', 80), []) && !star!.matches(sock('127.0.0.1', 80), []));
  assert.ok(v6!.matches(sock('::1', 3003), []));
  assert.ok(byName!.matches(sock('0.0.0.0', 2222), [{ pid: 1, name: 'sshd', cmdline: '' }]));
});
