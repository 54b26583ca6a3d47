/**
 * The guest kernel found in a real guest's RAM with no configuration: its BTF blob (the same bytes the guest
 * itself serves as /sys/kernel/btf/vmlinux) parsed into the structs Vigil needs, and VMCOREINFO with the
 * release the guest reports.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { silentLogger } from '../../src/core/log.js';
import { locateBtf } from '../../src/vmi/os/linux/btf/locate.js';
import { openVmMemory, type VmMemory } from '../../src/vmi/memory/vm-memory.js';
import { locateVmcoreinfo } from '../../src/vmi/os/linux/vmcoreinfo.js';
import { Vigil } from '../../src/vigil.js';
import { guestYaml, testHome, type TestHome } from '../helpers/vigil-home.js';

// The guest says what it has: the BTF's size and checksum as it serves it, and its release.
const INIT = `echo "GUEST-BTF=$(wc -c </sys/kernel/btf/vmlinux) $(md5sum </sys/kernel/btf/vmlinux | cut -d' ' -f1)"
echo "GUEST-RELEASE=$(uname -r)"`;

let h: TestHome;
let vigil: Vigil;
let vm: VmMemory;
let log = '';

before(async () => {
  h = await testHome(INIT);
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  vigil.add([h.write('k.yaml', guestYaml(h, 'k', 'introspection: true\n'))]);
  await vigil.start('k');
  const files = vigil.vms.files('k');
  for (let i = 0; i < 600 && !(existsSync(files.serialLog) && (log = readFileSync(files.serialLog, 'utf8')).includes('VIGIL-GUEST-READY')); i++) await sleep(100);
  assert.match(log, /VIGIL-GUEST-READY/);
  vm = await openVmMemory('k', { paths: h.paths, store: vigil.db });
});

after(async () => {
  await vm?.close();
  h?.killAll();
  vigil?.close();
});

test("the kernel's BTF is found in RAM, byte for byte what the guest serves, and parsed into the structs needed", async () => {
  const [, size, md5] = /GUEST-BTF=(\d+) ([0-9a-f]{32})/.exec(log) ?? [];
  const found = await locateBtf(vm.memory);
  assert.equal(found.length, Number(size), 'the same length as /sys/kernel/btf/vmlinux');
  const { createHash } = await import('node:crypto');
  assert.equal(createHash('md5').update(await vm.memory.readPhys(found.offset, found.length)).digest('hex'), md5, 'the same bytes');
  const btf = found.btf;
  assert.ok(btf.types.length > 50_000, `${btf.types.length} types`);
  const comm = btf.member('task_struct', 'comm');
  const commType = btf.resolve(comm.type);
  assert.equal(commType.kind, 'ARRAY');
  assert.equal(btf.sizeOf(comm.type), 16, 'TASK_COMM_LEN');
  for (const m of ['pid', 'tgid', 'tasks', 'real_parent', 'mm', 'cred', 'start_time', '__state']) assert.ok(btf.member('task_struct', m).byteOffset > 0, m);
  assert.equal(btf.member('list_head', 'next').byteOffset, 0);
  assert.equal(btf.member('list_head', 'prev').byteOffset, 8);
  assert.equal(btf.sizeOf(btf.member('task_struct', 'pid').type), 4);
  assert.ok(btf.member('mm_struct', 'pgd').byteOffset > 0, 'mm->pgd, through the anonymous struct it sits in');
  assert.throws(() => btf.member('task_struct', 'no_such_member'), /struct task_struct has no member no_such_member/);
});

test('VMCOREINFO is found and agrees with the guest: release, page size, the KASLR slide and init_top_pgt', async () => {
  const release = /GUEST-RELEASE=(\S+)/.exec(log)?.[1];
  const info = await locateVmcoreinfo(vm.memory);
  assert.equal(info.osRelease, release);
  assert.equal(info.pageSize, 4096);
  const initTopPgt = info.symbols.get('init_top_pgt');
  assert.ok(initTopPgt !== undefined && initTopPgt >= 0xffffffff80000000n, 'a kernel image address');
  assert.ok(info.numbers.has('phys_base'));
  assert.ok(info.offsets.size > 10 && info.sizes.size > 3, 'struct layouts too');
});
