/** TriggerSet builds the configured triggers from config.yaml's section and starts and stops them together. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { parseConfigText } from '../../../src/core/config.js';
import { defaultTriggerFile, TriggerSet } from '../../../src/killswitch/triggers/set.js';
import { memoryLogger, recorder } from './record.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-trigger-set-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the configured triggers run together; a trigger whose device or tool is missing does not stop the others', async () => {
  const config = parseConfigText(
    `killswitch:
  triggers:
    - type: file
      pollMs: 100
    - type: schedule
      name: every-second
      toggle: "* * * * * *"
    - type: hotkey
      keys: KEY_LEFTCTRL+KEY_K
      devices: [${join(dir, 'no-keyboard')}]
      reopenMs: 100
    - type: gpio
      chip: gpiochip9
      line: 1
      rising: engage
      command: ${join(dir, 'no-gpiomon')}
      restartMs: 100
`,
    'config.yaml',
  );
  const logger = memoryLogger();
  const r = recorder();
  const paths = { runtime: dir };
  const set = new TriggerSet(config.killswitch?.triggers ?? [], { callback: r.callback, logger, paths });
  assert.deepEqual(set.triggers.map((t) => t.name), [`file:${join(dir, 'killswitch.trigger')}`, 'every-second', 'hotkey:KEY_LEFTCTRL+KEY_K', 'gpio:gpiochip9:1']);
  assert.deepEqual(await set.start(), []);
  try {
    writeFileSync(defaultTriggerFile(paths), '');
    await r.waitFor(2, 4000);
    const sources = new Set(r.calls.map((c) => `${c.trigger.source}:${c.kind}`));
    assert.ok(sources.has('file:engage'), [...sources].join());
    assert.ok(sources.has('schedule:toggle'), [...sources].join());
  } finally {
    await set.stop();
  }
  const n = r.calls.length;
  await sleep(1200);
  assert.equal(r.calls.length, n, 'nothing fires after stop()');
  assert.ok(logger.lines.some((l) => l.level === 'error' && l.msg?.includes('gpiomon exited')));
});
