/** The kill switch's failure paths, without QEMU: whatever goes wrong, an engage ends engaged, never unknown. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { KillswitchEngine, type KillswitchEngineOptions } from '../../src/killswitch/engine.js';
import { Vigil } from '../../src/vigil.js';
import { vmDefinitionSchema } from '../../src/vm/definition/schema.js';

const home = mkdtempSync(join(tmpdir(), 'vigil-ks-errors-'));
let vigil: Vigil;

function engine(extra: Partial<KillswitchEngineOptions> = {}): KillswitchEngine {
  return new KillswitchEngine({ db: vigil.db, vms: vigil.vms, audit: vigil.audit, paths: vigil.paths, logger: silentLogger, ...extra });
}

before(() => {
  vigil = Vigil.open({ home, logger: silentLogger, principal: 'tester' });
  vigil.define(vmDefinitionSchema.parse({ name: 'off', accel: 'tcg', nics: [{ type: 'user' }], killswitch: { devices: ['nosuch'] } }));
  vigil.define(vmDefinitionSchema.parse({ name: 'plain', accel: 'tcg', nics: [{ type: 'user' }] }));
});

after(() => {
  vigil.close();
  rmSync(home, { recursive: true, force: true });
});

test('a selector that matches nothing falls back to every device, with the problem noted', async () => {
  const plan = await engine().plan();
  assert.deepEqual(plan.vms.map((v) => v.vmName), ['off']);
  assert.deepEqual(plan.vms[0]?.devices.map((d) => d.deviceId), ['net0']);
  assert.match(plan.vms[0]?.problem ?? '', /nosuch.*cutting every device instead/);
});

test('a VM that is not running is safe as it is; engage and release round-trip', async () => {
  const e = engine();
  const report = await e.engage({ source: 'test' });
  assert.equal(e.status().state, 'engaged');
  assert.deepEqual(report.vms.map((v) => [v.vmName, v.notRunning, v.safe]), [['off', true, true]]);
  const released = await e.release({ source: 'test' });
  assert.equal(e.status().state, 'armed');
  assert.deepEqual(released.unrestored, []);
  // Releasing an armed switch changes nothing.
  await e.release({ source: 'test' });
  assert.equal(e.status().state, 'armed');
});

test('an engage that fails part-way still ends engaged, and says why', async () => {
  const e = engine({
    inventory: () => {
      throw new Error('sysfs exploded');
    },
  });
  const report = await e.engage({ source: 'test' });
  assert.equal(e.status().state, 'engaged');
  assert.match(report.error ?? '', /sysfs exploded/);
  const audit = vigil.audit.query({ kind: 'killswitch' });
  assert.equal(audit.at(-1)?.outcome, 'partial');
  await e.release({ source: 'test' });
  assert.equal(e.status().state, 'armed');
});

test('toggle flips the switch; a release requested during an engage waits for it', async () => {
  const e = engine();
  const engaging = e.toggle({ source: 'test' });
  const releasing = e.release({ source: 'test' });
  assert.notEqual(engaging, releasing);
  await engaging;
  assert.equal((await releasing).action, 'release');
  assert.equal(e.status().state, 'armed');
});
