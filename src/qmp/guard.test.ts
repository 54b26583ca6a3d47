import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isVigilError } from '../core/errors.js';
import { DEFAULT_GUARD_RULES, type RuleCondition } from './guard-table.js';
import { QmpGuard, isOutside, vmFilesDir } from './guard.js';
import { HOST_DEVICE_DRIVERS } from './host-access.js';
import { redactArgs, REDACTED } from './redact.js';

const runtimeDir = mkdtempSync(join(tmpdir(), 'vigil-guard-'));
/** The VM's own files: only this subdirectory of the runtime directory. */
const filesDir = vmFilesDir(runtimeDir);
mkdirSync(filesDir);
const guard = new QmpGuard();
const ctx = { runtimeDir };

/** The class of `command` with `args` for the VM of `runtimeDir`. */
function cls(command: string, args: Record<string, unknown> = {}): string {
  return guard.classify(command, args, ctx).class;
}

/** Asserts the class, naming the case in the failure. */
function expectClass(command: string, args: Record<string, unknown>, expected: string): void {
  assert.equal(cls(command, args), expected, `${command} ${JSON.stringify(args)}`);
}

test('seed 004 classes: dangerous, memory dump, privileged, safe', () => {
  assert.equal(guard.classify('human-monitor-command').class, 'dangerous');
  assert.equal(guard.classify('inject-nmi').class, 'dangerous');
  for (const c of ['system_powerdown', 'system_reset', 'quit', 'stop', 'cont', 'device_del', 'blockdev-del', 'set_link']) {
    assert.equal(guard.classify(c).class, 'privileged', c);
  }
  assert.equal(guard.classify('pmemsave', { val: 0, size: 4096, filename: join(filesDir, 'mem.bin') }, ctx).class, 'memory-dump');
  assert.equal(guard.classify('memsave', { val: 0, size: 4096, filename: join(filesDir, 'mem.bin') }, ctx).class, 'memory-dump');
  assert.equal(guard.classify('dump-guest-memory', { paging: false, protocol: `file:${filesDir}/core` }, ctx).class, 'memory-dump');
  assert.equal(guard.classify('query-status').class, 'safe');
});

test('dangerous by argument', () => {
  assert.equal(guard.classify('migrate', { uri: 'exec:cat > /tmp/x' }).class, 'dangerous');
  assert.equal(guard.classify('migrate', { uri: 'tcp:127.0.0.1:4444' }).class, 'privileged');
  assert.equal(guard.classify('device_add', { driver: 'usb-host', id: 'cam', vendorid: 0x46d }).class, 'dangerous');
  assert.equal(guard.classify('device_add', { driver: 'vfio-pci', id: 'gpu', host: '01:00.0' }).class, 'dangerous');
  assert.equal(guard.classify('device_add', { driver: 'usb-kbd', id: 'kbd' }).class, 'safe');
  assert.equal(guard.classify('screendump', { filename: '/etc/passwd' }, ctx).class, 'dangerous');
  assert.equal(guard.classify('screendump', { filename: join(filesDir, 'screen.ppm') }, ctx).class, 'safe');
  assert.equal(guard.classify('pmemsave', { val: 0, size: 1, filename: '/tmp/mem' }, ctx).class, 'dangerous');
  assert.equal(guard.classify('pmemsave', { val: 0, size: 1, filename: `${filesDir}/../../escape` }, ctx).class, 'dangerous');
  assert.equal(guard.classify('pmemsave', { val: 0, size: 1, filename: 'relative.bin' }, ctx).class, 'dangerous');
  assert.equal(guard.classify('dump-guest-memory', { paging: false, protocol: 'file:/root/core' }, ctx).class, 'dangerous');
  assert.equal(guard.classify('dump-guest-memory', { paging: false, protocol: 'fd:dumpfd' }, ctx).class, 'memory-dump');
  const disk = { driver: 'qcow2', 'node-name': 'd0', file: { driver: 'file', filename: '/dev/sda' } };
  assert.equal(guard.classify('blockdev-add', disk, ctx).class, 'dangerous');
  const own = { driver: 'raw', 'node-name': 'd0', file: { driver: 'file', filename: join(filesDir, 'scratch.img') } };
  assert.equal(guard.classify('blockdev-add', own, ctx).class, 'safe');
  assert.equal(guard.classify('blockdev-add', { driver: 'raw', 'node-name': 'd1', file: 'd0' }, ctx).class, 'safe', 'a node-name reference is not a path');
  const chardev = { id: 'c0', backend: { type: 'socket', data: { addr: { type: 'unix', data: { path: '/var/run/docker.sock' } }, server: false } } };
  assert.equal(guard.classify('chardev-add', chardev, ctx).class, 'dangerous');
  assert.equal(guard.classify('chardev-add', { id: 'c1', backend: { type: 'file', data: { out: '/etc/cron.d/x' } } }, ctx).class, 'dangerous');
  assert.equal(guard.classify('object-add', { 'qom-type': 'memory-backend-file', id: 'm', 'mem-path': '/dev/mem', size: 4096 }, ctx).class, 'dangerous');
  assert.equal(guard.classify('object-add', { 'qom-type': 'iothread', id: 'io0' }, ctx).class, 'safe');
});

