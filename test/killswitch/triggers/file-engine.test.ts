/**
 * End to end: a trigger file created and removed engages and releases a real VM through a real KillswitchEngine,
 * with the triggers built by TriggerSet from config.yaml as vigild will build them. qom-list confirms the
 * devices leave and come back; the audit entry names the file trigger.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../../src/core/config.js';
import { silentLogger } from '../../../src/core/log.js';
import { KillswitchEngine } from '../../../src/killswitch/engine.js';
import { TriggerSet } from '../../../src/killswitch/triggers/set.js';
import { QmpClient } from '../../../src/qmp/client.js';
import { qomList } from '../../../src/qmp/commands.js';
import { Vigil } from '../../../src/vigil.js';
import { guestYaml, testHome, type TestHome } from '../../helpers/vigil-home.js';
import { recorder } from './record.js';

const GADGETS = `devices:
  - { id: usbc, driver: qemu-xhci }
  - { id: kbd0, driver: usb-kbd, props: { bus: usbc.0 } }
  - { id: tab0, driver: usb-tablet, props: { bus: usbc.0 } }
killswitch:
  devices: all
  deadlineMs: 8000
`;

let h: TestHome;
let vigil: Vigil;

async function peripherals(): Promise<string[]> {
  const c = new QmpClient();
  await c.connect({ path: vigil.vms.files('desk').qmpSocket });
  try {
    return (await qomList(c, '/machine/peripheral')).map((p) => p.name);
  } finally {
    await c.close();
  }
}

async function until(what: string, ok: () => boolean, timeoutMs = 20000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ok()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

before(async () => {
  h = await testHome();
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  vigil.add([h.write('desk.yaml', guestYaml(h, 'desk', GADGETS))]);
  await vigil.start('desk');
  h.write('config/config.yaml', `killswitch:\n  triggers:\n    - type: file\n      path: ${h.home}/panic\n      pollMs: 200\n`);
});

after(() => {
  vigil?.close();
  h?.killAll();
});

test('creating the trigger file engages the VM, removing it releases it', async () => {
  assert.ok((await peripherals()).includes('kbd0'));
  const engine = new KillswitchEngine({ db: vigil.db, vms: vigil.vms, audit: vigil.audit, paths: vigil.paths, logger: silentLogger });
  // The daemon's wiring: the engine's methods as the callback (passed through a recorder to time the trigger).
  const done: number[] = [];
  const r = recorder((kind, trigger) => engine[kind](trigger).then((report) => done.push(performance.now()) && report));
  const config = loadConfig(vigil.paths);
  const set = new TriggerSet(config.killswitch?.triggers ?? [], { callback: r.callback, logger: silentLogger, paths: vigil.paths });
  await set.start();
  try {
    const file = `${h.home}/panic`;
    let t0 = performance.now();
    writeFileSync(file, '');
    await until('engaged', () => engine.status().state === 'engaged' && engine.status().inFlight === null);
    const engagedMs = done[0]! - t0;
    const seenMs = r.calls[0]!.at - t0;
    const gone = await peripherals();
    assert.ok(!gone.includes('kbd0') && !gone.includes('tab0'), gone.join());
    assert.ok(gone.includes('usbc'));
    const status = engine.status();
    assert.equal(status.trigger?.source, 'file');
    assert.match(status.trigger?.detail ?? '', /panic created/);
    process.stdout.write(`# file created -> trigger ${seenMs.toFixed(1)} ms -> engaged (2 USB devices confirmed) ${engagedMs.toFixed(1)} ms\n`);

    t0 = performance.now();
    rmSync(file);
    await until('armed', () => engine.status().state === 'armed' && engine.status().inFlight === null);
    process.stdout.write(`# file removed -> released (2 USB devices back) ${(done[1]! - t0).toFixed(1)} ms\n`);
    const back = await peripherals();
    assert.ok(back.includes('kbd0') && back.includes('tab0'), back.join());
    const audit = vigil.audit.query({ kind: 'killswitch' });
    assert.deepEqual(audit.map((a) => a.command), ['killswitch engage', 'killswitch release']);
    assert.ok(audit.every((a) => JSON.stringify(a.args).includes('"source":"file"')));
  } finally {
    await set.stop();
  }
});
