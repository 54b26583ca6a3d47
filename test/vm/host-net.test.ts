/**
 * NIC VLANs on the real host network stack: a bridge NIC with a VLAN gets a tap Vigil named, on the bridge, in
 * its VLAN, before the guest runs — or, on a kernel without bridge VLAN filtering (as on the machines we test
 * on), the start is refused with the fix and nothing is left running. The runner of the steps is checked
 * against the real `ip` and `bridge` commands.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { isVigilError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { applyHostNet } from '../../src/vm/host-net/apply.js';
import { vigilTapName } from '../../src/vm/host-net/tap-name.js';
import { Vigil } from '../../src/vigil.js';
import { testHome, type TestHome } from '../helpers/vigil-home.js';

const BR = `vgbr${process.pid % 100000}`;
const TAP = `vgtap${process.pid % 100000}`;
const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });
let h: TestHome;
let vigil: Vigil;
let filtering: boolean;

before(async () => {
  h = await testHome();
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  ip('link', 'add', BR, 'type', 'bridge');
  filtering = existsSync(`/sys/class/net/${BR}/bridge/vlan_filtering`);
  if (filtering) ip('link', 'set', BR, 'type', 'bridge', 'vlan_filtering', '1');
});

after(() => {
  h?.killAll();
  vigil?.close();
  for (const dev of [TAP, BR]) {
    try {
      ip('link', 'del', dev);
    } catch {
      // already gone
    }
  }
});

test('a bridge NIC with a VLAN: its tap is tagged before the guest runs, or the start is refused with the fix', async () => {
  vigil.add([h.write('v.yaml', `name: v\nmemory: 64M\naccel: tcg\nnics:\n  - { type: bridge, bridge: ${BR}, vlan: 42 }\n`)]);
  const tap = vigilTapName('v', 'net0');
  if (!filtering) {
    await assert.rejects(vigil.start('v'), (err: unknown) => {
      assert.ok(isVigilError(err, 'VIGIL_HOST_NET'), String(err));
      assert.match(err.message, /kernel has no bridge VLAN filtering.*CONFIG_BRIDGE_VLAN_FILTERING, or remove "vlan"/);
      return true;
    });
    assert.equal(vigil.vms.get('v').state, 'defined', 'nothing half-started');
    assert.equal(vigil.vms.get('v').pid, null);
    assert.ok(!existsSync(`/sys/class/net/${tap}`), 'no tap left behind');
    return;
  }
  const vm = await vigil.start('v');
  assert.equal(vm.state, 'running');
  assert.match(ip('-o', 'link', 'show', tap), new RegExp(`master ${BR}`));
  const vlans = JSON.parse(execFileSync('bridge', ['-j', 'vlan', 'show', 'dev', tap], { encoding: 'utf8' })) as { vlans: { vlan: number; flags?: string[] }[] }[];
  assert.deepEqual(vlans[0]?.vlans.map((v) => [v.vlan, [...(v.flags ?? [])].sort()]), [[42, ['Egress Untagged', 'PVID']]]);
  await vigil.stop('v', { force: true });
});

test('the step runner uses the real ip and bridge commands and names the step that failed', async () => {
  ip('tuntap', 'add', 'dev', TAP, 'mode', 'tap');
  const steps = [
    { nic: 'net0', argv: ['ip', 'link', 'set', 'dev', TAP, 'master', BR], why: 'put the tap on the bridge' },
    { nic: 'net0', argv: ['bridge', 'vlan', 'add', 'dev', TAP, 'vid', '42', 'pvid', 'untagged'], why: 'tag it' },
  ];
  if (filtering) {
    await applyHostNet(steps, {}, silentLogger);
    assert.match(execFileSync('bridge', ['vlan', 'show', 'dev', TAP], { encoding: 'utf8' }), /42 PVID/);
  } else {
    await assert.rejects(applyHostNet(steps, {}, silentLogger), (err: unknown) => {
      assert.ok(isVigilError(err, 'VIGIL_HOST_NET'), String(err));
      assert.match(err.message, /`bridge vlan add dev .* vid 42 pvid untagged` failed \(.*not supported.*\); it was to tag it/i);
      return true;
    });
  }
  assert.match(ip('-o', 'link', 'show', TAP), new RegExp(`master ${BR}`), 'the first step ran');
  await assert.rejects(applyHostNet([{ nic: 'net1', argv: ['ip', 'link', 'set', 'dev', 'vg-no-such', 'up'], why: 'bring it up' }], {}, silentLogger), /`ip link set dev vg-no-such up` failed \(.*Cannot find device/);
});