test('without a runtime directory every host path is outside', () => {
  assert.equal(guard.classify('screendump', { filename: join(filesDir, 'screen.ppm') }).class, 'dangerous');
  assert.equal(guard.classify('screendump', { filename: join(process.cwd(), 'files', 'x.ppm') }, { runtimeDir: '' }).class, 'dangerous');
  assert.equal(guard.classify('screendump', { filename: join(process.cwd(), 'files', 'x.ppm') }, { runtimeDir: '.' }).class, 'dangerous');
});

test('a symlink inside the runtime directory that points out of it is outside', () => {
  mkdirSync(join(runtimeDir, 'sub'), { recursive: true });
  symlinkSync('/etc', join(runtimeDir, 'sub', 'etc-link'));
  assert.equal(isOutside(join(runtimeDir, 'sub', 'etc-link', 'shadow'), runtimeDir), true);
  assert.equal(isOutside(join(runtimeDir, 'sub', 'new-file'), runtimeDir), false);
  assert.equal(isOutside(runtimeDir + '-sibling/file', runtimeDir), true);
});

test('dangerous commands are refused with a message naming class, reason and the way to allow them', () => {
  const verdict = guard.check('human-monitor-command', { 'command-line': 'info status' });
  assert.equal(verdict.allowed, false);
  assert.match(verdict.refusal!, /Dangerous QMP command 'human-monitor-command' blocked/);
  assert.match(verdict.refusal!, /arbitrary HMP/);
  assert.match(verdict.refusal!, /--allow-dangerous/);
  assert.equal(guard.check('human-monitor-command', {}, { allowDangerous: true }).allowed, true);
  assert.throws(() => guard.enforce('inject-nmi'), (err) => isVigilError(err, 'VIGIL_GUARD_REFUSED') && err.context.class === 'dangerous');
});

test('a command missing from the schema is refused even with allowDangerous', () => {
  const schemaCommands = new Set(['query-status', 'stop']);
  const verdict = guard.check('query-unicorns', {}, { schemaCommands, allowDangerous: true });
  assert.equal(verdict.class, 'unknown');
  assert.equal(verdict.allowed, false);
  assert.match(verdict.refusal!, /query-unicorns/);
  assert.equal(guard.check('query-status', {}, { schemaCommands }).allowed, true);
});

test('operator rules come first and can tighten or relax', () => {
  const custom = new QmpGuard([
    { command: 'inject-nmi', class: 'privileged', reason: 'our kdump setup uses NMIs' },
    { command: 'query-status', class: 'dangerous', reason: 'testing a tightened rule' },
  ]);
  assert.equal(custom.check('inject-nmi').allowed, true);
  assert.equal(custom.classify('inject-nmi').class, 'privileged');
  assert.equal(custom.check('query-status').allowed, false);
  assert.equal(custom.classify('human-monitor-command').class, 'dangerous', 'defaults still apply');
});

test('secrets are redacted from recorded arguments', () => {
  assert.deepEqual(redactArgs('set_password', { protocol: 'vnc', password: 'hunter2' }), { protocol: 'vnc', password: REDACTED });
  assert.deepEqual(redactArgs('object-add', { 'qom-type': 'secret', id: 's0', data: 'c2VjcmV0' }), { 'qom-type': 'secret', id: 's0', data: REDACTED });
  const chardev = { id: 'c', backend: { type: 'file', data: { out: '/x' } } };
  assert.deepEqual(redactArgs('chardev-add', chardev), chardev, 'a chardev backend "data" is not a secret');
  assert.deepEqual(redactArgs('query-status', undefined), {});
});

