import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isVigilError } from '../../core/errors.js';
import { vmDefinitionSchema, type VmDefinitionInput } from '../definition/schema.js';
import { buildQemuArgv } from './build.js';
import type { ArgvContext } from './context.js';

function argv(nics: VmDefinitionInput['nics'], over: Partial<ArgvContext> = {}): string[] {
  const def = vmDefinitionSchema.parse({ name: 'r', nics });
  const macs = { net0: '5a:56:00:00:00:01', lan: '5a:56:00:00:00:02', net1: '5a:56:00:00:00:03' };
  return buildQemuArgv(def, { qemuBinary: 'qemu-system-x86_64', runtimeDir: '/run/r', stateDir: '/s/r', accel: 'kvm', macs, daemonize: false, ...over });
}

/** The NIC part of the argv: everything from the first -netdev or NIC -device on. */
function nicArgs(args: readonly string[]): string[] {
  const start = args.findIndex((a, i) => a === '-netdev' || (a === '-device' && /^(vfio-pci|virtio-net|e1000e|rtl8139)/.test(args[i + 1] ?? '')));
  return start < 0 ? [] : args.slice(start);
}

test('user NIC with port forwards (IPv4, host address defaulting to loopback)', () => {
  assert.deepEqual(
    nicArgs(
      argv([
        {
          type: 'user',
          forward: [
            { hostPort: 2222, guestPort: 22 },
            { protocol: 'udp', hostAddress: '0.0.0.0', hostPort: 5353, guestPort: 53 },
          ],
        },
      ]),
    ),
    ['-netdev', 'user,id=hostnet-net0,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp:0.0.0.0:5353-:53', '-device', 'virtio-net-pci,id=net0,netdev=hostnet-net0,mac=5a:56:00:00:00:01'],
  );
});

test('tap NIC: an existing tap, no scripts', () => {
  assert.deepEqual(nicArgs(argv([{ id: 'lan', type: 'tap', ifname: 'tap-web', model: 'e1000e' }])), [
    '-netdev',
    'tap,id=hostnet-lan,ifname=tap-web,script=no,downscript=no',
    '-device',
    'e1000e,id=lan,netdev=hostnet-lan,mac=5a:56:00:00:00:02',
  ]);
});

test('bridge NIC: the bridge helper', () => {
  assert.deepEqual(nicArgs(argv([{ type: 'bridge', bridge: 'br0', model: 'rtl8139' }])), [
    '-netdev',
    'bridge,id=hostnet-net0,br=br0',
    '-device',
    'rtl8139,id=net0,netdev=hostnet-net0,mac=5a:56:00:00:00:01',
  ]);
});

test('bridge NIC with a VLAN: a tap QEMU creates under the name Vigil chose, so that Vigil can tag its port', () => {
  const args = nicArgs(argv([{ type: 'bridge', bridge: 'br0', vlan: 42 }]));
  assert.match(args[1]!, /^tap,id=hostnet-net0,ifname=vt[0-9a-f]{12},script=no,downscript=no$/);
  assert.ok(args[1]!.split(',')[2]!.length - 'ifname='.length <= 15, 'within IFNAMSIZ');
});

test('macvtap NIC: a tap backend on the fd the caller opened', () => {
  assert.deepEqual(nicArgs(argv([{ type: 'macvtap', macvtap: 'mvtap0' }], { fds: { net0: 3 } })), [
    '-netdev',
    'tap,id=hostnet-net0,fd=3',
    '-device',
    'virtio-net-pci,id=net0,netdev=hostnet-net0,mac=5a:56:00:00:00:01',
  ]);
  assert.throws(
    () => argv([{ type: 'macvtap', macvtap: 'mvtap0' }]),
    (err) => isVigilError(err, 'VIGIL_INVALID_INPUT') && /ctx\.fds\["net0"\]/.test(err.message),
  );
});

test('VF NIC: the function passed through with vfio-pci, no backend and no MAC on the command line', () => {
  assert.deepEqual(nicArgs(argv([{ type: 'vf', address: '03:10.0', mac: '5a:56:00:00:0a:01' }])), ['-device', 'vfio-pci,id=net0,host=0000:03:10.0']);
});

test('several NICs keep their order; a missing MAC is the caller’s mistake', () => {
  const args = nicArgs(argv([{ type: 'user' }, { type: 'tap', ifname: 'tap1' }]));
  assert.deepEqual(
    args.filter((_, i) => i % 2 === 1),
    ['user,id=hostnet-net0', 'virtio-net-pci,id=net0,netdev=hostnet-net0,mac=5a:56:00:00:00:01', 'tap,id=hostnet-net1,ifname=tap1,script=no,downscript=no', 'virtio-net-pci,id=net1,netdev=hostnet-net1,mac=5a:56:00:00:00:03'],
  );
  assert.throws(() => argv([{ id: 'other', type: 'user' }]), (err) => isVigilError(err, 'VIGIL_INVALID_INPUT') && /resolveMacs/.test(err.message));
});
