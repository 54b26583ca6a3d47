import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../../../src/core/config.js';
import { isVigilError } from '../../../src/core/errors.js';
import { parseCombo } from '../../../src/killswitch/triggers/keys.js';

test('config.yaml takes a killswitch.triggers list with defaults filled in', () => {
  const config = parseConfigText(
    `killswitch:
  triggers:
    - type: file
      path: /run/vigil/ks
    - type: schedule
      engage: "0 22 * * *"
      release: "0 7 * * *"
      timezone: Europe/Berlin
    - type: hotkey
      keys: KEY_LEFTCTRL+KEY_LEFTALT+KEY_K
    - type: gpio
      chip: gpiochip0
      line: 17
      rising: engage
      falling: release
`,
    'config.yaml',
  );
  assert.deepEqual(config.killswitch?.triggers, [
    { type: 'file', path: '/run/vigil/ks', pollMs: 1000 },
    { type: 'schedule', engage: '0 22 * * *', release: '0 7 * * *', timezone: 'Europe/Berlin', applyAtStart: true },
    { type: 'hotkey', keys: 'KEY_LEFTCTRL+KEY_LEFTALT+KEY_K', action: 'toggle', reopenMs: 1000, debounceMs: 500 },
    { type: 'gpio', chip: 'gpiochip0', line: 17, rising: 'engage', falling: 'release', activeLow: false, debounceMs: 200, command: 'gpiomon', restartMs: 2000 },
  ]);
  assert.equal(parseConfigText('', 'c.yaml').killswitch, undefined, 'no section: nothing changes for existing configs');
});

test('every bad trigger setting is reported at once, with the field and the fix', () => {
  const text = `killswitch:
  triggers:
    - type: schedule
      engage: "every night"
      timezone: Mars/Olympus
    - type: hotkey
      keys: KEY_LEFTCTRL+KEY_FOO
    - type: gpio
      chip: gpiochip0
      line: 3
    - type: schedule
    - type: file
      colour: red
    - type: smoke
`;
  assert.throws(
    () => parseConfigText(text, '/etc/vigil/config.yaml'),
    (err) => {
      assert.ok(isVigilError(err, 'VIGIL_CONFIG_INVALID'));
      assert.match(err.message, /config\.yaml:4:\d+: killswitch\.triggers\.0\.engage.*not a cron expression/);
      assert.match(err.message, /killswitch\.triggers\.0\.timezone.*IANA/);
      assert.match(err.message, /killswitch\.triggers\.1\.keys.*unknown key "KEY_FOO"/);
      assert.match(err.message, /killswitch\.triggers\.2.*rising or falling/);
      assert.match(err.message, /killswitch\.triggers\.3.*at least one of engage, release, toggle/);
      assert.match(err.message, /colour/);
      assert.match(err.message, /killswitch\.triggers\.5/);
      return true;
    },
  );
});

test('key names map to the kernel codes; decimal codes and short names work', () => {
  assert.deepEqual(parseCombo('KEY_LEFTCTRL+KEY_LEFTALT+KEY_K'), [29, 56, 37]);
  assert.deepEqual(parseCombo('key_rightmeta + F12 + 183'), [126, 88, 183]);
  assert.deepEqual(parseCombo('KEY_Q+KEY_A+KEY_Z+KEY_1+KEY_0+KEY_ESC+KEY_SPACE+KEY_F1+KEY_F10+KEY_F24'), [16, 30, 44, 2, 11, 1, 57, 59, 68, 194]);
  assert.throws(() => parseCombo('KEY_A+KEY_A'), /twice/);
  assert.throws(() => parseCombo('KEY_A+'), /key combination/);
});
