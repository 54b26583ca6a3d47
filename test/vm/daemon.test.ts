/**
 * vigild with real QEMU: autostart in dependency order; killed with SIGKILL and restarted, it re-adopts the
 * VMs that kept running; a QEMU killed with SIGKILL is restarted by its policy with backoff; 10 VMs started at
 * once all reach running.
 */
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { isQemuOf } from '../../src/vm/process.js';
import { waitForVm } from '../../src/vm/service.js';
import { Vigil } from '../../src/vigil.js';
import { guestYaml, testHome, type TestHome } from '../helpers/vigil-home.js';
import { startVigild } from '../helpers/vigild.js';
import { runVigil } from '../helpers/cli.js';

let h: TestHome;
let vigil: Vigil;

before(async () => {
  h = await testHome();
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
});

after(() => {
  vigil?.close();
  h?.killAll();
});

test('autostart in order, adoption after SIGKILL of vigild, restart policy with backoff after SIGKILL of QEMU', async () => {
  const restart = 'autostart:\n  enabled: true\n  order: 1\n  restart:\n    policy: on-failure\n    initialDelayMs: 400\n    maxDelayMs: 2000\n    limit: 3\n';
  vigil.add([h.write('router.yaml', guestYaml(h, 'router', 'autostart:\n  enabled: true\n  order: 0\n'))]);
  vigil.add([h.write('app.yaml', guestYaml(h, 'app', restart + '  after: [router]\n'))]);

  const first = startVigild(h.env);
  const ready = await first.waitForLog((l) => l.msg === 'vigild ready');
  assert.deepEqual(ready.autostarted, ['router', 'app'], 'router first: app starts after it');
  const router = vigil.vms.get('router');
  const app = vigil.vms.get('app');
  assert.equal(router.state, 'running');
  assert.equal(app.state, 'running');

  first.process.kill('SIGKILL');
  await first.exited;
  assert.ok(isQemuOf(router.pid!, 'router') && isQemuOf(app.pid!, 'app'), 'the VMs outlive vigild');

  const second = startVigild(h.env);
  const again = await second.waitForLog((l) => l.msg === 'vigild ready');
  assert.deepEqual((again.adopted as string[]).sort(), ['app', 'router']);
  assert.deepEqual(again.autostarted, [], 'nothing is started twice');
  assert.equal(vigil.vms.get('app').pid, app.pid, 'the same QEMU, adopted');

  const killedAt = Date.now();
  process.kill(app.pid!, 'SIGKILL');
  const back = await waitForVm(vigil.vms, 'app', (v) => v.state === 'running' && v.pid !== app.pid, 30000).catch((err: unknown) => {
    throw new Error(`${String(err)}; vigild said: ${second.logs.map((l) => JSON.stringify(l)).join('\n')}`);
  });
  assert.ok(Date.now() - killedAt >= 400, 'restarted only after the backoff delay');
  assert.equal(vigil.vms.record('app')!.restartCount, 1);
  const history = vigil.vms.stateHistory('app').map((c) => c.to);
  assert.deepEqual(history.slice(-3), ['crashed', 'starting', 'running']);
  assert.ok(isQemuOf(back.pid!, 'app'));
  await second.waitForLog((l) => l.msg === 'watching VM' && l.vm === 'app' && l.qemuPid === back.pid, 10000);

  second.process.kill('SIGTERM');
  assert.equal(await second.exited, 0);
  assert.ok(isQemuOf(back.pid!, 'app') && isQemuOf(router.pid!, 'router'), 'SIGTERM leaves the VMs running');
  await vigil.stop('app', { force: true });
  await vigil.stop('router', { force: true });
});

test('10 VMs started concurrently all reach running', async () => {
  const names = Array.from({ length: 10 }, (_, i) => `many${i}`);
  // No OS: each QEMU idles in the firmware, so ten cost little on two cores.
  for (const n of names) vigil.add([h.write(`${n}.yaml`, `name: ${n}\nmemory: 64M\naccel: tcg\n`)]);
  const started = await Promise.all(names.map((n) => vigil.start(n)));
  assert.deepEqual(started.map((v) => v.state), names.map(() => 'running'));
  assert.equal(new Set(started.map((v) => v.pid)).size, 10);
  await Promise.all(names.map((n) => vigil.stop(n, { force: true })));
  assert.deepEqual(vigil.list().filter((v) => names.includes(v.name)).map((v) => v.state), names.map(() => 'stopped'));
});

