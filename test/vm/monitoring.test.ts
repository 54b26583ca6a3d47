/**
 * Monitoring with a real QEMU guest: stats (QEMU CPU time and RSS from /proc, disk I/O from query-blockstats),
 * `vigil vm stats --json` and `vigil vm top --once`, Prometheus /metrics over signed HTTP with one series per
 * VM, and health checks: a SIGSTOPped QEMU (its monitor hangs) is reported unhealthy, in /metrics too; guest
 * liveness through the ready line or the boot_complete call; a VM whose restart policy asks for it is restarted.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Wallet } from 'ethers';
import { buildApi, type Api } from '../../src/api/server.js';
import { silentLogger } from '../../src/core/log.js';
import { AccessRepo } from '../../src/store/access-repo.js';
import { HealthMonitor, type HealthStatus } from '../../src/vm/monitoring/health.js';
import { vmStats, type VmStats } from '../../src/vm/monitoring/stats.js';
import { waitForVm } from '../../src/vm/service.js';
import { VmSupervisor } from '../../src/vm/supervisor.js';
import { Vigil } from '../../src/vigil.js';
import { PyClient } from '../helpers/api-client.js';
import { runVigil } from '../helpers/cli.js';
import { waitForLog } from '../helpers/serial-shell.js';
import { guestYaml, testHome, type TestHome } from '../helpers/vigil-home.js';

let h: TestHome;
let vigil: Vigil;
let api: Api;
let admin: PyClient;
let alice: PyClient;
let supervisor: VmSupervisor;

const READY = /VIGIL-GUEST-READY/;

before(async () => {
  h = await testHome();
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  const disk = join(h.home, 'mon.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
  const policy = 'autostart:\n  restart:\n    policy: on-failure\n';
  vigil.add([h.write('mon.yaml', guestYaml(h, 'mon', `disks:\n  - file: ${disk}\n${policy}`))]);
  vigil.add([h.write('idle.yaml', guestYaml(h, 'idle'))]);
  // Checks run by hand in the tests (an hour apart otherwise).
  supervisor = new VmSupervisor(vigil.vms, { logger: silentLogger, health: { intervalMs: 3600000, qmpTimeoutMs: 1500, readyPattern: READY } });
  api = await buildApi({ vigil, logger: silentLogger, imagesDir: h.home, supervisor });
  const url = await api.app.listen({ host: '127.0.0.1', port: 0 });
  admin = new PyClient(url, Wallet.createRandom().privateKey);
  alice = new PyClient(url, Wallet.createRandom().privateKey);
  const repo = new AccessRepo(vigil.db);
  repo.upsertPrincipal(admin.address, 'admin');
  repo.upsertPrincipal(alice.address, null);
  repo.grant('mon', alice.address, 'ReadOnly', admin.address);
  await vigil.start('mon');
  await waitForLog(vigil.vms.files('mon').serialLog, READY, 120000);
});

after(async () => {
  await api?.app.close();
  await supervisor?.stop();
  vigil?.close();
  h?.killAll();
});

/** Checks until healthy (this host is shared and slow: a 1.5 s deadline can be missed once), at most 20 s. */
async function untilHealthy(health: HealthMonitor): Promise<HealthStatus> {
  const deadline = Date.now() + 20000;
  for (;;) {
    const s = await health.check('mon');
    if (s.healthy || Date.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The series of one metric name, by their label text. */
function series(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`).exec(line);
    if (m) {
      assert.equal(out.has(m[1]!), false, `one ${name} series per label set: ${m[1]}`);
      out.set(m[1]!, Number(m[2]));
    }
  }
  return out;
}

test('stats: QEMU CPU time and RSS, uptime, disk I/O of the virtio disk; CLI stats --json and top --once', async () => {
  const s = await vmStats(vigil.vms, 'mon');
  assert.equal(s.state, 'running');
  assert.equal(s.qemuStatus, 'running');
  assert.ok(s.uptimeSec! > 0);
  assert.ok(s.process!.cpuSeconds > 0.5, `cpu ${s.process!.cpuSeconds}`);
  assert.ok(s.process!.rssBytes > 20 * 1024 * 1024, `rss ${s.process!.rssBytes}`);
  const disk = s.disks.find((d) => d.device === 'disk0');
  assert.ok(disk, JSON.stringify(s.disks));
  assert.ok(disk.readBytes > 0 && disk.readOps > 0, 'the guest kernel read the partition table');
  assert.deepEqual(s.nics, [], 'user-mode NICs expose no counters');

  let r = await runVigil(['vm', 'stats', 'mon', '--json'], h.env);
  assert.equal(r.code, 0, r.stderr);
  const cli = JSON.parse(r.stdout) as VmStats;
  assert.equal(cli.vm, 'mon');
  assert.ok(cli.process!.cpuSeconds >= s.process!.cpuSeconds);
  assert.equal(cli.health?.healthy, true);

  r = await runVigil(['vm', 'top', '--once', '--interval', '0.5'], h.env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^NAME\s+STATE\s+CPU%\s+RSS/m);
  assert.match(r.stdout, /^mon\s+running\s+\d+\.\d\s+\d+(\.\d)?M/m);

  const viaApi = await alice.call('GET', '/vms/mon/stats');
  assert.equal(viaApi.status, 200);
  assert.equal(viaApi.body.vm, 'mon');
  assert.equal((await alice.call('GET', '/vms/idle/stats')).status, 404, 'no role: the VM looks absent');
});

test('/metrics: one series per VM labelled vm, for the host admin only', async () => {
  const res = await admin.call('GET', '/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  assert.deepEqual(Object.fromEntries(series(res.text, 'vigil_vm_up')), { 'vm="idle"': 0, 'vm="mon"': 1 });
  assert.ok(series(res.text, 'vigil_vm_cpu_seconds_total').get('vm="mon"')! > 0);
  assert.ok(series(res.text, 'vigil_vm_memory_rss_bytes').get('vm="mon"')! > 0);
  assert.ok(series(res.text, 'vigil_vm_disk_read_bytes_total').get('vm="mon",disk="disk0"')! > 0);
  assert.equal(series(res.text, 'vigil_vm_qmp_up').get('vm="mon"'), 1);
  assert.equal(series(res.text, 'vigil_vms').get('state="running"'), 1);
  assert.equal((await alice.call('GET', '/metrics')).status, 403);
});

test('a SIGSTOPped QEMU is unhealthy (its monitor does not answer), in stats and /metrics; healthy again after SIGCONT', async () => {
  const health = supervisor.health!;
  const ok = await untilHealthy(health);
  assert.equal(ok.healthy, true);
  assert.equal(ok.guest, 'ok', 'the ready line was seen');
  const pid = vigil.vms.get('mon').pid!;
  process.kill(pid, 'SIGSTOP');
  try {
    const started = Date.now();
    const bad = await health.check('mon');
    assert.ok(Date.now() - started < 8000, 'the check is bounded by its timeouts');
    assert.equal(bad.healthy, false);
    assert.equal(bad.qmp.ok, false);
    assert.ok(bad.reasons.some((r) => /did not answer within 1500 ms/.test(r)), bad.reasons.join('; '));
    assert.ok(bad.reasons.some((r) => /SIGSTOP/.test(r)));
    assert.ok(vigil.vms.stateHistory('mon').some((c) => c.reason.startsWith('unhealthy:')), 'marked in the history');
    const res = await admin.call('GET', '/metrics');
    assert.equal(series(res.text, 'vigil_vm_healthy').get('vm="mon"'), 0);
    assert.equal(series(res.text, 'vigil_vm_qmp_up').get('vm="mon"'), 0);
    const stats = await alice.call('GET', '/vms/mon/stats');
    assert.equal((stats.body.health as { healthy: boolean }).healthy, false);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  // QEMU first serves the connections that queued up while it was stopped.
  const again = await untilHealthy(health);
  assert.equal(again.healthy, true);
  assert.equal(vigil.vms.stateHistory('mon').at(-1)?.reason, 'healthy again');
});

test('guest liveness: with a grace period and no ready pattern, only the boot_complete call counts', async () => {
  const health = new HealthMonitor(vigil.vms, { qmpTimeoutMs: 2000, guestGraceMs: 0, failuresBeforeRestart: Infinity });
  const silent = await health.check('mon');
  assert.equal(silent.qmp.ok, true);
  assert.equal(silent.guest, 'missing');
  assert.equal(silent.healthy, false);
  assert.match(silent.reasons.join(';'), /no sign of life/);
  const token = vigil.vms.record('mon')!.bootId!;
  assert.equal(vigil.vms.bootCompleted(token)?.name, 'mon');
  const booted = await health.check('mon');
  assert.equal(booted.guest, 'ok');
  assert.equal(booted.healthy, true);
});

test('an unhealthy VM whose restart policy asks for it is restarted', async () => {
  const health = new HealthMonitor(vigil.vms, { qmpTimeoutMs: 1000, failuresBeforeRestart: 2 });
  const before = vigil.vms.get('mon').pid!;
  process.kill(before, 'SIGSTOP');
  assert.equal((await health.check('mon')).failures, 1);
  await health.check('mon');
  const vm = await waitForVm(vigil.vms, 'mon', (v) => v.state === 'running' && v.pid !== null && v.pid !== before, 60000);
  assert.notEqual(vm.pid, before);
  assert.ok(vigil.vms.stateHistory('mon').some((c) => /^restarting: unhealthy .*restart policy on-failure/.test(c.reason)));
  assert.equal((await health.check('mon')).qmp.ok, true);
  await vigil.stop('mon', { force: true });
});
