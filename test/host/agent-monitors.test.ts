/**
 * The agent's port watch and FIM watch wired to actions: a new listener that is not allowed and a changed file
 * each raise an alarm that reaches the sink (here vigild's side of the interface, recorded) and the audit log;
 * a tampered baseline at start is itself an alarm.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { resolvePaths } from '../../src/core/paths.js';
import { HostAgent, hostConfigSchema, type HostActionSink, type HostEvent } from '../../src/host/index.js';
import type { Trigger } from '../../src/killswitch/report.js';
import { AuditLog } from '../../src/store/audit-log.js';
import { openStore } from '../../src/store/db.js';

const base = mkdtempSync(join(tmpdir(), 'vigil-agentmon-'));
after(() => rmSync(base, { recursive: true, force: true }));

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 15000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

test('a new listener and a changed file alarm and act; a tampered baseline alarms at start', async () => {
  const tree = join(base, 'etc');
  mkdirSync(tree);
  writeFileSync(join(tree, 'vigil.conf'), 'ok');
  const db = openStore(join(base, 'vigil.db'));
  const audit = new AuditLog(db);
  const triggers: Trigger[] = [];
  const paused: string[] = [];
  const sink: HostActionSink = {
    engageKillswitch: (t) => Promise.resolve(void triggers.push(t)),
    pauseAllVms: (r) => Promise.resolve(void paused.push(r)),
  };
  const config = hostConfigSchema.parse({
    fim: { defaults: false, watch: true, rules: [{ path: tree }], actions: [{ type: 'pause-vms' }] },
    ports: { watch: true, intervalSec: 1, allow: ['name:sshd'], actions: [{ type: 'killswitch' }] },
  });
  const events: HostEvent[] = [];
  const make = (): HostAgent => new HostAgent({ config, paths: resolvePaths({ VIGIL_HOME: base }), db, audit, logger: silentLogger, sink, onEvent: (e) => events.push(e) });

  const agent = make();
  await agent.fim.init();
  const status = await agent.start();
  assert.ok(status.ports.watching && status.fim.watching, JSON.stringify(status));

  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const alarm = await until('the ports alarm', () => events.find((e) => e.type === 'alarm' && e.alarm.source === 'ports'));
  assert.ok(alarm.type === 'alarm');
  assert.match(alarm.alarm.summary, new RegExp(`127\\.0\\.0\\.1:${port} \\(node\\[${process.pid}\\]\\)`));
  await until('the kill switch trigger', () => triggers[0]);
  assert.equal(triggers[0]!.source, 'host:ports');
  server.close();

  writeFileSync(join(tree, 'vigil.conf'), 'changed');
  const fimAlarm = await until('the fim alarm', () => events.find((e) => e.type === 'alarm' && e.alarm.source === 'fim'));
  assert.ok(fimAlarm.type === 'alarm');
  assert.match(fimAlarm.alarm.summary, /0 added, 0 removed, 1 changed/);
  await until('the pause', () => paused[0]);
  await agent.stop();
  assert.ok(audit.query({ kind: 'host' }).some((r) => r.command === 'action pause-vms' && r.outcome === 'ok'));

  // Someone blesses the change in the store behind Vigil's back: the next start alarms instead of watching.
  db.exec('DROP TRIGGER fim_entries_no_update');
  db.prepare('UPDATE fim_entries SET size = 7 WHERE path = ?').run(join(tree, 'vigil.conf'));
  const second = make();
  const s2 = await second.start();
  assert.equal(s2.fim.watching, false);
  assert.match(s2.fim.error ?? '', /tampered/);
  const tamper = await until('the tamper alarm', () => events.find((e) => e.type === 'alarm' && e.alarm.name === 'baseline'));
  assert.ok(tamper.type === 'alarm' && tamper.alarm.source === 'fim');
  await second.stop();
  db.close();
});
