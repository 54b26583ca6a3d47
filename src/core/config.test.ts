import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isVigilError } from './errors.js';
import { parseConfigText } from './config.js';

test('an empty config gives defaults', () => {
  assert.deepEqual(parseConfigText('', 'config.yaml'), {
    qemu: { binary: 'qemu-system-x86_64', accel: 'auto' },
    api: { host: '127.0.0.1', port: 3003, windowSec: 300, requireV2ForDestructive: false },
    images: {},
    daemon: { stopVmsOnExit: false, healthIntervalMs: 10000 },
    qmp: { rules: [] },
    host: {
      fim: { defaults: true, hashImages: false, rules: [], rescanSec: 3600, concurrency: 16, watch: false, actions: [{ type: 'log' }] },
      honeypots: [],
      canaries: [],
      ports: { allow: [], watch: false, intervalSec: 10, actions: [{ type: 'log' }] },
      lockdowns: {},
    },
  });
});

test('guard rules are read', () => {
  const config = parseConfigText(
    'qmp:\n  rules:\n    - command: inject-nmi\n      class: privileged\n      reason: kdump\n',
    'config.yaml',
  );
  assert.deepEqual(config.qmp.rules, [{ command: 'inject-nmi', class: 'privileged', reason: 'kdump' }]);
});

test('every problem is reported at once with file, line, column and field', () => {
  const text = 'qmp:\n  rules:\n    - command: inject-nmi\n      class: harmless\n      reason: x\n  colour: blue\nextra: 1\n';
  assert.throws(
    () => parseConfigText(text, '/etc/vigil/config.yaml'),
    (err) => {
      assert.ok(isVigilError(err, 'VIGIL_CONFIG_INVALID'));
      assert.match(err.message, /3 problem/);
      assert.match(err.message, /\/etc\/vigil\/config\.yaml:4:14: qmp\.rules\.0\.class/);
      assert.match(err.message, /colour/);
      assert.match(err.message, /extra/);
      return true;
    },
  );
});

test('broken YAML names the position', () => {
  assert.throws(() => parseConfigText('qmp: [\n', 'c.yaml'), (err) => isVigilError(err, 'VIGIL_CONFIG_INVALID') && /c\.yaml:\d+:\d+/.test(err.message));
});
