/**
 * The kill switch owned by vigild, against a real QEMU: engage and release over the signed API (host admin
 * only) cut through the monitor the supervisor already holds; an engage from another process at the same time
 * is coalesced through the store instead of cutting twice; an engage a crash interrupted is finished when vigild
 * starts.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { Wallet } from 'ethers';
import { silentLogger } from '../../src/core/log.js';
import { KillswitchEngine } from '../../src/killswitch/engine.js';
import { KillswitchRepo } from '../../src/killswitch/repo.js';
import type { SwitchReport } from '../../src/killswitch/report.js';
import { QmpClient } from '../../src/qmp/client.js';
import { qomList } from '../../src/qmp/commands.js';
import { AccessRepo } from '../../src/store/access-repo.js';
import { Vigil } from '../../src/vigil.js';
import { PyClient } from '../helpers/api-client.js';
import { guestYaml, testHome, type TestHome } from '../helpers/vigil-home.js';
import { startVigild, type Vigild } from '../helpers/vigild.js';
import { freePort } from '../helpers/net.js';
import { connect } from 'node:net';
import { request } from 'node:http';
import WebSocket from 'ws';

const GADGETS = `autostart:
  enabled: true
nics:
  - type: user
devices:
  - { id: usbc, driver: qemu-xhci }
  - { id: kbd0, driver: usb-kbd, props: { bus: usbc.0 } }
  - { id: tab0, driver: usb-tablet, props: { bus: usbc.0 } }
killswitch:
  devices: [kbd0, tab0, class:network]
  deadlineMs: 5000
`;

let h: TestHome;
let vigil: Vigil;
let daemon: Vigild;
let admin: PyClient;
let reader: PyClient;
let trapPort: number;
let daemonUrl: string;

async function peripherals(): Promise<string[]> {
  const qmp = new QmpClient({ logger: silentLogger });
  await qmp.connect({ path: vigil.vms.files('ks').qmpSocket });
  try {
    return (await qomList(qmp, '/machine/peripheral')).map((p) => p.name);
  } finally {
    await qmp.close();
  }
}

async function startDaemon(): Promise<string> {
  daemon = startVigild(h.env);
  const ready = await daemon.waitForLog((l) => l.msg === 'vigild ready');
  const url = ready.api as string;
  daemonUrl = url;
  admin = new PyClient(url, adminKey);
  reader = new PyClient(url, readerKey);
  return url;
}

const adminKey = Wallet.createRandom().privateKey;
const readerKey = Wallet.createRandom().privateKey;

before(async () => {
  h = await testHome();
  trapPort = await freePort();
  h.write(
    'config/config.yaml',
    `qemu:\n  accel: tcg\napi:\n  socket: ${h.home}/api.sock\nkillswitch:\n  triggers:\n    - { type: file, path: ${h.home}/ks.trigger, pollMs: 200 }\n` +
      `host:\n  honeypots:\n    - { name: trap, host: 127.0.0.1, port: ${trapPort}, banner: "SSH-2.0-OpenSSH_9.2", actions: [{ type: killswitch }] }\n` +
      `  lockdowns:\n    panic: [{ type: api-local-only }]\n`,
  );
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  vigil.add([h.write('ks.yaml', guestYaml(h, 'ks', GADGETS))]);
  const access = new AccessRepo(vigil.db);
  access.upsertPrincipal(new Wallet(adminKey).address, 'admin');
  access.upsertPrincipal(new Wallet(readerKey).address, null);
  await startDaemon();
});

after(() => {
  daemon?.process.kill('SIGKILL');
  h?.killAll();
  vigil?.close();
});

test('engage and release over the API cut through the monitor vigild holds; only a host admin may', async () => {
  assert.equal(vigil.vms.get('ks').state, 'running');
  const refused = await reader.call('POST', '/killswitch/engage', {});
  assert.equal(refused.status, 403, refused.text);
  assert.equal((await reader.call('GET', '/killswitch')).status, 403);

  const engaged = await admin.call('POST', '/killswitch/engage', { reason: 'test' });
  assert.equal(engaged.status, 200, engaged.text);
  const report = engaged.body.report as SwitchReport;
  assert.equal(engaged.body.state, 'engaged');
  const vm = report.vms.find((v) => v.vmName === 'ks');
  assert.ok(vm, JSON.stringify(report));
  assert.equal(vm.monitor, 'held', 'no new connection at trigger time');
  assert.equal(vm.safe, true, JSON.stringify(vm));
  assert.deepEqual(vm.devices.map((d) => `${d.device.deviceId}:${d.outcome}`).sort(), ['kbd0:detached', 'net0:link-down', 'tab0:detached']);
  assert.equal(report.trigger.source, 'api');
  assert.equal(report.trigger.principal, new Wallet(adminKey).address.toLowerCase());
  const left = await peripherals();
  assert.ok(!left.includes('kbd0') && !left.includes('tab0'), `still attached: ${left.join(', ')}`);

  const status = await admin.call('GET', '/killswitch');
  assert.equal(status.body.state, 'engaged');
  assert.equal((status.body.plan as { vms: unknown[] }).vms.length, 1);

  const released = await admin.call('POST', '/killswitch/release', {});
  assert.equal(released.status, 200, released.text);
  assert.equal(released.body.state, 'armed');
  assert.deepEqual((released.body.report as SwitchReport).unrestored, []);
  const back = await peripherals();
  assert.ok(back.includes('kbd0') && back.includes('tab0'), `not restored: ${back.join(', ')}`);
});

test('an engage from another process at the same moment is coalesced: one cut, one report', async () => {
  const since = new Date();
  const local = new KillswitchEngine({ db: vigil.db, vms: vigil.vms, audit: vigil.audit, paths: vigil.paths, logger: silentLogger });
  const [viaApi, viaLocal] = await Promise.all([admin.call('POST', '/killswitch/engage', {}), local.engage({ source: 'test' })]);
  assert.equal(viaApi.status, 200, viaApi.text);
  const apiReport = viaApi.body.report as SwitchReport;
  assert.equal(apiReport.startedAt, viaLocal.startedAt, 'both callers got the same engage');
  const engages = vigil.audit.query({ kind: 'killswitch', since }).filter((r) => r.command === 'killswitch engage');
  assert.equal(engages.length, 1, 'the devices were cut once');
  const dels = vigil.audit.query({ command: 'device_del', since });
  assert.equal(dels.length, 2, 'one device_del per USB device');
  assert.equal((await admin.call('POST', '/killswitch/release', {})).body.state, 'armed');
});

test("vigild starts the configured triggers: the trigger file's creation engages, its removal releases", async () => {
  const ready = daemon.logs.find((l) => l.msg === 'vigild ready');
  assert.deepEqual(ready?.triggers, [`file:${h.home}/ks.trigger`]);
  const state = async (want: string): Promise<void> => {
    for (let i = 0; i < 100 && new KillswitchRepo(vigil.db).get('default').state !== want; i++) await sleep(50);
    assert.equal(new KillswitchRepo(vigil.db).get('default').state, want);
  };
  writeFileSync(join(h.home, 'ks.trigger'), '');
  await state('engaged');
  const engaged = new KillswitchRepo(vigil.db).get('default');
  assert.equal(engaged.trigger?.source, 'file');
  assert.equal(engaged.report?.vms[0]?.monitor, 'held');
  assert.ok(!(await peripherals()).includes('kbd0'));
  rmSync(join(h.home, 'ks.trigger'));
  await state('armed');
  assert.ok((await peripherals()).includes('kbd0'));
});

test("vigild runs the host agent: a honeypot connection engages the switch; a lockdown leaves the API on the local socket only", async () => {
  const status = await admin.call('GET', '/host/agent');
  assert.equal(status.status, 200, status.text);
  assert.deepEqual((status.body.honeypots as { name: string; port: number }[]).map((p) => [p.name, p.port]), [['trap', trapPort]]);
  assert.equal((await reader.call('GET', '/host/agent')).status, 403);
  const banner = await new Promise<string>((resolve, reject) => {
    const sock = connect(trapPort, '127.0.0.1');
    sock.on('data', (d) => {
      sock.end('root\n');
      resolve(d.toString());
    });
    sock.on('error', reject);
  });
  assert.match(banner, /SSH-2.0-OpenSSH_9.2/);
  for (let i = 0; i < 100 && new KillswitchRepo(vigil.db).get('default').state !== 'engaged'; i++) await sleep(50);
  const engaged = new KillswitchRepo(vigil.db).get('default');
  assert.equal(engaged.state, 'engaged');
  assert.match(JSON.stringify(engaged.trigger), /honeypot/);
  assert.equal(engaged.report?.vms[0]?.monitor, 'held');
  assert.equal((await admin.call('POST', '/killswitch/release', {})).body.state, 'armed');

  assert.equal((await admin.call('POST', '/host/lockdown/nope', {})).status, 404);
  // A WebSocket opened over TCP before the lockdown is closed by it, not left streaming.
  const ws = new WebSocket(`${daemonUrl.replace('http', 'ws')}/events`, { headers: await admin.sign('/events', undefined, Math.floor(Date.now() / 1000) - 1) });
  await new Promise((resolve, reject) => {
    ws.once('message', resolve);
    ws.once('error', reject);
  });
  const wsClosed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  const locked = await admin.call('POST', '/host/lockdown/panic', { reason: 'test' });
  assert.equal(locked.status, 200, locked.text);
  assert.equal(await wsClosed, 1008);
  // The signing client's keep-alive connection is refused from now on; new TCP connections are not accepted.
  const after = await admin.call('GET', '/killswitch').catch((err: unknown) => ({ status: 0, text: String(err) }));
  assert.ok(after.status === 0 || after.status === 403, `TCP still served: ${after.status} ${after.text}`);
  // Even the unsigned health check: a pooled connection is answered 403, a new one is not accepted.
  const health = await fetch(`${daemonUrl}/health`).then((r) => r.status).catch(() => 0);
  assert.ok(health === 0 || health === 403, `TCP /health answered ${health}`);
  const viaSocket = await new Promise<number>((resolve, reject) => {
    const req = request({ socketPath: join(h.home, 'api.sock'), path: '/health' }, (res) => resolve(res.statusCode ?? 0));
    req.on('error', reject);
    req.end();
  });
  assert.equal(viaSocket, 200, 'the local socket still serves');
  // The next test restarts vigild, which serves TCP again.
});

test('vigild finishes an engage that a crash interrupted before it serves anything', async () => {
  daemon.process.kill('SIGKILL');
  await daemon.exited;
  // As a process that died mid-engage leaves it: engaging, owned by a pid that is gone.
  new KillswitchRepo(vigil.db).put('default', 'engaging', { source: 'test', detail: 'crashed mid-way' }, null);
  vigil.db.prepare('UPDATE killswitch SET owner = ? WHERE name = ?').run(2 ** 22 + 1, 'default');
  await startDaemon();
  await daemon.waitForLog((l) => l.msg === 'kill switch recovered to engaged');
  const status = await admin.call('GET', '/killswitch');
  assert.equal(status.body.state, 'engaged');
  assert.equal((status.body.trigger as { source: string }).source, 'recovery');
  const left = await peripherals();
  assert.ok(!left.includes('kbd0'), 'the interrupted engage was completed');
  assert.equal((await admin.call('POST', '/killswitch/release', {})).body.state, 'armed');
});
