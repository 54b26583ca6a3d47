/**
 * The VM life cycle end to end with real QEMU: define from YAML, start, pause, resume, stop, through the CLI
 * and the library; the errors a user meets leave nothing half-done.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { QmpClient } from '../../src/qmp/client.js';
import { silentLogger } from '../../src/core/log.js';
import { isQemuOf } from '../../src/vm/process.js';
import { Vigil } from '../../src/vigil.js';
import { runVigil } from '../helpers/cli.js';
import { guestYaml, testHome, type TestHome } from '../helpers/vigil-home.js';

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

async function qmpStatus(name: string): Promise<string> {
  const r = await runVigil(['qmp', name, 'query-status', '--compact'], h.env);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { status: string }).status;
}

test('define -> start -> pause -> resume -> stop through the CLI', async () => {
  const file = h.write('web.yaml', guestYaml(h, 'web', 'tags: [demo]\n'));
  let r = await runVigil(['vm', 'add', file], h.env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /web: defined \(defined\)/);

  r = await runVigil(['vm', 'start', 'web'], h.env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /web: started \(running, pid \d+\)/);
  assert.equal(await qmpStatus('web'), 'running');
  const files = vigil.vms.files('web');
  assert.equal(statSync(files.runtimeDir).mode & 0o777, 0o700);
  for (const s of [files.qmpSocket, files.monitorSocket, files.serialSocket]) assert.equal(statSync(s).mode & 0o777, 0o600, s);
  const pid = vigil.vms.get('web').pid!;
  assert.ok(isQemuOf(pid, 'web'));
  // The serial console is logged: the guest's ready line arrives there.
  for (let i = 0; i < 200 && !(existsSync(files.serialLog) && readFileSync(files.serialLog, 'utf8').includes('VIGIL-GUEST-READY')); i++) {
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.match(readFileSync(files.serialLog, 'utf8'), /VIGIL-GUEST-READY/);

  r = await runVigil(['vm', 'pause', 'web'], h.env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await qmpStatus('web'), 'paused');
  r = await runVigil(['vm', 'resume', 'web'], h.env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await qmpStatus('web'), 'running');

  r = await runVigil(['vm', 'ls', '--json'], h.env);
  const listed = JSON.parse(r.stdout) as { name: string; state: string; tags: string[] }[];
  assert.deepEqual(listed.map((v) => [v.name, v.state, v.tags]), [['web', 'running', ['demo']]]);

  // The busybox guest ignores the ACPI power button: stop escalates to quit after the timeout.
  r = await runVigil(['vm', 'stop', 'web', '--timeout', '1'], h.env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /web: stopped \(stopped\)/);
  assert.equal(isQemuOf(pid, 'web'), false);
  assert.equal(existsSync(files.runtimeDir), false, 'runtime files are cleaned up');
  const history = vigil.vms.stateHistory('web').map((c) => `${c.from ?? '-'}>${c.to}`);
  assert.deepEqual(history, ['->defined', 'defined>starting', 'starting>running', 'running>paused', 'paused>running', 'running>stopping', 'stopping>stopped']);
  assert.match(vigil.vms.stateHistory('web').at(-1)!.reason, /system_powerdown, quit/);
  const audited = vigil.audit.query({ vm: 'web' }).map((a) => a.command);
  for (const c of ['cont', 'stop', 'system_powerdown', 'quit']) assert.ok(audited.includes(c), `${c} audited`);
});

test('the library: start, reset, restart, apply, logs, remove', async () => {
  vigil.add([h.write('lib.yaml', guestYaml(h, 'lib'))]);
  const started = await vigil.start('lib');
  assert.equal(started.state, 'running');
  await vigil.reset('lib');
  assert.equal(vigil.vms.get('lib').state, 'running');
  const applied = vigil.apply([h.write('lib.yaml', guestYaml(h, 'lib').replace('cpus: 1', 'cpus: 2'))]);
  assert.deepEqual(applied.changed, ['cpus']);
  assert.equal(applied.needsRestart, true);
  assert.equal(vigil.vms.get('lib').needsRestart, true);
  const restarted = await vigil.restart('lib', { force: true });
  assert.equal(restarted.state, 'running');
  assert.equal(restarted.needsRestart, false);
  const client = new QmpClient({ logger: silentLogger });
  await client.connect({ path: vigil.vms.files('lib').qmpSocket });
  assert.equal((await client.execute<unknown[]>('query-cpus-fast')).length, 2, 'the new definition is in effect');
  await client.close();
  await assert.rejects(vigil.remove('lib'), /is running; stop it first or pass --force/);
  await vigil.remove('lib', { force: true, purge: true });
  assert.throws(() => vigil.vms.get('lib'), /no VM named 'lib'/);
});

test('errors a user meets: clear messages, documented exit codes, nothing half-done', async () => {
  let r = await runVigil(['vm', 'start', 'ghost'], h.env);
  assert.equal(r.code, 8);
  assert.match(r.stderr, /no VM named 'ghost'.*\[VIGIL_NOT_FOUND\]/);

  const bad = h.write('bad.yaml', 'name: bad\nmemory: lots\ncpus: 2\ncolour: blue\n');
  r = await runVigil(['vm', 'add', bad], h.env);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /bad\.yaml:2:9: memory/);
  assert.match(r.stderr, /bad\.yaml:4:1: .*colour/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);

  vigil.add([h.write('nodisk.yaml', guestYaml(h, 'nodisk', 'disks:\n  - file: /nonexistent/disk.qcow2\n'))]);
  r = await runVigil(['vm', 'start', 'nodisk'], h.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /missing file\(s\): disks\.0\.file: \/nonexistent\/disk\.qcow2.*\[VIGIL_DISK_MISSING\]/);
  assert.equal(vigil.vms.get('nodisk').state, 'defined', 'the failed start left no trace');

  vigil.add([h.write('twice.yaml', guestYaml(h, 'twice'))]);
  await vigil.start('twice');
  r = await runVigil(['vm', 'start', 'twice'], h.env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /VM 'twice' is already running.*\[VIGIL_VM_STATE\]/);
  r = await runVigil(['vm', 'add', h.write('twice2.yaml', guestYaml(h, 'twice'))], h.env);
  assert.match(r.stderr, /already exists.*\[VIGIL_VM_EXISTS\]/);
  await vigil.stop('twice', { force: true });

  const noQemu = Vigil.open({ paths: h.paths, logger: silentLogger });
  // A QEMU binary that is not there: config says so.
  h.write('config/config.yaml', 'qemu:\n  binary: /nonexistent/qemu-system-x86_64\n');
  const withBadBinary = Vigil.open({ paths: h.paths, logger: silentLogger });
  await assert.rejects(withBadBinary.start('twice'), /QEMU binary '\/nonexistent\/qemu-system-x86_64' not found/);
  assert.equal(withBadBinary.vms.get('twice').state, 'stopped');
  withBadBinary.close();
  noQemu.close();
  h.write('config/config.yaml', '');
});

test('a socket held by a foreign process is refused', async () => {
  const { createServer } = await import('node:net');
  const { mkdirSync } = await import('node:fs');
  vigil.add([h.write('held.yaml', guestYaml(h, 'held'))]);
  const files = vigil.vms.files('held');
  mkdirSync(files.runtimeDir, { recursive: true, mode: 0o700 });
  const server = createServer();
  await new Promise<void>((res) => server.listen(files.qmpSocket, res));
  try {
    await assert.rejects(vigil.start('held'), (err: Error & { code?: string }) => err.code === 'VIGIL_SOCKET_IN_USE');
    assert.equal(vigil.vms.get('held').state, 'defined');
  } finally {
    server.close();
  }
});

test('vigil vm console attaches to the serial console; Ctrl-] detaches', async () => {
  vigil.add([h.write('con.yaml', guestYaml(h, 'con'))]);
  await vigil.start('con');
  const files = vigil.vms.files('con');
  for (let i = 0; i < 300 && !(existsSync(files.serialLog) && readFileSync(files.serialLog, 'utf8').includes('VIGIL-GUEST-READY')); i++) {
    await new Promise((res) => setTimeout(res, 100));
  }
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'vm', 'console', 'con'], { env: { ...process.env, ...h.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const guard = setTimeout(() => child.kill('SIGKILL'), 30000);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    if (d.toString().includes('Ctrl-]')) child.stdin.write('echo console-$((40+2))\n');
  });
  for (let i = 0; i < 100 && !out.includes('console-42'); i++) await new Promise((res) => setTimeout(res, 100));
  child.stdin.write(Buffer.from([0x1d]));
  const code = await new Promise<number | null>((res) => child.on('exit', res));
  clearTimeout(guard);
  assert.equal(code, 0);
  assert.match(out, /console-42/);
  await vigil.stop('con', { force: true });
});

test('vigil install-service writes a systemd unit that leaves VMs running on stop', async () => {
  const out = `${h.home}/vigild.service`;
  const r = await runVigil(['install-service', '--output', out, '--home', h.home], h.env);
  assert.equal(r.code, 0, r.stderr);
  const unit = readFileSync(out, 'utf8');
  assert.match(unit, /^ExecStart=\S+node\S* \S+daemon\/main\.(js|ts)$/m);
  assert.match(unit, /^KillMode=process$/m);
  assert.match(unit, new RegExp(`^Environment=VIGIL_HOME=${h.home}$`, 'm'));
  assert.match(r.stdout, /wrote .*vigild\.service/);
});

test('stop while someone holds qmp.sock uses the second monitor; a listing process never breaks a stop', async () => {
  vigil.add([h.write('busy.yaml', guestYaml(h, 'busy'))]);
  await vigil.start('busy');
  const holder = new QmpClient({ logger: silentLogger });
  await holder.connect({ path: vigil.vms.files('busy').qmpSocket });
  const other = Vigil.open({ paths: h.paths, logger: silentLogger });
  let listing = true;
  const lister = (async () => {
    while (listing) {
      other.list();
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  try {
    const stopped = await vigil.stop('busy', { timeoutMs: 500 });
    assert.equal(stopped.state, 'stopped');
    assert.match(vigil.vms.stateHistory('busy').at(-1)!.reason, /system_powerdown, quit/);
  } finally {
    listing = false;
    await lister;
    other.close();
    await holder.close();
  }
});

test('a stop interrupted half-way can be run again', async () => {
  vigil.add([h.write('halfway.yaml', guestYaml(h, 'halfway'))]);
  const vm = await vigil.start('halfway');
  // What a Ctrl-C during `vigil vm stop` leaves: the record says stopping, QEMU still runs.
  vigil.vms.repo.update('halfway', { state: 'stopping' });
  const stopped = await vigil.stop('halfway', { force: true });
  assert.equal(stopped.state, 'stopped');
  assert.equal(isQemuOf(vm.pid!, 'halfway'), false);
});
