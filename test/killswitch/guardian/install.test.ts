/** `vigil install-service` also writes the guardian's unit and the udev rules, and prints them. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runVigil } from '../../helpers/cli.js';

test('install-service writes vigild, vigil-guardian and the udev rules', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-install-'));
  const r = await runVigil(['install-service', '--output', join(dir, 'vigild.service'), '--udev-rules', join(dir, 'rules.d/70-vigil.rules'), '--home', dir, '--group', 'kvm'], { VIGIL_HOME: dir });
  assert.equal(r.code, 0, r.stderr);
  const guardian = readFileSync(join(dir, 'vigil-guardian.service'), 'utf8');
  assert.match(guardian, /^ExecStart=\S+node\S* \S+killswitch\/guardian\/main\.(js|ts)$/m);
  assert.match(guardian, /^Restart=always$/m);
  assert.match(guardian, /^Before=vigild\.service$/m);
  assert.doesNotMatch(guardian, /BindsTo|PartOf/);
  assert.match(guardian, new RegExp(`^Environment=VIGIL_HOME=${dir}$`, 'm'));
  assert.match(readFileSync(join(dir, 'vigild.service'), 'utf8'), /^Wants=.*vigil-guardian\.service/m);
  const rules = readFileSync(join(dir, 'rules.d/70-vigil.rules'), 'utf8');
  assert.match(rules, /^SUBSYSTEM=="vfio", KERNEL!="vfio", GROUP="kvm", MODE="0660"$/m);
  assert.match(rules, /^SUBSYSTEM=="input", KERNEL=="event\*", GROUP="kvm", MODE="0640"$/m);
  assert.match(rules, /^SUBSYSTEM=="usb", ENV\{DEVTYPE\}=="usb_device", GROUP="kvm"/m);
  for (const f of ['vigild.service', 'vigil-guardian.service', '70-vigil.rules']) assert.match(r.stdout, new RegExp(`wrote \\S+${f.replace('.', '\\.')}:`));
  assert.match(r.stdout, /systemctl enable --now vigil-guardian vigild/);

  const bad = await runVigil(['install-service', '--output', join(dir, 'x.service'), '--group', 'no way'], { VIGIL_HOME: dir });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--group 'no way' is not a group name/);
  assert.equal(existsSync(join(dir, 'x.service')), false);

  const only = await runVigil(['install-service', '--output', join(dir, 'only/vigild.service'), '--no-guardian'], { VIGIL_HOME: dir });
  assert.equal(only.code, 0, only.stderr);
  assert.equal(existsSync(join(dir, 'only/vigil-guardian.service')), false);
});
