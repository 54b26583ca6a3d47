/** Hot-plug rules from killswitch sections and the host file, matched against the fixture host's devices. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hotplugRules, matchRule, parseRule } from '../../../src/killswitch/hotplug/rules.js';
import { findDevice, readInventory } from '../../../src/sysfs/inventory.js';
import { vmDefinitionSchema } from '../../../src/vm/definition/schema.js';
import { sysfsFixture } from '../../helpers/sysfs-fixture.js';

const def = (o: object): ReturnType<typeof vmDefinitionSchema.parse> => vmDefinitionSchema.parse({ name: 'x', memory: '128M', ...o });

test('rules: host devices a section cuts (vendor:product, port, address), its class selectors, extra rules', () => {
  const rules = hotplugRules(
    [
      { name: 'a', definition: def({ usb: [{ id: 'cam0', vendor: '046D', product: '082d' }, { id: 'mic0', bus: 1, port: '4.2' }, { id: 'kbd', vendor: '046d', product: 'c31c' }], killswitch: { devices: ['cam0', 'mic0', 'class:bluetooth'] } }) },
      { name: 'b', definition: def({ pci: [{ id: 'hda', address: '0000:00:1f.3' }], killswitch: { devices: 'all' } }) },
      { name: 'c', definition: def({ usb: [{ id: 'u', vendor: '1111', product: '2222' }] }) },
    ],
    ['class:camera'],
  );
  assert.deepEqual(rules.map((r) => r.text).sort(), ['046d:082d', 'class:bluetooth', 'class:camera', 'pci:0000:00:1f.3', 'port:1-4.2']);
});

test('matching the fixture host: a composite webcam by class, a hub port, a PCI address; a keyboard not at all', async () => {
  const inv = await readInventory(sysfsFixture());
  const rules = ['class:audio', 'port:1-4.2', 'pci:0000:00:1f.6'].map((t) => parseRule(t)!);
  const webcam = findDevice(inv, 'usb:1-1')!; // camera + microphone: its classes include audio
  assert.equal(matchRule(rules, webcam)?.text, 'class:audio');
  assert.equal(matchRule([parseRule('port:1-4.2')!], findDevice(inv, 'usb:1-4.2')!)?.text, 'port:1-4.2');
  assert.equal(matchRule(rules, findDevice(inv, 'pci:0000:00:1f.6')!)?.text, 'pci:0000:00:1f.6');
  assert.equal(matchRule(rules, findDevice(inv, 'usb:1-4.3')!), undefined);
  assert.equal(parseRule('nonsense'), undefined);
});
