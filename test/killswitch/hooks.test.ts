/**
 * Device hooks on a real QEMU: pre_detach hooks that write a file, sleep past their timeout and fail run beside
 * the cut without delaying it; their exit status and output are in the engage's audit entry; post_attach runs
 * after release. The host file's problems are reported with positions, and a broken file costs the hooks only.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isVigilError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { KillswitchEngine } from '../../src/killswitch/engine.js';
import { runHookCommand } from '../../src/killswitch/hooks.js';
import { killswitchHostFile, parseKillswitchHostText } from '../../src/killswitch/host-file.js';
import { QmpClient } from '../../src/qmp/client.js';
import { qomList } from '../../src/qmp/commands.js';
import { Vigil } from '../../src/vigil.js';
import { testHome, type TestHome } from '../helpers/vigil-home.js';

const VM = `name: hooked
memory: 128M
accel: tcg
devices:
  - { id: usbc, driver: qemu-xhci }
  - { id: kbd0, driver: usb-kbd, props: { bus: usbc.0 } }
  - { id: tab0, driver: usb-tablet, props: { bus: usbc.0 } }
  - { id: mic0, driver: usb-audio, props: { bus: usbc.0, audiodev: snd0 } }
extraArgs: [-audiodev, 'none,id=snd0']
killswitch:
  devices: all
  deadlineMs: 2000
`;

let h: TestHome;
let vigil: Vigil;
let engine: KillswitchEngine;

async function peripherals(): Promise<string[]> {
  const c = new QmpClient();
  await c.connect({ path: vigil.vms.files('hooked').qmpSocket });
  try {
    return (await qomList(c, '/machine/peripheral')).map((p) => p.name);
  } finally {
    await c.close();
  }
}

before(async () => {
  h = await testHome();
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  vigil.add([h.write('hooked.yaml', VM)]);
  mkdirSync(h.paths.config, { recursive: true });
  await vigil.start('hooked');
  engine = new KillswitchEngine({ db: vigil.db, vms: vigil.vms, audit: vigil.audit, paths: vigil.paths, logger: silentLogger });
});

after(() => {
  vigil?.close();
  h?.killAll();
});

test('hooks run beside the cut: a writer, a sleeper killed at its timeout, a failure; all in the audit entry', async () => {
  const out = join(h.home, 'hook-out');
  writeFileSync(
    killswitchHostFile(h.paths),
    `hooks:
  - vm: hooked
    device: kbd0
    pre_detach: 'echo "$VIGIL_HOOK $VIGIL_VM $VIGIL_DEVICE $VIGIL_TRIGGER" > ${out}.pre; echo wrote'
    post_attach: 'echo "$VIGIL_HOOK $VIGIL_DEVICE" > ${out}.post'
  - device: tab0
    pre_detach: 'sleep 30; touch ${out}.never'
    timeout_ms: 1500
  - device: class:audio
    pre_detach: 'echo nope >&2; exit 3'
`,
  );
  const t0 = performance.now();
  const report = await engine.engage({ source: 'test' });
  const total = performance.now() - t0;
  const vm = report.vms[0]!;
  assert.ok(vm.safe, JSON.stringify(vm));
  for (const d of vm.devices) {
    assert.equal(d.outcome, 'detached', d.device.deviceId);
    // The sleeper's 1500 ms timeout is not in any cut.
    assert.ok(d.elapsedMs < 1000, `${d.device.deviceId} took ${d.elapsedMs} ms`);
  }
  assert.ok(vm.elapsedMs < 1000, `the VM was safe after ${vm.elapsedMs} ms`);
  assert.ok(total >= 1500, 'the report waits for the hooks (bounded by their timeouts)');
  process.stdout.write(`# cut in ${vm.elapsedMs.toFixed(1)} ms with three hooks, report after ${total.toFixed(0)} ms (sleeper killed at 1500 ms)\n`);
  const gone = await peripherals();
  for (const id of ['kbd0', 'tab0', 'mic0']) assert.ok(!gone.includes(id), id);

  assert.equal(readFileSync(`${out}.pre`, 'utf8'), 'pre_detach hooked kbd0 test\n');
  const byDevice = Object.fromEntries((vm.hooks ?? []).map((r) => [r.device, r]));
  assert.equal(byDevice.kbd0?.exitCode, 0);
  assert.equal(byDevice.kbd0?.stdout, 'wrote\n');
  assert.equal(byDevice.tab0?.timedOut, true);
  assert.equal(byDevice.tab0?.signal, 'SIGKILL');
  assert.ok((byDevice.tab0?.ms ?? 0) < 3000);
  assert.equal(byDevice.mic0?.exitCode, 3);
  assert.equal(byDevice.mic0?.stderr, 'nope\n');

  const entry = vigil.audit.query({ kind: 'killswitch', command: 'killswitch engage' }).at(-1);
  const audited = entry?.args.hooks as { device: string; hook: string; exitCode: number | null; timedOut: boolean; stderr: string }[];
  assert.deepEqual(audited.map((r) => `${r.device}:${r.hook}:${r.exitCode}:${r.timedOut}`).sort(), ['kbd0:pre_detach:0:false', 'mic0:pre_detach:3:false', 'tab0:pre_detach:null:true']);
  assert.equal(audited.find((r) => r.device === 'mic0')?.stderr, 'nope\n');
  // The sleeper's group was killed: its `touch` never ran.
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(existsSync(`${out}.never`), false);

  const released = await engine.release({ source: 'test' });
  assert.deepEqual(released.unrestored, []);
  assert.equal(readFileSync(`${out}.post`, 'utf8'), 'post_attach kbd0\n');
  assert.deepEqual(released.vms[0]?.hooks?.map((r) => `${r.device}:${r.hook}:${r.exitCode}`), ['kbd0:post_attach:0']);
  const relEntry = vigil.audit.query({ kind: 'killswitch', command: 'killswitch release' }).at(-1);
  assert.equal((relEntry?.args.hooks as unknown[]).length, 1);
  assert.ok((await peripherals()).includes('kbd0'));
});

test('wait_ms holds a cut for its pre_detach until the hook ends (bounded by wait_ms and the deadline)', async () => {
  const out = join(h.home, 'waited');
  writeFileSync(killswitchHostFile(h.paths), `hooks:\n  - device: kbd0\n    pre_detach: 'sleep 0.4; echo done > ${out}'\n    wait_ms: 1000\n`);
  const report = await engine.engage({ source: 'test' });
  const vm = report.vms[0]!;
  assert.ok(vm.safe);
  assert.ok(existsSync(out));
  // Without the hold the VM is cut in ~100 ms; with it, only after the 400 ms hook, and well before wait_ms ran out.
  assert.ok(vm.elapsedMs >= 400 && vm.elapsedMs < 1400, `the VM was cut after ${vm.elapsedMs} ms`);
  assert.equal(vm.devices.find((d) => d.device.deviceId === 'kbd0')?.outcome, 'detached');
  await engine.release({ source: 'test' });
});

test('a broken host file costs the hooks, not the cut', async () => {
  writeFileSync(killswitchHostFile(h.paths), 'hooks:\n  - device: kbd0\n    pre_detatch: oops\n');
  const report = await engine.engage({ source: 'test' });
  assert.ok(report.vms[0]!.safe);
  assert.equal(report.vms[0]!.hooks, undefined);
  assert.ok(!(await peripherals()).includes('kbd0'));
  await engine.release({ source: 'test' });
});

test('the host file: every problem with its position, field and fix', () => {
  assert.throws(
    () => parseKillswitchHostText('hooks:\n  - device: "bad device"\n    pre_detach: x\n  - device: cam0\n    timeout_ms: 5\nhotplug:\n  rules: ["046d-0825"]\n', 'ks.yaml'),
    (err) => {
      assert.ok(isVigilError(err, 'VIGIL_CONFIG_INVALID'));
      assert.match(err.message, /ks\.yaml:2:\d+: hooks\.0\.device: write a device id/);
      assert.match(err.message, /ks\.yaml:\d+:\d+: hooks\.1.*pre_detach, post_attach or both/);
      assert.match(err.message, /hooks\.1\.timeout_ms/);
      assert.match(err.message, /ks\.yaml:7:\d+: hotplug\.rules\.0: write class:<class>, vendor:product/);
      return true;
    },
  );
  const ok = parseKillswitchHostText('hooks:\n  - device: class:camera\n    pre_detach: pkill -f camera-app\n', 'ks.yaml');
  assert.equal(ok.hooks[0]?.vm, '*');
  assert.equal(ok.hooks[0]?.timeout_ms, 5000);
  assert.equal(ok.hotplug.on_release, 'keep');
});

test('runHookCommand: output is bounded; a command that cannot start is reported', async () => {
  const big = await runHookCommand('head -c 100000 /dev/zero | tr "\\0" x', { timeoutMs: 5000 });
  assert.equal(big.exitCode, 0);
  assert.equal(big.stdout.length, 4096);
  const missing = await runHookCommand('/nonexistent/hook', { timeoutMs: 5000 });
  assert.equal(missing.exitCode, 127);
});

test('runHookCommand: a hook whose background child keeps the pipes open still ends (by its exit, or by its timeout)', async () => {
  const t0 = performance.now();
  // The child leaves the hook's process group and holds stdout; the hook itself exits at once.
  const r = await runHookCommand('setsid sleep 5 & echo started', { timeoutMs: 3000 });
  assert.ok(performance.now() - t0 < 2000, `took ${Math.round(performance.now() - t0)} ms`);
  assert.equal(r.exitCode, 0);
  assert.match(r.stdout, /started/);
  const hung = await runHookCommand('(setsid sleep 5 &); sleep 5', { timeoutMs: 300 });
  assert.equal(hung.timedOut, true);
  assert.ok(hung.ms < 1500, `a hanging hook ends near its timeout, not when its orphan does (${Math.round(hung.ms)} ms)`);
});
