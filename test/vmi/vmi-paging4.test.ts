/**
 * A second real guest, for what the first one does not show: 4-level paging (the vCPU without LA57), 1 GiB
 * pages (with 5 GiB of RAM, Linux maps whole gigabytes of its direct map above 4 GiB with one entry each) and
 * RAM above 4 GiB on a booted q35 (QEMU splits at 2 GiB once RAM reaches 2.75 GiB). Every mapping of QEMU's
 * 'info tlb' translates the same; physical reads above 4 GiB equal pmemsave; the Linux views work on it too.
 * The RAM file is sparse: the large guest costs only what the kernel touches.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, it } from 'node:test';
import { GUEST_READY_LINE } from '../../guest/init-script.js';
import { isVigilError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { vmFilesDir } from '../../src/qmp/guard.js';
import { Vigil } from '../../src/vigil.js';
import { openVmMemory, type VmMemory } from '../../src/vmi/memory/vm-memory.js';
import { readPagingRegisters } from '../../src/vmi/paging/hmp-registers.js';
import { LinuxKernel } from '../../src/vmi/os/linux/kernel.js';
import { listProcesses } from '../../src/vmi/os/linux/tasks.js';
import { testHome, type TestHome } from '../helpers/vigil-home.js';
import { compareWithInfoTlb } from './qemu-view.js';

const GiB = 1 << 30;
let h: TestHome;
let vigil: Vigil;
let m: VmMemory;

before(async () => {
  h = await testHome();
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  vigil.add([
    h.write(
      'p4.yaml',
      `name: p4
memory: 5120M
cpus: 1
accel: tcg
cpu: max,la57=off
introspection: true
boot:
  kernel: ${h.kernel}
  initrd: ${h.initrd}
  cmdline: console=ttyS0 panic=-1 quiet cryptomgr.notests
`,
    ),
  ]);
  await vigil.start('p4');
  const deadline = Date.now() + 240_000;
  while (!vigil.logs('p4', 200).includes(GUEST_READY_LINE)) {
    if (Date.now() > deadline) throw new Error(`the guest never printed its ready line:\n${vigil.logs('p4', 30)}`);
    await sleep(200);
  }
  m = await openVmMemory('p4', { paths: h.paths });
});

after(async () => {
  await m?.close();
  vigil?.close();
  h?.killAll();
});

it('maps 2 GiB below the PCI hole and 3 GiB from 4 GiB (file offset 2 GiB)', () => {
  const ranges = m.memory.map.ranges;
  const high = ranges[ranges.length - 1];
  assert.deepEqual([high?.start, high?.size, high?.blockOffset], [4 * GiB, 3 * GiB, 2 * GiB]);
  assert.ok(ranges.some((r) => r.start + r.size === 2 * GiB));
  assert.equal(m.memory.map.totalBytes, 5 * GiB);
});

it('4-level paging (with 1 GiB pages where Linux left them): every translation agrees with QEMU, reads above 4 GiB equal pmemsave', async (t) => {
  await m.qmp.execute('stop');
  try {
    const r = await readPagingRegisters(m.qmp, 0);
    assert.equal(r.levels, 4);
    const tlb = await compareWithInfoTlb(m.qmp, m.memory, r.cr3, r.levels);
    // Linux maps the direct map above 4 GiB with 1 GiB pages, but splits any gigabyte in which it later changes
    // permissions (KFENCE's pool, module text aliases), and where those land differs between boots: 1 GiB leaves
    // are checked when present here, and always by the synthetic tables in walker.test.ts.
    assert.deepEqual(tlb.pageSizes.filter((s) => s < 1 << 30), [4096, 2 << 20]);
    t.diagnostic(`${tlb.checked} translations agree with 'info tlb' (page sizes ${tlb.pageSizes.join(', ')}; 4-level paging)`);
    for (const pa of [4 * GiB, 4 * GiB + (300 << 20), 7 * GiB - 65536]) {
      const file = join(vmFilesDir(m.files.runtimeDir), 'pmem.bin');
      await m.qmp.execute('pmemsave', { val: pa, size: 65536, filename: file });
      assert.ok((await m.memory.readPhys(pa, 65536)).equals(readFileSync(file)), `physical 0x${pa.toString(16)} differs from pmemsave`);
      rmSync(file);
    }
    await assert.rejects(m.memory.readPhys(2 * GiB - 4, 8), (err) => isVigilError(err, 'VIGIL_VMI_HOLE') && err.context.address === '0x80000000');
  } finally {
    await m.qmp.execute('cont');
  }
});

it('the Linux views on a 4-level guest: kernel found, processes listed from its tasks', async () => {
  const kernel = await LinuxKernel.attach(m.memory);
  assert.equal(kernel.virt.levels, 4);
  assert.equal((await kernel.identity()).pagingLevels, 4);
  const procs = await listProcesses(kernel);
  assert.equal(procs.find((p) => p.pid === 1)?.comm, 'init');
  assert.equal(procs.find((p) => p.pid === 2)?.comm, 'kthreadd');
  assert.ok(procs.some((p) => p.comm.startsWith('kworker/')));
});