test('SIGHUP reloads definitions from their files; vigild rotates a serial log past its size', async () => {
  const file = h.write('rot.yaml', guestYaml(h, 'rot', 'serial:\n  maxSize: 1M\n  keep: 2\n'));
  vigil.add([file]);
  await vigil.start('rot');
  const d = startVigild(h.env);
  await d.waitForLog((l) => l.msg === 'vigild ready');
  await d.waitForLog((l) => l.msg === 'watching VM' && l.vm === 'rot', 10000);

  // Grow the log past 1 MiB as a chatty guest would; QEMU appends, so the copy-truncate keeps it writing.
  const { appendFileSync, existsSync, statSync } = await import('node:fs');
  const log = vigil.vms.files('rot').serialLog;
  appendFileSync(log, 'x'.repeat(1024 * 1024 + 10) + '\n');
  await d.waitForLog((l) => l.msg === 'rotated serial log' && l.vm === 'rot', 10000);
  assert.ok(existsSync(`${log}.1`));
  assert.ok(statSync(log).size < 1024 * 1024);

  writeFileSync(file, guestYaml(h, 'rot', 'serial:\n  maxSize: 1M\n  keep: 2\ntags: [reloaded]\n').replace('cpus: 1', 'cpus: 2'));
  d.process.kill('SIGHUP');
  const reloaded = await d.waitForLog((l) => l.msg === 'definition reloaded' && l.vm === 'rot', 10000);
  assert.deepEqual(reloaded.changed, ['cpus', 'tags']);
  assert.equal(reloaded.needsRestart, true);
  assert.deepEqual(vigil.vms.get('rot').definition.tags, ['reloaded']);
  d.process.kill('SIGTERM');
  assert.equal(await d.exited, 0);
  await vigil.stop('rot', { force: true });
});

test('an unresponsive QEMU does not keep vigild from starting; it is adopted once it answers', async () => {
  vigil.add([h.write('frozen.yaml', `name: frozen\nmemory: 64M\naccel: tcg\n`)]);
  vigil.add([h.write('fine.yaml', `name: fine\nmemory: 64M\naccel: tcg\nautostart:\n  enabled: true\n`)]);
  const frozen = await vigil.start('frozen');
  process.kill(frozen.pid!, 'SIGSTOP');
  const d = startVigild(h.env);
  try {
    const ready = await d.waitForLog((l) => l.msg === 'vigild ready', 30000);
    assert.deepEqual(ready.autostarted, ['fine'], 'the other VMs are still supervised');
    assert.ok(!(ready.adopted as string[]).includes('frozen'));
    process.kill(frozen.pid!, 'SIGCONT');
    await d.waitForLog((l) => l.msg === 'watching VM' && l.vm === 'frozen', 20000);
  } finally {
    process.kill(frozen.pid!, 'SIGCONT');
    d.process.kill('SIGTERM');
    await d.exited;
  }
  await vigil.stop('frozen', { force: true });
  await vigil.stop('fine', { force: true });
});

test('vigild serves the signed API: vigil init registers the local key as host admin, vigil api signs with it', async () => {
  vigil.add([h.write('apivm.yaml', 'name: apivm\nmemory: 64M\naccel: tcg\n')]);
  const init = await runVigil(['init'], h.env);
  assert.equal(init.code, 0, init.stderr);
  const address = /address: (0x[0-9a-f]{40}) \(host admin\)/.exec(init.stdout)?.[1];
  assert.ok(address);
  assert.equal(statSync(join(h.paths.config, 'key.json')).mode & 0o777, 0o600);
  const socket = join(h.home, 'api.sock');
  h.write('config/config.yaml', `api:\n  socket: ${socket}\n`);
  const d = startVigild(h.env);
  try {
    const ready = await d.waitForLog((l) => l.msg === 'vigild ready');
    const apiUrl = ready.api as string;
    assert.equal(statSync(socket).mode & 0o777, 0o600, 'the API socket is private');
    const { request } = await import('node:http');
    const overSocket = await new Promise<string>((resolve, reject) => {
      request({ socketPath: socket, path: '/health' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      })
        .on('error', reject)
        .end();
    });
    assert.match(overSocket, /"status":"ok"/);
    // Signed requests work over the socket too (it has no client IP: it counts as local for rate limiting).
    const { readKey } = await import('../../src/auth/keyfile.js');
    const { signRequestV1 } = await import('../../src/auth/sign-request.js');
    const headers = signRequestV1(readKey(join(h.paths.config, 'key.json')).privateKey, { path: '/vms' }, Date.now() / 1000);
    const signedOverSocket = await new Promise<number>((resolve, reject) => {
      request({ socketPath: socket, path: '/vms', headers }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    assert.equal(signedOverSocket, 200);
    assert.match(apiUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${apiUrl}/health`);
    assert.equal(health.status, 200);
    assert.equal((await fetch(`${apiUrl}/vms`)).status, 401, 'unsigned requests are refused');
    const listed = await runVigil(['api', 'GET', '/vms', '--url', apiUrl], h.env);
    assert.equal(listed.code, 0, listed.stderr);
    const vms = (JSON.parse(listed.stdout) as { vms: { id: string; role: string }[] }).vms;
    assert.ok(vms.length > 0 && vms.every((v) => v.role === 'Owner'), 'the host admin sees every VM as Owner');
    const show = await runVigil(['key', 'show'], h.env);
    assert.equal(show.stdout.trim(), address);
  } finally {
    d.process.kill('SIGTERM');
    await d.exited;
    h.write('config/config.yaml', '');
  }
});
