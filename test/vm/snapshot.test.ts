/**
 * Snapshots with a real QEMU guest: a marker written in the guest's RAM disk survives a snapshot, is changed,
 * and comes back with the restore (read through the serial console). Snapshots are listed through QEMU while
 * the VM runs and through qemu-img once it is stopped; the commands are audited as privileged. A raw disk gets
 * an external disk-only snapshot: its file is frozen under an overlay, the definition follows, and with the VM
 * stopped the snapshot is restored (a restart reads the old data) and then merged away.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isVigilError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { Vigil } from '../../src/vigil.js';
import { runVigil } from '../helpers/cli.js';
import { ImageService } from '../../src/images/service.js';
import { logSize, typeLine, waitForLog } from '../helpers/serial-shell.js';
import { guestYaml, testHome, type TestHome } from '../helpers/vigil-home.js';

let h: TestHome;
let vigil: Vigil;
let socket: string;
let log: string;
let step = 0;
let data: string;

// The raw disk (serial "data") is found by its serial number, whatever name the guest kernel gives it.
const INIT = `modprobe virtio_pci; modprobe virtio_blk
cat > /bin/datadev <<'EOF'
#!/bin/sh
for d in /sys/block/vd*; do [ "$(cat $d/serial 2>/dev/null)" = data ] && echo /dev/\${d##*/}; done
EOF
chmod +x /bin/datadev`;

before(async () => {
  h = await testHome(INIT);
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  const disk = join(h.home, 'state.qcow2');
  data = join(h.home, 'data.raw');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', data, '8M']);
  vigil.add([h.write('snap.yaml', guestYaml(h, 'snap', `disks:\n  - file: ${disk}\n  - file: ${data}\n    serial: data\n`))]);
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

let from = 0;

/** What a shell expression prints in the guest now (`cat /tmp/marker` by default). */
async function marker(expr = 'cat /tmp/marker'): Promise<string> {
  step += 1;
  await typeLine(socket, `echo STEP${step}-$(${expr})-END`);
  return (await waitForLog(log, new RegExp(`STEP${step}-([\\w-]*)-END`), 60000, from))[1]!;
}

/** Writes text at the start of the raw disk from inside the guest and waits until it is flushed. */
async function writeData(text: string): Promise<void> {
  step += 1;
  await typeLine(socket, `echo ${text} > $(datadev); sync; echo DONE$((${step}+0))`);
  await waitForLog(log, new RegExp(`DONE${step}\\b`), 60000, from);
}

function head(file: string, n: number): string {
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(n);
  readSync(fd, buf, 0, n, 0);
  closeSync(fd);
  return buf.toString('latin1');
}

test('a restored snapshot brings back the guest memory (a marker in its RAM disk)', async () => {
  await typeLine(socket, 'echo first > /tmp/marker');
  assert.equal(await marker(), 'first');

  const r = await runVigil(['vm', 'snapshot', 'create', 'snap', 'one'], h.env, 120000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /snap: snapshot 'one' created in [\d.]+ s/);
  assert.match(r.stderr, /not covered \(raw or read-only disks\): disk1/);
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

test('a disk-only snapshot of the raw disk: frozen under an overlay, restored with the VM stopped, then merged away', async () => {
  await writeData('ext-one');
  assert.equal(head(data, 7), 'ext-one', 'the guest wrote the raw file');
  let r = await runVigil(['vm', 'snapshot', 'create', 'snap', 'ext1', '--disk-only'], h.env, 60000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /snap: disk-only snapshot 'ext1' created/);
  const overlay = join(h.home, 'data.snap-ext1.qcow2');
  const disk1 = vigil.vms.get('snap').definition.disks[1]!;
  assert.equal(disk1.file, overlay);
  assert.equal(disk1.format, 'qcow2');
  assert.equal(vigil.vms.get('snap').needsRestart, false, 'QEMU already writes to the overlay');
  // Vigil's own transaction names overlay paths outside the VM's files directory: dangerous, allowed, audited.
  const tx = vigil.audit.query({ vm: 'snap', command: 'transaction' });
  assert.deepEqual(tx.map((t) => [t.class, t.outcome]), [['dangerous', 'ok']]);
  assert.deepEqual(await new ImageService(h.home, vigil.vms).usedBy(data), ['snap'], 'the frozen file is in use as a backing file');

  await writeData('ext-two');
  assert.equal(head(data, 7), 'ext-one', 'the frozen file keeps the snapshot');
  assert.deepEqual((await vigil.snapshots.list('snap')).map((s) => `${s.name}:${s.kind}`), ['one:internal', 'two:internal', 'ext1:external']);
  await assert.rejects(vigil.snapshots.restore('snap', 'ext1'), (e) => isVigilError(e, 'VIGIL_VM_STATE') && /stop it first/.test(e.message));

  r = await runVigil(['vm', 'snapshot', 'rm', 'snap', 'two'], h.env, 60000);
  assert.equal(r.code, 0, r.stderr);
  await vigil.stop('snap', { force: true });
  assert.deepEqual((await vigil.snapshots.list('snap')).map((s) => s.name), ['one', 'ext1'], 'a stopped VM lists its snapshots (qemu-img)');
  await assert.rejects(vigil.snapshots.restore('snap', 'one'), (e) => isVigilError(e, 'VIGIL_VM_STATE') && /start it first/.test(e.message));

  const restored = await vigil.snapshots.restore('snap', 'ext1');
  assert.equal(restored.kind, 'external');
  from = logSize(log);
  await vigil.start('snap');
  await waitForLog(log, /VIGIL-GUEST-READY/, 120000, from);
  assert.equal(await marker('head -c 7 $(datadev)'), 'ext-one', 'after the restore the guest reads the data of the snapshot');
  await writeData('ext-three');
  await vigil.stop('snap', { force: true });

  r = await runVigil(['vm', 'snapshot', 'rm', 'snap', 'ext1'], h.env, 60000);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(overlay), false);
  assert.equal(head(data, 9), 'ext-three', 'the overlay was merged into the raw file');
  assert.equal(vigil.vms.get('snap').definition.disks[1]?.file, data);
  assert.equal(vigil.vms.get('snap').definition.disks[1]?.format, 'raw');
  assert.deepEqual((await vigil.snapshots.list('snap')).map((s) => s.name), ['one']);
});
