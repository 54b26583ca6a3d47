import assert from 'node:assert/strict';
import { test } from 'node:test';
import { vmDefinitionSchema } from '../definition/schema.js';
import { blockNodeNames, netdevId, withDefaultIds } from './ids.js';
import { postStartActions } from './post-start.js';

test('missing ids are filled by position, skipping ids written elsewhere', () => {
  const def = vmDefinitionSchema.parse({
    name: 'web',
    disks: [{ id: 'net1', file: '/i/a.raw' }, { file: '/i/b.raw' }],
    nics: [{ type: 'user' }, { type: 'user' }, { id: 'lan', type: 'user' }],
    usb: [{ vendor: '046d', product: '0825' }],
    pci: [{ address: '01:00.0' }],
    devices: [{ driver: 'virtio-rng-pci' }, { id: 'dev0', driver: 'pvpanic' }],
  });
  const d = withDefaultIds(def);
  assert.deepEqual(
    d.disks.map((x) => x.id),
    ['net1', 'disk1'],
  );
  assert.deepEqual(
    d.nics.map((x) => x.id),
    ['net0', 'net2', 'lan'],
  );
  assert.deepEqual(
    d.usb.map((x) => x.id),
    ['usb0'],
  );
  assert.deepEqual(
    d.pci.map((x) => x.id),
    ['hostpci0'],
  );
  assert.deepEqual(
    d.devices.map((x) => x.id),
    ['dev1', 'dev0'],
  );
  assert.equal(def.nics[0]!.id, undefined, 'the input is not changed');
});

test('netdev ids and block node names', () => {
  assert.equal(netdevId('lan'), 'hostnet-lan');
  assert.deepEqual(blockNodeNames(3), { file: 'blk3-file', format: 'blk3-format' });
  // QEMU's limit on node names is 31 characters.
  assert.ok(blockNodeNames(9999).format.length <= 31);
});

test('postStartActions: set_link down for NICs that start unplugged, in order', () => {
  const def = vmDefinitionSchema.parse({
    name: 'web',
    nics: [{ type: 'user', link: 'down' }, { type: 'user' }, { id: 'lan', type: 'tap', ifname: 'tap0', link: 'down' }],
  });
  assert.deepEqual(postStartActions(def), [
    { command: 'set_link', args: { name: 'net0', up: false } },
    { command: 'set_link', args: { name: 'lan', up: false } },
  ]);
  assert.deepEqual(postStartActions(vmDefinitionSchema.parse({ name: 'web' })), []);
});
