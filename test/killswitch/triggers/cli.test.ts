/** `vigil killswitch triggers` through the real CLI: the configured triggers and what this host lacks for them. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { TriggerDescription } from '../../../src/killswitch/triggers/describe.js';
import { runVigil } from '../../helpers/cli.js';

const home = mkdtempSync(join(tmpdir(), 'vigil-trig-cli-'));
const env = { VIGIL_HOME: home };
after(() => rmSync(home, { recursive: true, force: true }));

test('no triggers configured', async () => {
  const r = await runVigil(['killswitch', 'triggers'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /no triggers configured/);
});

test('each configured trigger with its next runs, devices and problems', async () => {
  mkdirSync(join(home, 'config'), { recursive: true });
  writeFileSync(
    join(home, 'config', 'config.yaml'),
    `killswitch:
  triggers:
    - type: file
    - type: schedule
      name: night
      engage: "0 22 * * *"
      release: "0 7 * * *"
      timezone: UTC
    - type: hotkey
      keys: KEY_LEFTCTRL+KEY_K
      devices: [/dev/input/event99]
    - type: gpio
      chip: gpiochip0
      line: 17
      rising: toggle
      command: /nonexistent/gpiomon
`,
  );
  let r = await runVigil(['killswitch', 'triggers', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const list = JSON.parse(r.stdout) as TriggerDescription[];
  assert.deepEqual(list.map((t) => t.type), ['file', 'schedule', 'hotkey', 'gpio']);
  assert.equal(list[0]?.details.path, join(home, 'run', 'killswitch.trigger'));
  assert.match(String((list[1]?.details.next as Record<string, string>).engage), /T22:00:00\.000Z$/);
  assert.deepEqual(list[2]?.details.codes, [29, 37]);
  assert.match(list[2]?.problems.join() ?? '', /event99 does not exist/);
  assert.match(list[3]?.problems.join() ?? '', /apt-get install gpiod/);
  r = await runVigil(['killswitch', 'triggers'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /night {2}\[schedule\]\n {2}engage at "0 22 \* \* \*", release at "0 7 \* \* \*" \(UTC\)\n {2}next engage: /);
  assert.match(r.stdout, /toggle on rising edge of gpiochip0 line 17/);

  // A bad config is refused with the field, as every config.yaml problem is.
  writeFileSync(join(home, 'config', 'config.yaml'), 'killswitch:\n  triggers:\n    - type: hotkey\n      keys: KEY_CTRL+KEY_K\n');
  r = await runVigil(['killswitch', 'triggers'], env);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /killswitch\.triggers\.0\.keys: unknown key "KEY_CTRL"/);
});
