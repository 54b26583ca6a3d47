import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isVigilError } from '../core/errors.js';
import { QmpGuard, isOutside } from './guard.js';
import { redactArgs, REDACTED } from './redact.js';

const runtimeDir = mkdtempSync(join(tmpdir(), 'vigil-guard-'));
const guard = new QmpGuard();
const ctx = { runtimeDir };

test('seed 004 classes: dangerous, memory dump, privileged, safe', () => {
  assert.equal(guard.classify('human-monitor-command').class, 'dangerous');
  assert.equal(guard.classify('inject-nmi').class, 'dangerous');
  for (const c of ['system_powerdown', 'system_reset', 'quit', 'stop', 'cont', 'device_del', 'blockdev-del', 'set_link']) {
    assert.equal(guard.classify(c).class, 'privileged', c);
  }
  assert.equal(guard.classify('pmemsave', { val: 0, size: 4096, filename: join(runtimeDir, 'mem.bin') }, ctx).class, 'memory-dump');
  assert.equal(guard.classify('memsave', { val: 0, size: 4096, filename: join(runtimeDir, 'mem.bin') }, ctx).class, 'memory-dump');
  assert.equal(guard.classify('dump-guest-memory', { paging: false, protocol: `file:${runtimeDir}/core` }, ctx).class, 'memory-dump');
  assert.equal(guard.classify('query-status').class, 'safe');
});

test('dangerous by argument', () => {
  assert.equal(guard.classify('migrate', { uri: 'exec:cat > /tmp/x' }).class, 'dangerous');
  assert.equal(guard.classify('migrate', { uri: 'tcp:127.0.0.1:4444' }).class, 'privileged');
  assert.equal(guard.classify('device_add', { driver: 'usb-host', id: 'cam', vendorid: 0x46d }).class, 'dangerous');
  assert.equal(guard.classify('device_add', { driver: 'vfio-pci', id: 'gpu', host: '01:00.0' }).class, 'dangerous');
  assert.equal(guard.classify('device_add', { driver: 'usb-kbd', id: 'kbd' }).class, 'safe');
  assert.equal(guard.classify('screendump', { filename: '/etc/passwd' }, ctx).class, 'dangerous');
  assert.equal(guard.classify('screendump', { filename: join(runtimeDir, 'screen.ppm') }, ctx).class, 'safe');
  assert.equal(guard.classify('pmemsave', { val: 0, size: 1, filename: '/tmp/mem' }, ctx).class, 'dangerous');
  assert.equal(guard.classify('pmemsave', { val: 0, size: 1, filename: `${runtimeDir}/../escape` }, ctx).class, 'dangerous');
  assert.equal(guard.classify('pmemsave', { val: 0, size: 1, filename: 'relative.bin' }, ctx).class, 'dangerous');
  assert.equal(guard.classify('dump-guest-memory', { paging: false, protocol: 'file:/root/core' }, ctx).class, 'dangerous');
  assert.equal(guard.classify('dump-guest-memory', { paging: false, protocol: 'fd:dumpfd' }, ctx).class, 'memory-dump');
  const disk = { driver: 'qcow2', 'node-name': 'd0', file: { driver: 'file', filename: '/dev/sda' } };
  assert.equal(guard.classify('blockdev-add', disk, ctx).class, 'dangerous');
  const own = { driver: 'qcow2', 'node-name': 'd0', file: { driver: 'file', filename: join(runtimeDir, 'scratch.qcow2') } };
  assert.equal(guard.classify('blockdev-add', own, ctx).class, 'safe');
  assert.equal(guard.classify('blockdev-add', { driver: 'qcow2', 'node-name': 'd1', file: 'd0' }, ctx).class, 'safe', 'a node-name reference is not a path');
  const chardev = { id: 'c0', backend: { type: 'socket', data: { addr: { type: 'unix', data: { path: '/var/run/docker.sock' } }, server: false } } };
  assert.equal(guard.classify('chardev-add', chardev, ctx).class, 'dangerous');
  assert.equal(guard.classify('chardev-add', { id: 'c1', backend: { type: 'file', data: { out: '/etc/cron.d/x' } } }, ctx).class, 'dangerous');
  assert.equal(guard.classify('object-add', { 'qom-type': 'memory-backend-file', id: 'm', 'mem-path': '/dev/mem', size: 4096 }, ctx).class, 'dangerous');
  assert.equal(guard.classify('object-add', { 'qom-type': 'iothread', id: 'io0' }, ctx).class, 'safe');
});

test('without a runtime directory every host path is outside', () => {
  assert.equal(guard.classify('screendump', { filename: join(runtimeDir, 'screen.ppm') }).class, 'dangerous');
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
