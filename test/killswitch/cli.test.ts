/**
 * `vigil killswitch` through the real CLI: status, engage, toggle, release, persisted across processes; logs,
 * config, and the self-test against a sysfs fixture tree.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runVigil } from '../helpers/cli.js';
import { sysfsFixture } from '../helpers/sysfs-fixture.js';

const home = mkdtempSync(join(tmpdir(), 'vigil-ks-cli-'));
const env = { VIGIL_HOME: home };
after(() => rmSync(home, { recursive: true, force: true }));

async function state(): Promise<string> {
  const r = await runVigil(['killswitch', 'status', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { state: string }).state;
}

test('engage, toggle and release persist between processes and are audited', async () => {
  let r = await runVigil(['killswitch', 'status'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /kill switch: armed \(never used\)/);
  r = await runVigil(['killswitch', 'engage'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^engage \(cli\)/);
  assert.equal(await state(), 'engaged');
  r = await runVigil(['killswitch', 'toggle', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { state: string; report: { action: string } }).report.action, 'release');
  assert.equal(await state(), 'armed');
  r = await runVigil(['killswitch', 'toggle'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await state(), 'engaged');
  r = await runVigil(['killswitch', 'release'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await state(), 'armed');
  r = await runVigil(['audit', 'grep', 'killswitch'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /killswitch engage/);
  assert.match(r.stdout, /killswitch release/);
});

test('logs lists the engages and releases with their trigger; config shows each section and what it resolves to', async () => {
  let r = await runVigil(['killswitch', 'logs'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /engage +ok .* by cli/);
  assert.match(r.stdout, /release +ok .* by cli/);
  r = await runVigil(['killswitch', 'logs', '--json', '-n', '1'], env);
  assert.equal((JSON.parse(r.stdout.trim()) as { command: string }).command, 'killswitch release');
  writeFileSync(join(home, 'cam.yaml'), 'name: cam\nmemory: 64M\nusb:\n  - { id: webcam, vendor: "046d", product: "082d" }\npci:\n  - { id: gpu, address: "0000:05:00.0" }\nkillswitch:\n  devices: all\n');
  assert.equal((await runVigil(['vm', 'add', join(home, 'cam.yaml')], env)).code, 0);
  r = await runVigil(['killswitch', 'config', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const config = JSON.parse(r.stdout) as { vms: { vm: string; resolves: string[] }[] };
  assert.deepEqual(config.vms.find((v) => v.vm === 'cam')?.resolves, ['webcam (usb, other, detach)', 'gpu (pci, other, detach)'], 'this host has no such webcam: its class is unknown');
});

test('test: each failure with its fix, exit 1; --verbose also lists what passed', async () => {
  const sysfs = sysfsFixture();
  const r = await runVigil(['killswitch', 'test', '--sysfs', sysfs, '--json'], env);
  assert.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; status: string; fix?: string }[] };
  const byName = new Map(report.checks.map((c) => [c.name, c]));
  assert.equal(byName.get('IOMMU')?.status, 'pass', 'the fixture has IOMMU groups');
  assert.equal(byName.get('VFIO modules')?.status, 'fail', 'a planned VM passes a PCI device through');
  assert.match(byName.get('VFIO modules')?.fix ?? '', /modprobe vfio/);
  assert.equal(byName.get('VM cam: USB 046d:082d')?.status, 'pass');
  assert.equal(byName.get('VM cam: PCI 0000:05:00.0')?.status, 'fail');
  assert.equal(byName.get('VM cam: QMP')?.status, 'warn', 'defined, not running');
  const text = await runVigil(['killswitch', 'test', '--sysfs', sysfs, '--verbose'], env);
  assert.match(text.stdout, /FAIL {2}VM cam: PCI 0000:05:00.0: not present on the host\n +fix: plug it in/);
  assert.match(text.stdout, /ok {4}IOMMU/);
  assert.match(text.stdout, /kill switch test FAILED/);
});
