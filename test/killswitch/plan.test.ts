/** Kill switch plans from VM definitions: selection by id and class, re-attach properties, escalation defaults. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildPlan, planVm } from '../../src/killswitch/plan.js';
import { readInventory } from '../../src/sysfs/inventory.js';
import { vmDefinitionSchema } from '../../src/vm/definition/schema.js';
import { sysfsFixture } from '../helpers/sysfs-fixture.js';

const vm = (definition: Record<string, unknown>): { name: string; definition: ReturnType<typeof vmDefinitionSchema.parse> } => {
  const parsed = vmDefinitionSchema.parse({ name: 'ws', accel: 'tcg', ...definition });
  return { name: parsed.name, definition: parsed };
};

const desk = {
  usb: [{ id: 'cam0', vendor: '046d', product: '082d' }],
  pci: [{ address: '00:1f.3' }],
  nics: [{ type: 'user' }, { type: 'user', id: 'quiet', link: 'down' }],
  devices: [
    { id: 'usbc', driver: 'qemu-xhci' },
    { id: 'kbd0', driver: 'usb-kbd', props: { bus: 'usbc.0' } },
  ],
};

test('a VM without a killswitch section is left alone', () => {
  assert.deepEqual(buildPlan([vm(desk)]), { vms: [] });
});

test('all: passthrough, emulated devices and NICs, controllers excepted, with the defaults', async () => {
  const inventory = await readInventory(sysfsFixture());
  const plan = planVm(vm({ ...desk, killswitch: {} }), inventory);
  assert.ok(plan);
  assert.deepEqual(plan.escalation, ['pause', 'poweroff', 'kill']);
  assert.equal(plan.deadlineMs, 500);
  assert.equal(plan.failsafe, false);
  assert.deepEqual(
    plan.devices.map((d) => `${d.deviceId}:${d.kind}:${d.class}:${d.action}`),
    ['cam0:usb:camera:detach', 'hostpci0:pci:audio:detach', 'kbd0:emulated:input:detach', 'net0:nic:network:link-down', 'quiet:nic:network:link-down'],
  );
  // The same properties the argv builder gave QEMU, so release re-attaches the device as it was.
  assert.deepEqual(plan.devices[0]?.props, { driver: 'usb-host', id: 'cam0', bus: 'xhci.0', vendorid: '0x046d', productid: '0x082d' });
  assert.deepEqual(plan.devices[1]?.props, { driver: 'vfio-pci', id: 'hostpci0', host: '0000:00:1f.3' });
  // Release restores each link to what the definition says.
  assert.deepEqual(plan.devices[3]?.props, { up: true });
  assert.deepEqual(plan.devices[4]?.props, { up: false });
});

test('selectors pick by class (from the host inventory) and by id', async () => {
  const inventory = await readInventory(sysfsFixture());
  const plan = planVm(vm({ ...desk, killswitch: { devices: ['class:camera', 'class:audio', 'kbd0'], escalation: ['pause'], deadlineMs: 200 } }), inventory);
  assert.deepEqual(plan?.devices.map((d) => d.deviceId), ['cam0', 'hostpci0', 'kbd0']);
  assert.deepEqual(plan?.escalation, ['pause']);
  assert.equal(plan?.deadlineMs, 200);
});

test('an id the VM does not have is refused with the field named', () => {
  assert.throws(() => planVm(vm({ ...desk, killswitch: { devices: ['webcam'] } })), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'VIGIL_INVALID_INPUT');
    assert.match(err.message, /killswitch\.devices names 'webcam'/);
    return true;
  });
});

test('the section refuses repeated escalation steps and unknown selectors', () => {
  assert.equal(vmDefinitionSchema.safeParse({ name: 'a', killswitch: { escalation: ['pause', 'pause'] } }).success, false);
  assert.equal(vmDefinitionSchema.safeParse({ name: 'a', killswitch: { devices: ['class:toaster'] } }).success, false);
  assert.equal(vmDefinitionSchema.safeParse({ name: 'a', killswitch: { deadline: 5 } }).success, false);
});
