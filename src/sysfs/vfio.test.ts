import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pciClassName } from './pci-class-names.js';
import { isHarmlessMember, isVfioDriver, vfioReadiness, type GroupMember } from './vfio.js';

const m = (address: string, driver: string | undefined, classCode = 0x030000): GroupMember => ({ address, driver, classCode });

test('vfio-pci and its vendor variants are vfio drivers; look-alikes are not', () => {
  for (const d of ['vfio-pci', 'mlx5_vfio_pci', 'hisi_acc_vfio_pci', 'nvgrace_gpu_vfio_pci']) assert.ok(isVfioDriver(d), d);
  for (const d of [undefined, 'vfio', 'vfio-platform', 'nouveau', 'pci-stub']) assert.ok(!isVfioDriver(d), String(d));
});

test('harmless group members: driverless, vfio, pci-stub, pcieport, and bridges whatever drives them', () => {
  assert.ok(isHarmlessMember(m('a', undefined)));
  assert.ok(isHarmlessMember(m('a', 'vfio-pci')));
  assert.ok(isHarmlessMember(m('a', 'pci-stub')));
  assert.ok(isHarmlessMember(m('a', 'pcieport', 0x060400)));
  assert.ok(isHarmlessMember(m('a', 'shpchp', 0x060400)));
  assert.ok(!isHarmlessMember(m('a', 'snd_hda_intel', 0x040300)));
  assert.ok(!isHarmlessMember(m('a', 'skl_uncore', 0x060000)), 'a host bridge is not a PCI-to-PCI bridge');
});

test('readiness: ready, bind-needed, group-busy (with the blockers), no-iommu', () => {
  const gpu = '0000:01:00.0';
  const group = [m('0000:00:01.0', 'pcieport', 0x060400), m(gpu, 'vfio-pci'), m('0000:01:00.1', 'vfio-pci', 0x040300)];
  assert.deepEqual(vfioReadiness(gpu, 'vfio-pci', 1, group), { vfio: 'ready', vfioBlockers: [] });
  assert.deepEqual(vfioReadiness(gpu, 'nouveau', 1, group), { vfio: 'bind-needed', vfioBlockers: [] });
  assert.deepEqual(vfioReadiness(gpu, undefined, 1, group), { vfio: 'bind-needed', vfioBlockers: [] });
  const busy = [...group.slice(0, 2), m('0000:01:00.1', 'snd_hda_intel', 0x040300)];
  assert.deepEqual(vfioReadiness(gpu, 'vfio-pci', 1, busy), { vfio: 'group-busy', vfioBlockers: [{ address: '0000:01:00.1', driver: 'snd_hda_intel' }] });
  assert.deepEqual(vfioReadiness(gpu, 'vfio-pci', undefined, []), { vfio: 'no-iommu', vfioBlockers: [] });
});

test('PCI class names as lspci prints them, falling back to the base class', () => {
  assert.equal(pciClassName(0x040300), 'Audio device');
  assert.equal(pciClassName(0x020000), 'Ethernet controller');
  assert.equal(pciClassName(0x0c0330), 'USB controller');
  assert.equal(pciClassName(0x0d4000), 'Wireless controller');
  assert.equal(pciClassName(0x7f0000), undefined);
  assert.equal(pciClassName(undefined), undefined);
});
