/** The host network plan against fixture sysfs/procfs trees laid out as the kernel does. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { isVigilError } from '../../core/errors.js';
import { vmDefinitionSchema, type VmDefinitionInput } from '../definition/schema.js';
import { planHostNet } from './plan.js';
import { vigilTapName } from './tap-name.js';

const roots: string[] = [];
after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

function tree(files: Record<string, string>, links: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'vigil-hostnet-'));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  for (const [path, target] of Object.entries(links)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    symlinkSync(target, join(root, path));
  }
  return root;
}

const bridge = (filtering: string | undefined, pvid = '1'): Record<string, string> => ({
  'sys/class/net/br0/ifindex': '5',
  'sys/class/net/br0/bridge/bridge_id': '8000.000000000000',
  'sys/class/net/br0/bridge/default_pvid': pvid,
  ...(filtering === undefined ? {} : { 'sys/class/net/br0/bridge/vlan_filtering': filtering }),
});

const def = (nics: VmDefinitionInput['nics']): ReturnType<typeof vmDefinitionSchema.parse> => vmDefinitionSchema.parse({ name: 'web', nics });

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(isVigilError(err, 'VIGIL_HOST_NET'), String(err));
    return err.message;
  }
  assert.fail('expected VIGIL_HOST_NET');
}

test('bridge NIC with a VLAN: the tap Vigil named goes on the bridge, leaves the default VLAN, joins its own untagged', () => {
  const root = tree(bridge('1'));
  const tap = vigilTapName('web', 'net0');
  assert.deepEqual(
    planHostNet(def([{ type: 'bridge', bridge: 'br0', vlan: 42 }]), { sysRoot: root }).map((s) => s.argv.join(' ')),
    [`ip link set dev ${tap} master br0`, `bridge vlan del dev ${tap} vid 1`, `bridge vlan add dev ${tap} vid 42 pvid untagged`, `ip link set dev ${tap} up`],
  );
  assert.deepEqual(planHostNet(def([{ type: 'bridge', bridge: 'br0' }]), { sysRoot: root }), [], 'no VLAN: the bridge helper does it all');
});

test('a bridge that cannot filter VLANs refuses the start with the fix', () => {
  assert.match(refusal(() => planHostNet(def([{ type: 'bridge', bridge: 'br0', vlan: 42 }]), { sysRoot: tree(bridge('0')) })), /does not filter VLANs; turn it on: ip link set br0 type bridge vlan_filtering 1/);
  assert.match(refusal(() => planHostNet(def([{ type: 'bridge', bridge: 'br0', vlan: 42 }]), { sysRoot: tree(bridge(undefined)) })), /kernel has no bridge VLAN filtering.*CONFIG_BRIDGE_VLAN_FILTERING/);
  assert.match(refusal(() => planHostNet(def([{ type: 'bridge', bridge: 'br9', vlan: 42 }]), { sysRoot: tree(bridge('1')) })), /bridge 'br9' does not exist/);
});

test('tap NIC with a VLAN: its bridge port is tagged; a tap on no bridge is refused', () => {
  const root = tree(bridge('1', '0'), { 'sys/class/net/tap1/master': '../br0' });
  assert.deepEqual(
    planHostNet(def([{ type: 'tap', ifname: 'tap1', vlan: 7 }]), { sysRoot: root }).map((s) => s.argv.join(' ')),
    ['bridge vlan show dev tap1', 'bridge vlan add dev tap1 vid 7 pvid untagged'],
    'the VLANs an earlier boot left are pruned first; default_pvid 0: nothing else to leave',
  );
  assert.match(refusal(() => planHostNet(def([{ type: 'tap', ifname: 'tap2', vlan: 7 }]), { sysRoot: root })), /tap 'tap2' is not a port of a bridge/);
});

test("VF NIC: MAC and VLAN set on the PF's interface at the VF's index, found through physfn and virtfnN", () => {
  const pci = 'sys/devices/pci0000:00/0000:00:03.0';
  const root = tree(
    { [`${pci}/0000:03:00.0/net/enp3s0f0/ifindex`]: '3', [`${pci}/0000:03:10.0/vendor`]: '0x8086', [`${pci}/0000:03:10.2/vendor`]: '0x8086' },
    {
      'sys/bus/pci/devices/0000:03:10.2': `../../../../${pci}/0000:03:10.2`,
      [`${pci}/0000:03:10.2/physfn`]: '../0000:03:00.0',
      [`${pci}/0000:03:00.0/virtfn0`]: '../0000:03:10.0',
      [`${pci}/0000:03:00.0/virtfn1`]: '../0000:03:10.2',
    },
  );
  const steps = planHostNet(def([{ type: 'vf', address: '03:10.2', vlan: 100 }]), { sysRoot: root });
  assert.deepEqual(steps.map((s) => s.argv.join(' ')), ['ip link set dev enp3s0f0 vf 1 mac  vlan 100']);
  assert.equal(steps[0]!.needsMac, true, "the MAC is this boot's, filled in when the step runs");
  assert.match(refusal(() => planHostNet(def([{ type: 'vf', address: '03:10.0' }]), { sysRoot: root })), /not an SR-IOV VF/);
});

test("macvtap NIC with a VLAN: checked against its lower device's VLAN id", () => {
  const root = tree({ 'sys/class/net/mv0/lower_eth0.10/ifindex': '4', 'proc/net/vlan/eth0.10': 'eth0.10  VID: 10\t REORDER_HDR: 1  dev->priv_flags: 1021\n' });
  assert.deepEqual(planHostNet(def([{ type: 'macvtap', macvtap: 'mv0', vlan: 10 }]), { sysRoot: root, procRoot: root }), []);
  assert.match(refusal(() => planHostNet(def([{ type: 'macvtap', macvtap: 'mv0', vlan: 11 }]), { sysRoot: root, procRoot: root })), /is on VLAN 10, not VLAN 11; create it on a VLAN interface/);
});
