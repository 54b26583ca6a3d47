/**
 * Snapshots with a real QEMU guest: a marker written in the guest's RAM disk survives a snapshot, is changed,
 * and comes back with the restore (read through the serial console). Snapshots are listed through QEMU while
 * the VM runs and through qemu-img once it is stopped; the commands are audited as privileged.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isVigilError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { Vigil } from '../../src/vigil.js';
import { runVigil } from '../helpers/cli.js';
import { typeLine, waitForLog } from '../helpers/serial-shell.js';
import { guestYaml, testHome, type TestHome } from '../helpers/vigil-home.js';

let h: TestHome;
let vigil: Vigil;
let socket: string;
let log: string;
let step = 0;

before(async () => {
  h = await testHome();
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  const disk = join(h.home, 'state.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);
  vigil.add([h.write('snap.yaml', guestYaml(h, 'snap', `disks:\n  - file: ${disk}\n`))]);
  vigil.add([h.write('nodisk.yaml', guestYaml(h, 'nodisk'))]);
  await vigil.start('snap');
  const files = vigil.vms.files('snap');
  socket = files.serialSocket;
  log = files.serialLog;
  await waitForLog(log, /VIGIL-GUEST-READY/, 120000);
});

after(() => {
  vigil?.close();
  h?.killAll();
});

/** The marker as the guest reads it now. */
async function marker(): Promise<string> {
  step += 1;
  await typeLine(socket, `echo STEP${step}-$(cat /tmp/marker)-END`);
  return (await waitForLog(log, new RegExp(`STEP${step}-(\\w*)-END`)))[1]!;
}

test('a restored snapshot brings back the guest memory (a marker in its RAM disk)', async () => {
  await typeLine(socket, 'echo first > /tmp/marker');
  assert.equal(await marker(), 'first');

  const r = await runVigil(['vm', 'snapshot', 'create', 'snap', 'one'], h.env, 120000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /snap: snapshot 'one' created in [\d.]+ s/);
  assert.equal(vigil.vms.get('snap').state, 'running', 'the VM runs on after the snapshot');

  await typeLine(socket, 'echo second > /tmp/marker');
  assert.equal(await marker(), 'second');

  const restored = await vigil.snapshots.restore('snap', 'one');
  assert.equal(restored.name, 'one');
  assert.equal(vigil.vms.get('snap').state, 'running');
  assert.equal(await marker(), 'first', 'the marker from before the snapshot is back');
});

test('snapshots are listed with their VM state size; errors name the fix', async () => {
  const progress: number[] = [];
  await vigil.snapshots.create('snap', 'two', (p) => progress.push(p));
  assert.equal(progress.at(-1), 100);
  const listed = await vigil.snapshots.list('snap');
  assert.deepEqual(listed.map((s) => s.name), ['one', 'two']);
  assert.ok(listed.every((s) => s.vmStateSize > 0), 'memory is in the snapshot');

  const r = await runVigil(['vm', 'snapshot', 'ls', 'snap', '--json'], h.env);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as { name: string }[]).map((s) => s.name), ['one', 'two']);

  await assert.rejects(vigil.snapshots.create('snap', 'one'), (e) => isVigilError(e, 'VIGIL_SNAPSHOT') && /already has a snapshot named 'one'/.test(e.message));
  await assert.rejects(vigil.snapshots.restore('snap', 'nope'), (e) => isVigilError(e, 'VIGIL_NOT_FOUND'));
  await assert.rejects(vigil.snapshots.create('snap', 'bad name'), (e) => isVigilError(e, 'VIGIL_INVALID_INPUT'));
  await assert.rejects(vigil.snapshots.list('nodisk'), (e) => isVigilError(e, 'VIGIL_SNAPSHOT') && /no writable qcow2 disk/.test(e.message));
  await assert.rejects(vigil.snapshots.create('nodisk', 'x'), (e) => isVigilError(e, 'VIGIL_VM_STATE'));

  const audited = vigil.audit.query({ vm: 'snap' }).filter((a) => a.command.startsWith('snapshot-'));
  assert.deepEqual([...new Set(audited.map((a) => `${a.command}:${a.class}`))].sort(), ['snapshot-load:privileged', 'snapshot-save:privileged']);
});

test('rm deletes a snapshot; a stopped VM still lists its snapshots (qemu-img)', async () => {
  const r = await runVigil(['vm', 'snapshot', 'rm', 'snap', 'two'], h.env, 60000);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((await vigil.snapshots.list('snap')).map((s) => s.name), ['one']);
  await vigil.stop('snap', { force: true });
  assert.deepEqual((await vigil.snapshots.list('snap')).map((s) => s.name), ['one']);
  await assert.rejects(vigil.snapshots.restore('snap', 'one'), (e) => isVigilError(e, 'VIGIL_VM_STATE') && /start it first/.test(e.message));
});
