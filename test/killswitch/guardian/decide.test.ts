/** What the guardian does for a death, by the switch's state and the VMs' failsafe flags (VMs defined, not running). */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../../src/core/log.js';
import { KillswitchEngine } from '../../../src/killswitch/engine.js';
import { onVigildDeath } from '../../../src/killswitch/guardian/guardian.js';
import { Vigil } from '../../../src/vigil.js';
import { vmDefinitionSchema } from '../../../src/vm/definition/schema.js';

function setup(): { vigil: Vigil; failsafe: KillswitchEngine; full: KillswitchEngine } {
  const vigil = Vigil.open({ home: mkdtempSync(join(tmpdir(), 'vigil-guardian-')), logger: silentLogger });
  const base = { db: vigil.db, vms: vigil.vms, audit: vigil.audit, paths: vigil.paths, logger: silentLogger };
  return { vigil, failsafe: new KillswitchEngine({ ...base, planFilter: (p) => p.failsafe }), full: new KillswitchEngine(base) };
}

const define = (vigil: Vigil, name: string, failsafe: boolean): void => {
  vigil.define(vmDefinitionSchema.parse({ name, memory: '64M', devices: [{ id: 'usbc', driver: 'qemu-xhci' }, { id: 'k', driver: 'usb-kbd', props: { bus: 'usbc.0' } }], killswitch: { failsafe } }));
};
const death = { kind: 'death' as const, pid: 4242, how: 'socket-closed' as const, at: Date.now() };

test('no failsafe VM: the switch stays armed', async () => {
  const s = setup();
  define(s.vigil, 'plain', false);
  assert.equal(await onVigildDeath({ ...s, logger: silentLogger }, death), undefined);
  assert.equal(s.full.status().state, 'armed');
  s.vigil.close();
});

test('armed: only the failsafe VMs are planned; engaged: nothing more; engaging: finished over every VM', async () => {
  const s = setup();
  define(s.vigil, 'plain', false);
  define(s.vigil, 'safe', true);
  const report = await onVigildDeath({ ...s, logger: silentLogger }, death);
  assert.deepEqual(report?.vms.map((v) => v.vmName), ['safe']);
  assert.equal(report?.trigger.source, 'guardian');
  assert.match(report?.trigger.detail ?? '', /pid 4242.*liveness socket closed/);
  assert.equal(s.full.status().state, 'engaged');

  assert.equal(await onVigildDeath({ ...s, logger: silentLogger }, { ...death, pid: 4243 }), undefined);

  s.vigil.db.prepare("UPDATE killswitch SET state = 'engaging'").run();
  const finished = await onVigildDeath({ ...s, logger: silentLogger }, { ...death, pid: 4244, how: 'pidfile' });
  assert.deepEqual(finished?.vms.map((v) => v.vmName).sort(), ['plain', 'safe']);
  assert.match(finished?.trigger.detail ?? '', /pidfile names a dead process\); found engaging/);
  s.vigil.close();
});