test("reserved paths: only the VM's files/ directory is its own; Vigil's control files are outside", () => {
  for (const own of ['qmp.sock', 'monitor.sock', 'serial.sock', 'gdb.sock', 'vnc.sock', 'qemu.pid', 'ram']) {
    const path = join(runtimeDir, own);
    expectClass('pmemsave', { val: 0, size: 1, filename: path }, 'dangerous');
    const server = { id: 'evil', backend: { type: 'socket', data: { addr: { type: 'unix', data: { path } }, server: true, wait: false } } };
    expectClass('chardev-add', server, 'dangerous');
  }
  const verdict = guard.check('pmemsave', { val: 0, size: 1, filename: join(runtimeDir, 'qemu.pid') }, ctx);
  assert.deepEqual(verdict.paths, [join(runtimeDir, 'qemu.pid')]);
  assert.match(verdict.refusal!, /outside the VM's files directory \(files\/ in its runtime directory\)/);
  expectClass('pmemsave', { val: 0, size: 1, filename: join(filesDir, 'low.bin') }, 'memory-dump');
  expectClass('pmemsave', { val: 0, size: 1, filename: filesDir }, 'dangerous');
  expectClass('pmemsave', { val: 0, size: 1, filename: `${filesDir}/../qemu.pid` }, 'dangerous');
  expectClass('pmemsave', { val: 0, size: 1, filename: `${filesDir}-x/low.bin` }, 'dangerous');
  symlinkSync(join(runtimeDir, 'qemu.pid'), join(filesDir, 'pid-link'));
  expectClass('pmemsave', { val: 0, size: 1, filename: join(filesDir, 'pid-link') }, 'dangerous');
  symlinkSync('../../nowhere/new-file', join(filesDir, 'dangling'));
  expectClass('pmemsave', { val: 0, size: 1, filename: join(filesDir, 'dangling') }, 'dangerous');
  symlinkSync('loop-b', join(filesDir, 'loop-a'));
  symlinkSync('loop-a', join(filesDir, 'loop-b'));
  // A symlink loop resolves nowhere: QEMU cannot open it (ELOOP), so it names nothing outside.
  expectClass('pmemsave', { val: 0, size: 1, filename: join(filesDir, 'loop-a') }, 'memory-dump');
  assert.equal(isOutside(runtimeDir, runtimeDir), true, 'a directory is not inside itself');
});

test('netdev_add: only user-mode networking, without host directories, commands or exposed ports, is not dangerous', () => {
  const helper = guard.check('netdev_add', { type: 'tap', id: 'n1', helper: 'touch /tmp/x ;' }, ctx);
  assert.equal(helper.class, 'dangerous');
  assert.match(helper.reason, /\/bin\/sh -c/);
  expectClass('netdev_add', { type: 'tap', id: 'n1', script: join(filesDir, 'ifup') }, 'dangerous');
  expectClass('netdev_add', { type: 'tap', id: 'n1', ifname: 'tap0' }, 'dangerous');
  expectClass('netdev_add', { type: 'bridge', id: 'n1', br: 'br0' }, 'dangerous');
  expectClass('netdev_add', { id: 'n1' }, 'dangerous');
  for (const type of ['socket', 'vhost-user', 'vhost-vdpa', 'l2tpv3', 'vde', 'hubport', 'stream', 'dgram']) expectClass('netdev_add', { type, id: 'n1' }, 'dangerous');
  const stream = guard.check('netdev_add', { type: 'stream', id: 'n1', server: true, addr: { type: 'unix', path: '/run/evil.sock' } }, ctx);
  assert.deepEqual([stream.class, stream.paths], ['dangerous', ['/run/evil.sock']]);
  expectClass('netdev_add', { type: 'dgram', id: 'n1', local: { type: 'unix', path: join(filesDir, 'n.sock') } }, 'dangerous');
  expectClass('netdev_add', { type: 'vhost-user', id: 'n1', chardev: 'c0' }, 'dangerous');
  expectClass('netdev_add', { type: 'user', id: 'n1' }, 'safe');
  expectClass('netdev_add', { type: 'user', id: 'n1', net: '10.9.0.0/24', restrict: true }, 'safe');
  expectClass('netdev_add', { type: 'user', id: 'n1', smb: '/home' }, 'dangerous');
  expectClass('netdev_add', { type: 'user', id: 'n1', tftp: '/' }, 'dangerous');
  expectClass('netdev_add', { type: 'user', id: 'n1', bootfile: 'pxelinux.0' }, 'dangerous');
  expectClass('netdev_add', { type: 'user', id: 'n1', guestfwd: [{ str: 'tcp:10.0.2.100:1234-file:/etc/cron.d/x' }] }, 'dangerous');
  expectClass('netdev_add', { type: 'user', id: 'n1', hostfwd: [{ str: 'tcp::2222-:22' }] }, 'dangerous');
  expectClass('netdev_add', { type: 'user', id: 'n1', hostfwd: [{ str: 'tcp:0.0.0.0:2222-:22' }] }, 'dangerous');
  expectClass('netdev_add', { type: 'user', id: 'n1', hostfwd: [{ str: 'udp:192.168.1.5:53-:53' }] }, 'dangerous');
  expectClass('netdev_add', { type: 'user', id: 'n1', hostfwd: [{ str: 'tcp:127.0.0.1:2222-:22' }, { str: 'tcp::80-:80' }] }, 'dangerous');
  expectClass('netdev_add', { type: 'user', id: 'n1', hostfwd: [{ str: 'tcp:127.0.0.1:2222-:22' }] }, 'privileged');
  expectClass('netdev_add', { type: 'user', id: 'n1', hostfwd: [{ str: ':127.0.0.1:2222-:22' }] }, 'privileged');
});

test('chardev-change is judged like chardev-add; device, path and logfile keys; network sockets; Vigil\'s own chardevs', () => {
  for (const command of ['chardev-add', 'chardev-change']) {
    expectClass(command, { id: 'c1', backend: { type: 'file', data: { out: '/etc/cron.d/x' } } }, 'dangerous');
    expectClass(command, { id: 'c1', backend: { type: 'file', data: { out: join(filesDir, 'c1.log') } } }, 'safe');
    expectClass(command, { id: 'c1', backend: { type: 'null', data: {} } }, 'safe');
    expectClass(command, { id: 'c1', backend: { type: 'ringbuf', data: { size: 4096, logfile: '/root/.bashrc' } } }, 'dangerous');
    for (const type of ['pipe', 'serial', 'parallel']) {
      expectClass(command, { id: 'c1', backend: { type, data: { device: '/dev/ttyS0' } } }, 'dangerous');
    }
    expectClass(command, { id: 'c1', backend: { type: 'pipe', data: { device: join(filesDir, 'pipe') } } }, 'safe');
    const unix = (path: string): Record<string, unknown> => ({ id: 'c1', backend: { type: 'socket', data: { addr: { type: 'unix', data: { path } }, server: true } } });
    expectClass(command, unix('/var/run/docker.sock'), 'dangerous');
    expectClass(command, unix(join(filesDir, 'c1.sock')), 'safe');
    const inet = { id: 'c1', backend: { type: 'socket', data: { addr: { type: 'inet', data: { host: '127.0.0.1', port: '6379' } }, server: false } } };
    expectClass(command, inet, 'dangerous');
    expectClass(command, { id: 'c1', backend: { type: 'udp', data: { remote: { type: 'inet', data: { host: '10.0.0.1', port: '514' } } } } }, 'dangerous');
    expectClass(command, { id: 'c1', backend: { type: 'stdio', data: {} } }, 'dangerous');
  }
  for (const id of ['qmp', 'monitor', 'serial0', 'gdb']) {
    expectClass('chardev-change', { id, backend: { type: 'ringbuf', data: {} } }, 'dangerous');
    expectClass('chardev-remove', { id }, 'dangerous');
  }
  expectClass('chardev-remove', { id: 'c1' }, 'safe');
});

test('block commands that name image files: outside paths, existing images whose headers name more files, network disks', () => {
  expectClass('blockdev-create', { 'job-id': 'j', options: { driver: 'file', filename: '/etc/cron.d/x', size: 1048576 } }, 'dangerous');
  expectClass('blockdev-create', { 'job-id': 'j', options: { driver: 'file', filename: join(filesDir, 'new.qcow2'), size: 1048576 } }, 'safe');
  expectClass('blockdev-create', { 'job-id': 'j', options: { driver: 'qcow2', file: 'n0', size: 1048576, 'backing-file': '/dev/sda' } }, 'dangerous');
  expectClass('blockdev-create', { 'job-id': 'j', options: { driver: 'qcow2', file: 'n0', size: 1048576 } }, 'safe');
  for (const command of ['drive-mirror', 'drive-backup']) {
    expectClass(command, { device: 'd0', target: '/var/lib/x.qcow2', sync: 'full' }, 'dangerous');
    expectClass(command, { device: 'd0', target: join(filesDir, 'copy.qcow2'), sync: 'full', format: 'qcow2' }, 'safe');
    expectClass(command, { device: 'd0', target: join(filesDir, 'copy.qcow2'), sync: 'full', mode: 'existing' }, 'dangerous');
    expectClass(command, { device: 'd0', target: join(filesDir, 'copy.img'), sync: 'full', mode: 'existing', format: 'raw' }, 'safe');
  }
  expectClass('blockdev-snapshot-sync', { 'node-name': 'd0', 'snapshot-file': '/tmp/s.qcow2' }, 'dangerous');
  expectClass('blockdev-snapshot-sync', { 'node-name': 'd0', 'snapshot-file': join(filesDir, 's.qcow2') }, 'safe');
  expectClass('blockdev-snapshot-sync', { 'node-name': 'd0', 'snapshot-file': join(filesDir, 's.qcow2'), mode: 'existing' }, 'dangerous');
  expectClass('blockdev-change-medium', { id: 'cd0', filename: '/etc/shadow', format: 'raw' }, 'dangerous');
  expectClass('blockdev-change-medium', { id: 'cd0', filename: join(filesDir, 'x.iso'), format: 'raw' }, 'safe');
  expectClass('blockdev-change-medium', { id: 'cd0', filename: join(filesDir, 'x.iso') }, 'dangerous');
  expectClass('blockdev-mirror', { device: 'd0', target: 'n1', sync: 'full' }, 'safe');
  expectClass('blockdev-backup', { device: 'd0', target: 'n1', sync: 'full' }, 'safe');
  for (const command of ['block-commit', 'block-stream', 'change-backing-file']) {
    expectClass(command, { device: 'd0', 'image-node-name': 'n0', 'backing-file': '/etc/shadow' }, 'dangerous');
    expectClass(command, { device: 'd0', 'image-node-name': 'n0', 'backing-file': join(filesDir, 'base.qcow2') }, 'safe');
  }
  expectClass('block-commit', { device: 'd0' }, 'safe');
  const snapshot = (file: string, mode?: string): Record<string, unknown> => ({
    actions: [{ type: 'blockdev-snapshot-sync', data: { 'node-name': 'd0', 'snapshot-file': file, ...(mode ? { mode } : {}) } }],
  });
  expectClass('transaction', snapshot('/tmp/s.qcow2'), 'dangerous');
  expectClass('transaction', snapshot(join(filesDir, 's.qcow2')), 'safe');
  expectClass('transaction', snapshot(join(filesDir, 's.qcow2'), 'existing'), 'dangerous');
  expectClass('transaction', { actions: [{ type: 'drive-backup', data: { device: 'd0', target: '/tmp/b.qcow2', sync: 'full' } }] }, 'dangerous');
  expectClass('transaction', { actions: [{ type: 'blockdev-backup', data: { device: 'd0', target: 'n1', sync: 'full' } }] }, 'safe');
});

test('blockdev-add: image formats whose headers name more files, network and host-device drivers', () => {
  const file = { driver: 'file', filename: join(filesDir, 'x.img') };
  for (const driver of ['qcow2', 'qcow', 'qed', 'vmdk']) {
    const verdict = guard.classify('blockdev-add', { driver, 'node-name': 'n0', file, backing: null }, ctx);
    assert.equal(verdict.class, 'dangerous', driver);
    assert.match(verdict.reason, /headers/);
  }
  expectClass('blockdev-add', { driver: 'raw', 'node-name': 'n0', file: { driver: 'qcow2', file } }, 'dangerous');
  expectClass('blockdev-add', { driver: 'raw', 'node-name': 'n0', file }, 'safe');
  expectClass('blockdev-add', { driver: 'raw', 'node-name': 'n0', file: { driver: 'https', url: 'http://169.254.169.254/latest/meta-data' } }, 'dangerous');
  expectClass('blockdev-add', { driver: 'nbd', 'node-name': 'n0', server: { type: 'inet', host: '127.0.0.1', port: '10809' } }, 'dangerous');
  expectClass('blockdev-add', { driver: 'nbd', 'node-name': 'n0', server: { type: 'unix', path: join(filesDir, 'nbd.sock') } }, 'safe');
  expectClass('blockdev-add', { driver: 'nbd', 'node-name': 'n0', server: { type: 'unix', path: '/run/other.sock' } }, 'dangerous');
  expectClass('blockdev-add', { driver: 'nvme', 'node-name': 'n0', device: '0000:01:00.0', namespace: 1 }, 'dangerous');
  expectClass('blockdev-add', { driver: 'blkdebug', 'node-name': 'n0', config: '/etc/shadow', image: 'n1' }, 'dangerous');
  expectClass('blockdev-add', { driver: 'host_device', 'node-name': 'n0', filename: '/dev/sda' }, 'dangerous');
  expectClass('blockdev-reopen', { options: [{ driver: 'raw', 'node-name': 'n0', file: { driver: 'file', filename: '/etc/shadow' } }] }, 'dangerous');
  expectClass('blockdev-reopen', { options: [{ driver: 'qcow2', 'node-name': 'n0', file: 'f0', 'read-only': true }] }, 'safe');
});

test('exports, displays and migration: sockets and files outside, network listeners', () => {
  const unixAddr = (path: string): Record<string, unknown> => ({ addr: { type: 'unix', data: { path } } });
  expectClass('nbd-server-start', unixAddr(join(runtimeDir, 'qmp.sock')), 'dangerous');
  expectClass('nbd-server-start', unixAddr(join(filesDir, 'nbd.sock')), 'privileged');
  expectClass('nbd-server-start', { addr: { type: 'inet', data: { host: '0.0.0.0', port: '10809' } } }, 'dangerous');
  expectClass('block-export-add', { type: 'fuse', id: 'e', 'node-name': 'n0', mountpoint: '/etc/passwd' }, 'dangerous');
  expectClass('block-export-add', { type: 'vhost-user-blk', id: 'e', 'node-name': 'n0', addr: { type: 'inet', host: '0.0.0.0', port: '9999' } }, 'dangerous');
  expectClass('block-export-add', { type: 'nbd', id: 'e', 'node-name': 'n0' }, 'privileged');
  expectClass('display-update', { type: 'vnc', addresses: [{ type: 'unix', path: join(runtimeDir, 'vnc.sock') }] }, 'dangerous');
  expectClass('display-update', { type: 'vnc', addresses: [{ type: 'inet', host: '0.0.0.0', port: '5900' }] }, 'dangerous');
  expectClass('display-update', { type: 'vnc', addresses: [{ type: 'unix', path: join(filesDir, 'vnc2.sock') }] }, 'safe');
  for (const command of ['migrate', 'migrate-incoming', 'migrate-recover']) {
    expectClass(command, { uri: 'exec:cat > /tmp/x' }, 'dangerous');
    expectClass(command, { uri: 'unix:/run/other.sock' }, 'dangerous');
    expectClass(command, { uri: `unix:${join(runtimeDir, 'monitor.sock')}` }, 'dangerous');
    expectClass(command, { uri: 'file:/tmp/state' }, 'dangerous');
    expectClass(command, { uri: `unix:${join(filesDir, 'mig.sock')}` }, 'privileged');
    expectClass(command, { uri: 'tcp:127.0.0.1:4444' }, 'privileged');
  }
  expectClass('xen-save-devices-state', { filename: '/tmp/devstate' }, 'dangerous');
  expectClass('xen-save-devices-state', { filename: join(filesDir, 'devstate') }, 'safe');
  expectClass('xen-load-devices-state', { filename: '/etc/shadow' }, 'dangerous');
  expectClass('xen-load-devices-state', { filename: join(filesDir, 'devstate') }, 'privileged');
  expectClass('dumpdtb', { filename: '/etc/cron.d/x' }, 'dangerous');
  expectClass('dumpdtb', { filename: join(filesDir, 'x.dtb') }, 'safe');
});

test('file descriptor passing is dangerous: the guard cannot see what a descriptor opens', () => {
  for (const command of ['getfd', 'add-fd']) {
    const verdict = guard.classify(command, { fdname: 'x' }, ctx);
    assert.equal(verdict.class, 'dangerous', command);
    assert.match(verdict.reason, /cannot inspect/);
  }
  expectClass('closefd', { fdname: 'x' }, 'safe');
});

test('object-add: host paths, host interfaces, outside services, unreviewed types', () => {
  expectClass('object-add', { 'qom-type': 'input-linux', id: 'i', evdev: '/dev/input/event0' }, 'dangerous');
  expectClass('object-add', { 'qom-type': 'rng-random', id: 'r', filename: '/dev/urandom' }, 'safe');
  expectClass('object-add', { 'qom-type': 'rng-random', id: 'r', filename: '/dev/random' }, 'safe');
  expectClass('object-add', { 'qom-type': 'rng-random', id: 'r' }, 'safe');
  expectClass('object-add', { 'qom-type': 'rng-random', id: 'r', filename: '/dev/sda' }, 'dangerous');
  expectClass('object-add', { 'qom-type': 'rng-builtin', id: 'r', filename: '/dev/urandom' }, 'dangerous');
  expectClass('object-add', { 'qom-type': 'tls-creds-x509', id: 't', dir: '/root/.ssh', endpoint: 'server' }, 'dangerous');
  expectClass('object-add', { 'qom-type': 'tls-creds-x509', id: 't', dir: join(filesDir, 'pki'), endpoint: 'server' }, 'safe');
  expectClass('object-add', { 'qom-type': 'secret', id: 's', file: '/etc/shadow' }, 'dangerous');
  expectClass('object-add', { 'qom-type': 'secret', id: 's', data: 'aGk=', format: 'base64' }, 'safe');
  expectClass('object-add', { 'qom-type': 'memory-backend-file', id: 'm', 'mem-path': join(runtimeDir, 'ram'), size: 4096 }, 'dangerous');
  expectClass('object-add', { 'qom-type': 'memory-backend-file', id: 'm', 'mem-path': join(filesDir, 'ram2'), size: 4096 }, 'safe');
  expectClass('object-add', { 'qom-type': 'filter-dump', id: 'f', netdev: 'n0', file: '/tmp/traffic.pcap' }, 'dangerous');
  expectClass('object-add', { 'qom-type': 'filter-dump', id: 'f', netdev: 'n0', file: join(filesDir, 'traffic.pcap') }, 'safe');
  expectClass('object-add', { 'qom-type': 'authz-list-file', id: 'a', filename: '/etc/shadow' }, 'dangerous');
  expectClass('object-add', { 'qom-type': 'cryptodev-vhost-user', id: 'c', chardev: 'c0' }, 'safe');
  for (const type of ['can-host-socketcan', 'qtest', 'secret_keyring', 'x-remote-object', 'input-barrier', 'dbus-vmstate', 'dbus-display']) {
    expectClass('object-add', { 'qom-type': type, id: 'o', if: 'can0', chardev: 'c0', keyid: 1, fd: '3', devid: 'x', name: 'b', addr: 'unix:path=/run/dbus' }, 'dangerous');
  }
  const unreviewed = guard.classify('object-add', { 'qom-type': 'memory-backend-epc', id: 'e', size: 4096 }, ctx);
  assert.equal(unreviewed.class, 'dangerous');
  assert.match(unreviewed.reason, /not reviewed/);
  expectClass('object-add', { id: 'x' }, 'dangerous');
});

test('device_add: every host passthrough driver the definition guard refuses, and host file keys', () => {
  const drivers = [
    'vfio-pci',
    'vfio-pci-nohotplug',
    'pci-assign',
    'kvm-pci-assign',
    'xen-pci-passthrough',
    'usb-host',
    'u2f-passthru',
    'vhost-vsock-pci',
    'vhost-user-vsock-pci',
    'loader',
    'guest-loader',
    'virtio-input-host-pci',
    'vhost-scsi-pci',
    'vhost-user-scsi-pci',
    'vhost-vdpa-device-pci',
    'vhost-user-blk-pci',
    'vhost-user-fs-pci',
    'vhost-user-gpu',
    'x-pci-proxy-dev',
    'pvrdma',
    'ccid-card-emulated',
  ];
  for (const driver of drivers) {
    assert.ok(HOST_DEVICE_DRIVERS.some((d) => d.pattern.test(driver)), `${driver} is in the shared list`);
    expectClass('device_add', { driver, id: 'd' }, 'dangerous');
  }
  for (const d of HOST_DEVICE_DRIVERS) {
    const rule = DEFAULT_GUARD_RULES.find((r) => r.command === 'device_add' && r.reason === d.risk);
    assert.ok(rule, `device_add has a rule for ${d.pattern}`);
  }
  expectClass('device_add', { driver: 'e1000', id: 'n', romfile: '/etc/shadow' }, 'dangerous');
  expectClass('device_add', { driver: 'e1000', id: 'n', romfile: 'efi-e1000.rom' }, 'dangerous');
  expectClass('device_add', { driver: 'e1000', id: 'n', romfile: '' }, 'safe');
  expectClass('device_add', { driver: 'usb-mtp', id: 'm', rootdir: '/' }, 'dangerous');
  expectClass('device_add', { driver: 'usb-kbd', id: 'k', pcap: '/tmp/usb.pcap' }, 'dangerous');
  expectClass('device_add', { driver: 'ipmi-bmc-sim', id: 'b', sdrfile: '/etc/shadow' }, 'dangerous');
  expectClass('device_add', { driver: 'virtio-net-pci', id: 'n', netdev: 'user1', mac: '52:54:00:12:34:56' }, 'safe');
  expectClass('device_add', { driver: 'virtio-blk-pci', id: 'b', drive: 'n0' }, 'safe');
  expectClass('device_add', { driver: 'isa-serial', id: 's', chardev: 'c1' }, 'safe');
  expectClass('qom-set', { path: '/machine/peripheral/n', property: 'romfile', value: '/etc/shadow' }, 'dangerous');
  expectClass('qom-set', { path: '/objects/m', property: 'mem-path', value: '/dev/mem' }, 'dangerous');
  expectClass('qom-set', { path: '/machine', property: 'dumpdtb', value: '/tmp/x' }, 'dangerous');
  expectClass('qom-set', { path: '/machine/peripheral/b', property: 'guest-stats-polling-interval', value: 2 }, 'safe');
});

test('new condition kinds in operator rules: arg-not-in, arg-absent, has-key, key-match, all', () => {
  const custom = new QmpGuard([
    { command: 'query-block', class: 'privileged', reason: 'flat only', when: { kind: 'arg-not-in', arg: 'flat', values: ['yes'] } },
    { command: 'stop', class: 'dangerous', reason: 'needs a ticket', when: { kind: 'arg-absent', arg: 'ticket' } },
    { command: 'send-key', class: 'dangerous', reason: 'no ctrl-alt-del', when: { kind: 'has-key', pattern: '^hold' } },
    { command: 'input-send-event', class: 'privileged', reason: 'keys only', when: { kind: 'key-match', keys: ['type'], pattern: '^key$' } },
    {
      command: 'screendump',
      class: 'dangerous',
      reason: 'png outside',
      when: {
        kind: 'all',
        conditions: [
          { kind: 'arg-in', arg: 'format', values: ['png'] },
          { kind: 'host-path-outside', keys: ['filename'] },
        ],
      },
    },
  ]);
  assert.equal(custom.classify('query-block', {}).class, 'privileged', 'absent counts as not in');
  assert.equal(custom.classify('query-block', { flat: 'yes' }).class, 'safe');
  assert.equal(custom.classify('stop', {}).class, 'dangerous');
  assert.equal(custom.classify('stop', { ticket: null }).class, 'privileged', 'null counts as given; the default rule decides');
  assert.equal(custom.classify('send-key', { keys: [], 'hold-time': 100 }).class, 'dangerous');
  assert.equal(custom.classify('send-key', { keys: [] }).class, 'safe');
  assert.equal(custom.classify('input-send-event', { events: [{ type: 'key', data: {} }] }).class, 'privileged');
  assert.equal(custom.classify('input-send-event', { events: [{ type: 'abs', data: {} }] }).class, 'safe');
  const png = custom.classify('screendump', { filename: '/tmp/s.png', format: 'png' }, ctx);
  assert.deepEqual([png.class, png.reason, png.paths], ['dangerous', 'png outside', ['/tmp/s.png']]);
  assert.equal(custom.classify('screendump', { filename: join(filesDir, 's.png'), format: 'png' }, ctx).class, 'safe');
  assert.throws(
    () => new QmpGuard([{ command: 'stop', class: 'safe', reason: 'x', when: { kind: 'key-match', keys: ['a'], pattern: '(' } }]),
    (err) => isVigilError(err, 'VIGIL_CONFIG_INVALID') && /not a valid regular expression/.test(err.message),
  );
});

test('every default rule has a readable reason and a valid condition', () => {
  const kinds = new Set(['arg-prefix', 'arg-in', 'arg-not-in', 'arg-absent', 'has-key', 'key-match', 'host-path-outside', 'all']);
  const walk = (c: RuleCondition | undefined): void => {
    if (c === undefined) return;
    assert.ok(kinds.has(c.kind), c.kind);
    if (c.kind === 'all') c.conditions.forEach(walk);
  };
  for (const rule of DEFAULT_GUARD_RULES) {
    assert.match(rule.reason, /^[a-zA-Z"'].{10,}[^.\s]$/, `${rule.command}: ${rule.reason}`);
    assert.doesNotMatch(rule.reason, /undefined|\[object/, rule.command);
    walk(rule.when);
  }
  assert.doesNotThrow(() => new QmpGuard());
});
