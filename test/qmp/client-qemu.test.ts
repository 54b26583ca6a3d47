/** The QMP client against a real QEMU: one Linux guest for most tests, one guest with no OS for unplug refusal. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bootGuest, type Guest } from '../../guest/launch.js';
import { isVigilError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { QmpClient } from '../../src/qmp/client.js';
import * as cmd from '../../src/qmp/commands.js';
import { deviceDel } from '../../src/qmp/device-del.js';
import { freePort } from '../helpers/net.js';

let linux: Guest;
let bare: Guest;
let bareTcpPort: number;
let qmp: QmpClient;

before(async () => {
  bareTcpPort = await freePort();
  [linux, bare] = await Promise.all([
    bootGuest({ name: 'qmp-linux' }),
    bootGuest({ name: 'qmp-bare', noOs: true, extraArgs: ['-qmp', `tcp:127.0.0.1:${bareTcpPort},server=on,wait=off`] }),
  ]);
  qmp = new QmpClient({ logger: silentLogger });
  await qmp.connect({ path: linux.qmpSocket });
});

after(async () => {
  await qmp?.close();
  await Promise.all([linux?.stop(), bare?.stop()]);
});

test('greeting and query-version report this QEMU', async () => {
  const version = await cmd.queryVersion(qmp);
  assert.deepEqual(version.qemu, qmp.greeting!.QMP.version.qemu);
  assert.ok(version.qemu.major >= 7);
  assert.equal(qmp.state, 'running');
});

test('stop and cont change the run state and emit STOP and RESUME', async () => {
  assert.equal((await cmd.queryStatus(qmp)).status, 'running');
  const stopped = qmp.waitForEvent('STOP', undefined, 5000);
  await cmd.stop(qmp);
  assert.equal((await stopped).event, 'STOP');
  assert.deepEqual(await cmd.queryStatus(qmp), { status: 'paused', running: false, singlestep: false });
  const resumed = qmp.waitForEvent('RESUME', undefined, 5000);
  await cmd.cont(qmp);
  const event = await resumed;
  assert.ok(event.timestamp.seconds > 0);
  assert.equal((await cmd.queryStatus(qmp)).running, true);
});

test('a USB device is added and removed, confirmed by DEVICE_DELETED', async () => {
  await cmd.deviceAdd(qmp, { driver: 'usb-kbd', id: 'kbd0', bus: 'xhci.0' });
  const peripherals = await cmd.qomList(qmp, '/machine/peripheral');
  assert.ok(peripherals.some((p) => p.name === 'kbd0'));
  const removed = await deviceDel(qmp, 'kbd0', { timeoutMs: 5000 });
  assert.equal(removed.id, 'kbd0');
  assert.ok(removed.elapsedMs < 2000, `took ${removed.elapsedMs} ms`);
  const after = await cmd.qomList(qmp, '/machine/peripheral');
  assert.ok(!after.some((p) => p.name === 'kbd0'));
});

test('a second removal of the same device while one is pending is refused', async () => {
  await cmd.deviceAdd(qmp, { driver: 'usb-tablet', id: 'tab0', bus: 'xhci.0' });
  const first = deviceDel(qmp, 'tab0');
  await assert.rejects(deviceDel(qmp, 'tab0'), (err) => isVigilError(err, 'VIGIL_QMP_UNPLUG_PENDING'));
  await first;
});

test('QEMU errors carry the QMP class, description and command', async () => {
  await assert.rejects(qmp.execute('device_del', { id: 'no-such-device' }), (err) => {
    assert.ok(isVigilError(err, 'VIGIL_QMP_EXECUTE'));
    assert.equal(err.context.command, 'device_del');
    assert.equal(err.context.qmpClass, 'DeviceNotFound');
    assert.match(String(err.context.qmpDesc), /no-such-device/);
    return true;
  });
  await assert.rejects(qmp.execute('no-such-command'), (err) => isVigilError(err, 'VIGIL_QMP_EXECUTE') && err.context.qmpClass === 'CommandNotFound');
});

test('query-qmp-schema, a large reply, is parsed', async () => {
  const schema = await cmd.queryQmpSchema(qmp);
  const commands = schema.filter((e) => e['meta-type'] === 'command');
  assert.ok(schema.length > 1000, `${schema.length} entries`);
  for (const name of ['query-status', 'device_del', 'human-monitor-command']) assert.ok(commands.some((c) => c.name === name), name);
});

test('typed queries: PCI, vCPUs, memory backends, QOM', async () => {
  const pci = await cmd.queryPci(qmp);
  assert.ok(pci[0]!.devices.some((d) => d.qdev_id === 'xhci'));
  const cpus = await cmd.queryCpusFast(qmp);
  assert.equal(cpus.length, 1);
  assert.equal(cpus[0]!.target, 'x86_64');
  const memdev = await cmd.queryMemdev(qmp);
  assert.equal(memdev[0]!.share, true);
  assert.equal(Number(memdev[0]!.size), 256 * 1024 * 1024);
  assert.ok((await cmd.qomList(qmp, '/machine')).length > 0);
});

test('events arrive through an async iterator', async () => {
  const stream = qmp.events({ names: ['STOP', 'RESUME'] });
  await cmd.stop(qmp);
  await cmd.cont(qmp);
  assert.equal((await stream.next()).value?.event, 'STOP');
  assert.equal((await stream.next()).value?.event, 'RESUME');
  await stream.return!();
});

test('over TCP: a PCI device on a guest with no OS is never released, and the removal times out cleanly', async () => {
  const tcp = new QmpClient({ logger: silentLogger });
  await tcp.connect({ host: '127.0.0.1', port: bareTcpPort });
  try {
    await cmd.deviceAdd(tcp, { driver: 'virtio-rng-pci', id: 'rng0', bus: 'rp1' });
    const started = Date.now();
    await assert.rejects(deviceDel(tcp, 'rng0', { timeoutMs: 800 }), (err) => {
      assert.ok(isVigilError(err, 'VIGIL_QMP_TIMEOUT'));
      assert.equal(err.context.device, 'rng0');
      assert.match(err.message, /not released within 800 ms/);
      return true;
    });
    assert.ok(Date.now() - started < 3000);
    assert.equal((await cmd.queryStatus(tcp)).status, 'running', 'the connection is still usable');
  } finally {
    await tcp.close();
  }
});

test('QEMU killed mid-command rejects the pending call', async () => {
  const victim = new QmpClient({ logger: silentLogger });
  await victim.connect({ path: bare.qmpSocket });
  // Frozen, QEMU cannot answer: the call is surely in flight when the process dies.
  process.kill(bare.pid, 'SIGSTOP');
  const pending = victim.execute('query-status', undefined, { timeoutMs: 30000 });
  process.kill(bare.pid, 'SIGKILL');
  const started = Date.now();
  await assert.rejects(pending, (err) => isVigilError(err, 'VIGIL_QMP_DISCONNECTED'));
  assert.ok(Date.now() - started < 2000);
  assert.equal(victim.state, 'idle');
});
