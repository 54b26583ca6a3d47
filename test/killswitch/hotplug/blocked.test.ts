/** The blocked-devices list and what it refuses: by USB vendor:product or port, by PCI address; unreadable = refuse. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isVigilError } from '../../../src/core/errors.js';
import { resolvePaths } from '../../../src/core/paths.js';
import { silentLogger } from '../../../src/core/log.js';
import { assertAttachable, BLOCKED_FILE, BlockedDevices, blockedAttachGuard, refusalFor, type BlockedDevice } from '../../../src/killswitch/hotplug/blocked.js';
import type { PlannedDevice } from '../../../src/killswitch/plan.js';
import { vmDefinitionSchema } from '../../../src/vm/definition/schema.js';

const usbCam: BlockedDevice = { id: 'usb:1-2', kind: 'usb', class: 'camera', vendorId: '046d', productId: '082d', bus: 1, port: '2', rule: 'class:camera', source: 'rescan', at: '', deauthorized: true };
const nic: BlockedDevice = { id: 'pci:0000:03:00.0', kind: 'pci', class: 'network', address: '0000:03:00.0', rule: 'pci:0000:03:00.0', source: 'udev', at: '', deauthorized: false };
const planned = (kind: PlannedDevice['kind'], props: Record<string, string>): PlannedDevice => ({ vmName: 'vm', deviceId: 'd', kind, class: 'other', action: 'detach', props });

function paths(): ReturnType<typeof resolvePaths> {
  const p = resolvePaths({ VIGIL_HOME: mkdtempSync(join(tmpdir(), 'vigil-blocked-')) });
  mkdirSync(p.data, { recursive: true });
  return p;
}

test('the list: add replaces by id, remove returns what it removed', () => {
  const store = new BlockedDevices(paths());
  assert.deepEqual(store.list(), []);
  store.add(usbCam);
  store.add({ ...usbCam, rule: '046d:082d' });
  store.add(nic);
  assert.deepEqual(store.list().map((d) => `${d.id}:${d.rule}`), ['usb:1-2:046d:082d', 'pci:0000:03:00.0:pci:0000:03:00.0']);
  assert.deepEqual(store.remove((d) => d.kind === 'pci').map((d) => d.id), ['pci:0000:03:00.0']);
  assert.equal(store.list().length, 1);
});

test('refusals: usb-host by vendor:product or bus/port, vfio-pci by address; others pass', () => {
  const list = [usbCam, nic];
  assert.match(refusalFor(list, planned('usb', { driver: 'usb-host', vendorid: '0x046d', productid: '0x082d' })) ?? '', /would take usb:1-2/);
  assert.match(refusalFor(list, planned('usb', { driver: 'usb-host', hostbus: '1', hostport: '2' })) ?? '', /usb:1-2/);
  assert.equal(refusalFor(list, planned('usb', { driver: 'usb-host', hostbus: '1', hostport: '3' })), undefined);
  assert.match(refusalFor(list, planned('pci', { driver: 'vfio-pci', host: '0000:03:00.0' })) ?? '', /pci:0000:03:00\.0/);
  assert.equal(refusalFor(list, planned('emulated', { driver: 'usb-kbd' })), undefined);
  const def = vmDefinitionSchema.parse({ name: 'x', memory: '64M', pci: [{ address: '03:00.0' }] });
  assert.throws(() => assertAttachable(list, 'x', def), (err) => isVigilError(err, 'VIGIL_DEVICE_BLOCKED') && /pci\.0 would attach pci:0000:03:00\.0/.test(err.message));
  assert.doesNotThrow(() => assertAttachable([usbCam], 'x', def));
});

test('an unreadable list: the start path refuses (VIGIL_STORE) and release refuses every host device', () => {
  const p = paths();
  writeFileSync(join(p.data, BLOCKED_FILE), '{ not json');
  assert.throws(() => new BlockedDevices(p).list(), (err) => isVigilError(err, 'VIGIL_STORE'));
  const guard = blockedAttachGuard(p, silentLogger);
  guard.beforeRelease();
  assert.match(guard.refusal(planned('usb', { driver: 'usb-host', hostbus: '9', hostport: '9' })) ?? '', /cannot be read/);
  assert.equal(guard.refusal(planned('emulated', { driver: 'usb-kbd' })), undefined);
});
