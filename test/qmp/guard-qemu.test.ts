/**
 * The QMP guard and the audit log end to end: a real guest under a VIGIL_HOME, reached by VM name through the
 * library and through the CLI; every command lands in the hash-chained log and in the seed-004 text log.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { bootGuest, type Guest } from '../../guest/launch.js';
import { isVigilError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { resolvePaths, storePath, vmRuntimeDir } from '../../src/core/paths.js';
import { auditLinePath, localPrincipal, openMonitor, type Monitor } from '../../src/vm/monitor.js';
import { runVigil } from '../helpers/cli.js';

const home = mkdtempSync(join(tmpdir(), 'vigil-guard-home-'));
const env = { VIGIL_HOME: home };
const paths = resolvePaths({ VIGIL_HOME: home });
const VM = 'guarded';
const dir = vmRuntimeDir(paths, VM);
let guest: Guest;
let monitor: Monitor;

before(async () => {
  guest = await bootGuest({
    name: VM,
    dir,
    // A second monitor, so the CLI can connect while the library holds the first one.
    extraArgs: ['-chardev', `socket,id=qmpaux,path=${join(dir, 'aux.sock')},server=on,wait=off`, '-mon', 'chardev=qmpaux,mode=control'],
  });
  monitor = await openMonitor(VM, { paths, logger: silentLogger, principal: 'alice' });
});

after(async () => {
  await monitor?.close();
  await guest?.stop();
});

test('sockets are 0600 and the runtime directory 0700', () => {
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  for (const s of ['qmp.sock', 'serial.sock', 'gdb.sock']) assert.equal(statSync(join(dir, s)).mode & 0o777, 0o600, s);
});

test('a safe command runs and is audited', async () => {
  const status = await monitor.qmp.execute<{ status: string }>('query-status');
  assert.equal(status.status, 'running');
  const row = monitor.audit.query({ command: 'query-status' }).at(-1)!;
  assert.equal(row.vm, VM);
  assert.equal(row.principal, 'alice');
  assert.equal(row.class, 'safe');
  assert.equal(row.outcome, 'ok');
  assert.ok(row.durationMs >= 0);
});

test('a dangerous command is refused, audited as refused, and runs only with allowDangerous', async () => {
  await assert.rejects(monitor.qmp.execute('human-monitor-command', { 'command-line': 'info status' }), (err) => {
    assert.ok(isVigilError(err, 'VIGIL_GUARD_REFUSED'));
    assert.match(err.message, /Dangerous QMP command 'human-monitor-command' blocked/);
    return true;
  });
  const refused = monitor.audit.query({ command: 'human-monitor-command' }).at(-1)!;
  assert.deepEqual([refused.class, refused.outcome], ['dangerous', 'refused']);
  assert.deepEqual(refused.args, { 'command-line': 'info status' });
  const out = await monitor.qmp.execute<string>('human-monitor-command', { 'command-line': 'info status' }, { allowDangerous: true });
  assert.match(out, /VM status: running/);
  assert.deepEqual(
    monitor.audit.query({ command: 'human-monitor-command' }).map((r) => r.outcome),
    ['refused', 'ok'],
  );
});

test('memory dumps inside the VM directory run with a purpose; outside it they are dangerous', async () => {
  const inside = join(dir, 'files', 'low.bin');
  await monitor.qmp.execute('pmemsave', { val: 0, size: 4096, filename: inside }, { purpose: 'forensics-test' });
  assert.equal(statSync(inside).size, 4096);
  const row = monitor.audit.query({ command: 'pmemsave' }).at(-1)!;
  assert.deepEqual([row.class, row.outcome, row.purpose], ['memory-dump', 'ok', 'forensics-test']);
  const outside = join(home, 'stolen.bin');
  await assert.rejects(monitor.qmp.execute('pmemsave', { val: 0, size: 4096, filename: outside }), (err) => isVigilError(err, 'VIGIL_GUARD_REFUSED'));
  assert.equal(existsSync(outside), false, 'QEMU never saw the command');
  // The rest of the runtime directory is Vigil's: its sockets and pidfile are outside, like any host path.
  const qmpSock = join(dir, 'qmp.sock');
  await assert.rejects(monitor.qmp.execute('pmemsave', { val: 0, size: 4096, filename: qmpSock }), (err) => isVigilError(err, 'VIGIL_GUARD_REFUSED'));
  const server = { id: 'evil', backend: { type: 'socket', data: { addr: { type: 'unix', data: { path: join(dir, 'monitor.sock') } }, server: true, wait: false } } };
  await assert.rejects(monitor.qmp.execute('chardev-add', server), (err) => isVigilError(err, 'VIGIL_GUARD_REFUSED'));
  assert.equal(statSync(qmpSock).isSocket(), true, 'the QMP socket is untouched');
});

test('host device pass-through is refused; a command unknown to this QEMU is refused', async () => {
  await assert.rejects(monitor.qmp.execute('device_add', { driver: 'usb-host', id: 'cam', vendorid: 0x046d, productid: 0x0825 }), (err) =>
    isVigilError(err, 'VIGIL_GUARD_REFUSED'),
  );
  await assert.rejects(monitor.qmp.execute('query-unicorns'), (err) => isVigilError(err, 'VIGIL_GUARD_REFUSED') && err.context.class === 'unknown');
  assert.equal(monitor.audit.query({ command: 'query-unicorns' }).at(-1)!.class, 'unknown');
});

test('a command QEMU rejects is audited as failed with its error', async () => {
  await assert.rejects(monitor.qmp.execute('device_del', { id: 'ghost' }), (err) => isVigilError(err, 'VIGIL_QMP_EXECUTE'));
  const row = monitor.audit.query({ command: 'device_del' }).at(-1)!;
  assert.equal(row.outcome, 'failed');
  assert.match(row.error!, /VIGIL_QMP_EXECUTE: Device 'ghost' not found/);
});

test('privileged commands run and leave seed-004 lines in the text log', async () => {
  await monitor.qmp.execute('stop');
  await monitor.qmp.execute('cont');
  const text = readFileSync(auditLinePath(paths), 'utf8');
  assert.match(text, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d WARNING QMP privileged: guarded \| stop \| user=alice$/m);
  assert.match(text, /INFO QMP: guarded \| query-status \| params=\[\] \| user=alice \| timestamp=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/m);
  assert.match(text, /INFO QMP memory dump: guarded \| pmemsave \| user=alice \| purpose=forensics-test$/m);
  assert.match(text, /ERROR QMP blocked dangerous: guarded \| human-monitor-command \| user=alice \| reason=/m);
  assert.equal(statSync(auditLinePath(paths)).mode & 0o777, 0o600);
});

test('CLI: vigil qmp prints the reply; a refusal exits 4 with the reason', async () => {
  const aux = join(dir, 'aux.sock');
  const ok = await runVigil(['qmp', aux, 'query-status'], env);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((JSON.parse(ok.stdout) as { status: string }).status, 'running');
  const refused = await runVigil(['qmp', aux, 'human-monitor-command', '{"command-line": "info status"}'], env);
  assert.equal(refused.code, 4);
  assert.match(refused.stderr, /Dangerous QMP command 'human-monitor-command' blocked.*--allow-dangerous.*\[VIGIL_GUARD_REFUSED\]/s);
  assert.doesNotMatch(refused.stderr, /at .*\.ts:\d+/, 'no stack trace');
  const allowed = await runVigil(['qmp', aux, 'human-monitor-command', '{"command-line": "info status"}', '--allow-dangerous'], env);
  assert.equal(allowed.code, 0, allowed.stderr);
  const bad = await runVigil(['qmp', aux, 'query-status', '{oops'], env);
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /json-args is not valid JSON/);
  const rows = monitor.audit.query({ vm: VM, principal: localPrincipal() });
  assert.deepEqual(rows.map((r) => `${r.command}:${r.outcome}`), ['query-status:ok', 'human-monitor-command:refused', 'human-monitor-command:ok']);
});

test('CLI: vigil qmp events streams events as JSON lines', async () => {
  let listening!: () => void;
  const ready = new Promise<void>((resolve) => (listening = resolve));
  const events = runVigil(['qmp', 'events', join(dir, 'aux.sock'), '--name', 'STOP', 'RESUME', '--count', '2'], env, 30000, (err) => {
    if (err.includes('streaming events')) listening();
  });
  await ready;
  await monitor.qmp.execute('stop');
  await monitor.qmp.execute('cont');
  const result = await events;
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event), ['STOP', 'RESUME']);
});

test('CLI: audit tail, grep and verify; a tampered row makes verify exit 7', async () => {
  const tail = await runVigil(['audit', 'tail', '-n', '3', '--json'], env);
  assert.equal(tail.code, 0, tail.stderr);
  assert.equal(tail.stdout.trim().split('\n').length, 3);
  const grep = await runVigil(['audit', 'grep', 'HUMAN-monitor', '--outcome', 'refused'], env);
  assert.equal(grep.code, 0, grep.stderr);
  assert.equal(grep.stdout.trim().split('\n').length, 2);
  assert.match(grep.stdout, /dangerous +refused human-monitor-command/);
  const clean = await runVigil(['audit', 'verify'], env);
  assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  assert.match(clean.stdout, /audit log OK: \d+ rows, head [0-9a-f]{64}/);

  const raw = new Database(storePath(paths));
  raw.exec('DROP TRIGGER audit_log_no_update');
  raw.prepare("UPDATE audit_log SET outcome = 'ok' WHERE outcome = 'refused' AND seq = (SELECT min(seq) FROM audit_log WHERE outcome = 'refused')").run();
  raw.close();
  const tampered = await runVigil(['audit', 'verify'], env);
  assert.equal(tampered.code, 7);
  assert.match(tampered.stdout, /TAMPERED.*\n.*changed/);
});
