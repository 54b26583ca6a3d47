/**
 * The host agent against a real VM (test guest, TCG) and the real kill switch engine: a connection to a
 * honeypot on loopback engages the kill switch; a touched canary file posts to a real local webhook and runs a
 * lockdown that pauses the VM and calls the daemon's API restriction; the honeypot rate-limits a flood; every
 * alarm and action is in the audit log and the event stream.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { HostAgent, hostConfigSchema, vigilActionSink, type HostEvent } from '../../src/host/index.js';
import { KillswitchEngine } from '../../src/killswitch/engine.js';
import { QmpClient } from '../../src/qmp/client.js';
import { queryStatus } from '../../src/qmp/commands.js';
import { Vigil } from '../../src/vigil.js';
import { guestYaml, testHome, type TestHome } from '../helpers/vigil-home.js';

let h: TestHome;
let vigil: Vigil;
let engine: KillswitchEngine;
let agent: HostAgent;
let web: HttpServer;
let webUrl: string;
let tmp: string;
const posts: { path: string; body: { alarm: { source: string; name: string; summary: string } } }[] = [];
const events: HostEvent[] = [];
const restricted: string[] = [];

async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 30000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function linkOf(vm: string): Promise<string> {
  const c = new QmpClient();
  await c.connect({ path: vigil.vms.files(vm).qmpSocket });
  try {
    return (await queryStatus(c)).status;
  } finally {
    await c.close();
  }
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'vigil-host-'));
  web = createHttpServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      posts.push({ path: req.url ?? '', body: JSON.parse(body) as (typeof posts)[number]['body'] });
      res.writeHead(204).end();
    });
  });
  web.listen(0, '127.0.0.1');
  await once(web, 'listening');
  webUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;

  h = await testHome();
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  vigil.add([h.write('web.yaml', guestYaml(h, 'web', 'nics:\n  - type: user\nkillswitch:\n  devices: all\n  deadlineMs: 5000\n'))]);
  await vigil.start('web');
  engine = new KillswitchEngine({ db: vigil.db, vms: vigil.vms, audit: vigil.audit, paths: vigil.paths, logger: silentLogger });
  const config = hostConfigSchema.parse({
    honeypots: [
      { name: 'ssh-trap', host: '127.0.0.1', port: 0, banner: 'SSH-2.0-OpenSSH_9.2p1\r\n', readTimeoutMs: 500, actions: [{ type: 'killswitch' }, { type: 'webhook', url: `${webUrl}/hook` }] },
      { name: 'flood', host: '127.0.0.1', port: 0, perPeerPerMinute: 3, readTimeoutMs: 100, actions: [{ type: 'log' }] },
    ],
    canaries: [{ name: 'keys', path: join(tmp, 'id_rsa'), content: 'not a key\n', pollSec: 60, actions: [{ type: 'webhook', url: `${webUrl}/canary` }, { type: 'lockdown', name: 'full' }] }],
    lockdowns: { full: [{ type: 'pause-vms' }, { type: 'api-local-only' }] },
  });
  agent = new HostAgent({
    config,
    paths: vigil.paths,
    db: vigil.db,
    audit: vigil.audit,
    logger: silentLogger,
    sink: { ...vigilActionSink({ vms: vigil.vms, killswitch: engine, logger: silentLogger }), restrictApiToLocalSocket: (reason) => Promise.resolve(void restricted.push(reason)) },
    onEvent: (e) => events.push(e),
  });
  await agent.start();
});

after(async () => {
  await agent?.stop();
  vigil?.close();
  h?.killAll();
  web?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('a connection to the honeypot engages the kill switch on the real VM', async () => {
  const pot = agent.status().honeypots.find((p) => p.name === 'ssh-trap');
  assert.ok(pot && pot.port > 0 && pot.address === '127.0.0.1');
  assert.equal(engine.status().state, 'armed');
  const t0 = performance.now();
  const sock = connect(pot.port, '127.0.0.1');
  let banner = '';
  sock.on('data', (d: Buffer) => (banner += d.toString()));
  await once(sock, 'connect');
  sock.write('SSH-2.0-evil\r\n\x00\x01$(rm -rf /)\n');
  const done = await until('the kill switch action', () => events.find((e) => e.type === 'action' && e.outcome.action === 'killswitch'));
  const ms = performance.now() - t0;
  process.stdout.write(`# honeypot connection -> kill switch engaged: ${ms.toFixed(1)} ms\n`);
  assert.equal(done.type === 'action' && done.outcome.outcome, 'ok', JSON.stringify(done));
  const status = engine.status();
  assert.equal(status.state, 'engaged');
  assert.equal(status.report?.trigger.source, 'host:honeypot');
  const vm = status.report?.vms.find((v) => v.vmName === 'web');
  assert.ok(vm?.safe, JSON.stringify(vm));
  assert.deepEqual(vm.devices.map((d) => [d.device.deviceId, d.outcome]), [['net0', 'link-down']]);
  assert.equal(banner, 'SSH-2.0-OpenSSH_9.2p1\r\n');
  sock.destroy();

  // The capture (first bytes, escaped) is recorded after the read ends; the webhook got the alarm.
  const capture = await until('the capture', () => events.find((e) => e.type === 'alarm' && e.alarm.detail.phase === 'capture'));
  assert.ok(capture.type === 'alarm');
  assert.equal(capture.alarm.detail.firstBytesText, 'SSH-2.0-evil\\r\\n\\x00\\x01$(rm -rf /)\\n');
  const hook = await until('the webhook', () => posts.find((p) => p.path === '/hook'));
  assert.equal(hook.body.alarm.source, 'honeypot');
  assert.equal(hook.body.alarm.name, 'ssh-trap');
  const rows = vigil.audit.query({ kind: 'host' });
  assert.ok(rows.some((r) => r.command === 'alarm honeypot' && r.outcome === 'alarm'));
  assert.ok(rows.some((r) => r.command === 'action killswitch' && r.outcome === 'ok'));
  assert.ok(rows.some((r) => r.command === 'alarm honeypot' && r.outcome === 'note' && (r.args.firstBytesHex as string).startsWith('5353482d322e302d6576696c')));
  assert.ok(vigil.audit.query({ kind: 'killswitch' }).some((r) => r.command === 'killswitch engage'));
  assert.ok(vigil.audit.verify().ok);
  await engine.release({ source: 'test' });
});

test('a touched canary posts to the webhook and runs the lockdown: VMs paused, API restricted', async () => {
  const before = events.length;
  writeFileSync(join(tmp, 'id_rsa'), 'someone wrote here\n');
  const hook = await until('the canary webhook', () => posts.find((p) => p.path === '/canary'));
  assert.equal(hook.body.alarm.source, 'canary');
  assert.match(hook.body.alarm.summary, /canary keys changed/);
  await until('the lockdown steps', () => {
    const acts = events.slice(before).filter((e) => e.type === 'action' && e.outcome.lockdown === 'full');
    return acts.length === 2 ? acts : undefined;
  });
  assert.equal(await linkOf('web'), 'paused');
  assert.equal(vigil.vms.get('web').state, 'paused');
  assert.equal(restricted.length, 1);
  assert.match(restricted[0]!, /canary keys changed/);
  await vigil.resume('web');
});

test('a lockdown by name from the CLI path; an unknown name is refused with the known ones', async () => {
  const r = await agent.lockdown('full', { source: 'cli', principal: 'tester' });
  assert.deepEqual(r.outcomes.map((o) => [o.action, o.outcome]).sort(), [['api-local-only', 'ok'], ['pause-vms', 'ok']]);
  assert.equal(vigil.vms.get('web').state, 'paused');
  await vigil.resume('web');
  await assert.rejects(agent.lockdown('nope', { source: 'cli' }), /no lockdown named 'nope'.*known: full/);
  assert.ok(vigil.audit.query({ kind: 'host', command: 'alarm lockdown' }).length >= 1);
});

test('the honeypot rate-limits a flood from one peer', async () => {
  const pot = agent.status().honeypots.find((p) => p.name === 'flood')!;
  const before = events.filter((e) => e.type === 'alarm' && e.alarm.name === 'flood' && e.alarm.detail.phase !== 'capture').length;
  await Promise.all(
    Array.from({ length: 12 }, async () => {
      const s = connect(pot.port, '127.0.0.1');
      s.on('error', () => undefined);
      await once(s, 'close');
    }),
  );
  await sleep(300);
  const alarms = events.filter((e) => e.type === 'alarm' && e.alarm.name === 'flood' && e.alarm.detail.phase !== 'capture').length - before;
  assert.equal(alarms, 3);
});
