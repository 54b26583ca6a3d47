/** The `host:` section of config.yaml: defaults off, bad entries reported with line, column, field and fix. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../../src/core/config.js';
import { isVigilError } from '../../src/core/errors.js';

test('a full host section is read', () => {
  const c = parseConfigText(
    `host:
  fim:
    rules:
      - path: /srv/vms
        include: ['**/*.yaml']
        exclude: [cache/**]
        attributes: [sha256, mode]
  honeypots:
    - { name: ssh-trap, host: 127.0.0.1, port: 2222, banner: "SSH-2.0-OpenSSH_9.2p1\\r\\n", actions: [{ type: killswitch }, { type: lockdown, name: full }] }
  canaries:
    - { name: keys, path: /root/.ssh/id_backup, content: "-----BEGIN OPENSSH PRIVATE KEY-----" }
  ports:
    allow: [tcp:22, 'tcp:127.0.0.1:3003', name:sshd]
    watch: true
  lockdowns:
    full: [{ type: killswitch }, { type: pause-vms }, { type: api-local-only }, { type: webhook, url: "https://hooks.example/x" }]
`,
    'config.yaml',
  );
  assert.deepEqual(c.host.fim.rules[0], { path: '/srv/vms', include: ['**/*.yaml'], exclude: ['cache/**'], attributes: ['sha256', 'mode'], maxHashBytes: 0 });
  assert.equal(c.host.honeypots[0]!.perPeerPerMinute, 10);
  assert.deepEqual(c.host.honeypots[0]!.actions, [{ type: 'killswitch' }, { type: 'lockdown', name: 'full' }]);
  assert.deepEqual(c.host.canaries[0]!.actions, [{ type: 'log' }]);
  assert.deepEqual(c.host.lockdowns.full![3], { type: 'webhook', url: 'https://hooks.example/x', timeoutMs: 5000, headers: {} });
});

test('bad host entries are reported with their position and field', () => {
  const text = `host:
  fim:
    rules:
      - path: relative/dir
  honeypots:
    - { name: trap, port: 70000 }
  lockdowns:
    full: [{ type: reboot-host }]
`;
  assert.throws(
    () => parseConfigText(text, 'config.yaml'),
    (e) => {
      assert.ok(isVigilError(e, 'VIGIL_CONFIG_INVALID'));
      assert.match(e.message, /config\.yaml:4:\d+.*host\.fim\.rules\.0\.path.*absolute path/);
      assert.match(e.message, /config\.yaml:6:\d+.*host\.honeypots\.0\.port/);
      assert.match(e.message, /config\.yaml:8:\d+.*host\.lockdowns\.full\.0/);
      return true;
    },
  );
});
