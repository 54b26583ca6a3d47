/**
 * The process list read from the host equals the guest's own /proc: same pids, names and parents, command lines
 * from each process's address space; a process started later appears and one that exits disappears.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { isVigilError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { openVmMemory, type VmMemory } from '../../src/vmi/memory/vm-memory.js';
import type { GdbstubBackend } from '../../src/vmi/memory/gdbstub-backend.js';
import { VirtualMemory } from '../../src/vmi/paging/virtual-memory.js';
import { LinuxKernel } from '../../src/vmi/os/linux/kernel.js';
import { listProcesses, type LinuxProcess } from '../../src/vmi/os/linux/tasks.js';
import { listModules } from '../../src/vmi/os/linux/modules.js';
import { locateBtf } from '../../src/vmi/os/linux/btf/locate.js';
import { locateVmcoreinfo } from '../../src/vmi/os/linux/vmcoreinfo.js';
import { createHash } from 'node:crypto';
import { Vigil } from '../../src/vigil.js';
import { Wallet } from 'ethers';
import WebSocket from 'ws';
import { buildApi } from '../../src/api/server.js';
import { AccessRepo } from '../../src/store/access-repo.js';
import { PyClient } from '../helpers/api-client.js';
import { runVigil } from '../helpers/cli.js';
import { guestYaml, testHome, type TestHome } from '../helpers/vigil-home.js';

// busybox applets under new names (busybox runs `busybox* <applet>`), with arguments; then the guest's own view.
const INIT = `for n in 1 2 3 4; do ln -s /bin/busybox /bin/busyboxvq$n; done
/bin/busyboxvq1 sleep 3001 &
/bin/busyboxvq2 sleep 3002 &
(cd / && exec /bin/busyboxvq3 sleep 3003) &
# A process that plants copies of what the host looks for (init_task's comm, VMCOREINFO) must not blind it.
yes swapper/0 | tr '\\n' '\\000' | head -c 3000000 > /spray1; yes OSRELEASE=6.6.6-fake | head -c 300000 > /spray2
procs() { echo "$1-BEGIN"; for d in /proc/[0-9]*; do set -- $(cat $d/stat 2>/dev/null) && echo "PROC $1 $4 $2"; done; echo "$1-END"; }
procs FIRST
modprobe dummy; modprobe virtio_net
echo MODS-BEGIN; cat /proc/modules; echo MODS-END
echo "GUEST-BTF=$(wc -c </sys/kernel/btf/vmlinux) $(md5sum </sys/kernel/btf/vmlinux | cut -d' ' -f1)"
echo "GUEST-RELEASE=$(uname -r)"`;

let h: TestHome;
let vigil: Vigil;
let vm: VmMemory;
let kernel: LinuxKernel;
let serial: Socket;

const log = (): string => readFileSync(vigil.vms.files('p').serialLog, 'utf8');

async function waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  for (const t0 = Date.now(); Date.now() - t0 < timeoutMs; await sleep(100)) {
    const m = existsSync(vigil.vms.files('p').serialLog) ? pattern.exec(log()) : null;
    if (m) return m;
  }
  throw new Error(`not seen on the serial console: ${pattern}; tail: ${log().slice(-500)}`);
}

/** The guest's processes between `tag-BEGIN` and `tag-END`: pid -> [ppid, comm]. */
function guestView(tag: string): Map<number, { ppid: number; comm: string }> {
  const text = log();
  const body = text.slice(text.indexOf(`${tag}-BEGIN`), text.indexOf(`${tag}-END`));
  const out = new Map<number, { ppid: number; comm: string }>();
  for (const m of body.matchAll(/^PROC (\d+) (\d+) \((.*)\)\r?$/gm)) out.set(Number(m[1]), { ppid: Number(m[2]), comm: m[3]! });
  return out;
}

before(async () => {
  h = await testHome(INIT);
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  vigil.add([h.write('p.yaml', guestYaml(h, 'p', 'introspection: true\n'))]);
  await vigil.start('p');
  await waitFor(/VIGIL-GUEST-READY/, 60_000);
  vm = await openVmMemory('p', { paths: h.paths, store: vigil.db });
  kernel = await LinuxKernel.attach(vm.memory);
  serial = createConnection(vigil.vms.files('p').serialSocket);
  await new Promise((r) => serial.once('connect', r));
});

after(async () => {
  serial?.destroy();
  await vm?.close();
  h?.killAll();
  vigil?.close();
});

test('modules: the same names, sizes and order as the guest\'s /proc/modules', async () => {
  const text = log();
  const body = text.slice(text.indexOf('MODS-BEGIN'), text.indexOf('MODS-END'));
  const guest = [...body.matchAll(/^(\w+) (\d+) \d+ /gm)].map((m) => `${m[1]} ${m[2]}`);
  assert.ok(guest.some((g) => g.startsWith('dummy ')), body);
  const ours = await listModules(kernel);
  assert.deepEqual(ours.map((m) => `${m.name} ${m.size}`), guest);
  assert.ok(ours.every((m) => m.state === 'live' && m.base >= 0xffffffff80000000n));
});

test("the kernel's BTF is found in RAM, byte for byte what the guest serves, and parsed into the structs needed", async () => {
  const [, size, md5] = /GUEST-BTF=(\d+) ([0-9a-f]{32})/.exec(log()) ?? [];
  const found = await locateBtf(vm.memory);
  assert.equal(found.length, Number(size), 'the same length as /sys/kernel/btf/vmlinux');
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
  const release = /GUEST-RELEASE=(\S+)/.exec(log())?.[1];
  const info = await locateVmcoreinfo(vm.memory);
  assert.equal(info.osRelease, release);
  assert.equal(info.pageSize, 4096);
  const initTopPgt = info.symbols.get('init_top_pgt');
  assert.ok(initTopPgt !== undefined && initTopPgt >= 0xffffffff80000000n, 'a kernel image address');
  assert.ok(info.numbers.has('phys_base'));
  assert.ok(info.offsets.size > 10 && info.sizes.size > 3, 'struct layouts too');
});

const byPid = (list: LinuxProcess[]): Map<number, LinuxProcess> => new Map(list.map((p) => [p.pid, p]));

test("the host's list equals the guest's /proc: pids, parents and names; command lines from each address space", async () => {
  const guest = guestView('FIRST');
  const ours = byPid(await listProcesses(kernel));
  assert.ok(guest.size > 20, `guest listed ${guest.size}`);
  const shellPid = Math.max(...guest.keys());
  for (const [pid, g] of guest) {
    // The listing loop's own subshells are gone by now; everything else must be there, the same.
    if (g.comm === 'sh' && pid >= shellPid - 2 && !ours.has(pid)) continue;
    if (g.comm === 'cat') continue;
    const p = ours.get(pid);
    assert.ok(p, `pid ${pid} (${g.comm}) missing from the host's list`);
    // /proc shows a kernel thread's full name and a kworker's current workqueue; comm holds the first 15 bytes.
    if (p.kernelThread) assert.ok(g.comm.startsWith(p.comm), `pid ${pid}: ${p.comm} vs ${g.comm}`);
    else assert.equal(p.comm, g.comm, `pid ${pid}`);
    assert.equal(p.ppid, g.ppid, `parent of ${pid} (${g.comm})`);
  }
  // pid 0, the idle task, is on the tasks list but never in /proc.
  for (const p of ours.values()) assert.ok(guest.has(p.pid) || p.pid > shellPid || p.pid === 0, `pid ${p.pid} (${p.comm}) listed by the host only, yet older than the guest's listing`);
  const sleepers = [...ours.values()].filter((p) => /^busyboxvq\d$/.test(p.comm));
  assert.deepEqual(sleepers.map((p) => p.cmdline).sort(), ['/bin/busyboxvq1 sleep 3001', '/bin/busyboxvq2 sleep 3002', '/bin/busyboxvq3 sleep 3003']);
  const init = ours.get(1);
  assert.equal(init?.ppid, 0);
  assert.equal(init?.kernelThread, false);
  assert.equal(ours.get(2)?.comm, 'kthreadd');
  assert.equal(ours.get(2)?.kernelThread, true);
  assert.equal(ours.get(2)?.cmdline, '');
  assert.equal(ours.get(0)?.comm, 'swapper/0');
  assert.ok(sleepers.every((p) => p.state === 'S' && p.uid === 0 && p.startTimeNs > 0n));
});

test('a process started afterwards appears; one that exits disappears', async () => {
  serial.write('/bin/busyboxvq4 sleep 3004 & echo "STARTED=$!"\n');
  const started = Number((await waitFor(/STARTED=(\d+)/))[1]);
  let ours = byPid(await listProcesses(kernel));
  assert.equal(ours.get(started)?.comm, 'busyboxvq4');
  assert.equal(ours.get(started)?.cmdline, '/bin/busyboxvq4 sleep 3004');
  serial.write(`kill ${started}; wait ${started}; echo "KILLED=${started}"\n`);
  await waitFor(/KILLED=\d+/);
  for (let i = 0; i < 50 && ours.has(started); i++) {
    await sleep(100);
    ours = byPid(await listProcesses(kernel));
  }
  assert.ok(!ours.has(started), 'gone from the list once it exited and was reaped');
});

test('uname from the guest kernel: the release the guest reports', async () => {
  const id = await kernel.identity();
  assert.equal(id.sysname, 'Linux');
  assert.equal(id.nodename, 'vigil-guest');
  assert.equal(id.release, kernel.vmcoreinfo.osRelease);
  assert.equal(id.machine, 'x86_64');
  assert.ok(id.pagingLevels === 4 || id.pagingLevels === 5);
});

test('vigil vmi <vm> uname|ps|pstree|modules: readable tables and JSON', async () => {
  const env = h.env;
  const ps = await runVigil(['vmi', 'p', 'ps', '--json'], env, 120_000);
  assert.equal(ps.code, 0, ps.stderr);
  const list = JSON.parse(ps.stdout) as { pid: number; comm: string; cmdline?: string; address: string }[];
  assert.equal(list.find((p) => p.comm === 'busyboxvq1')?.cmdline, '/bin/busyboxvq1 sleep 3001');
  assert.match(list[0]!.address, /^0x[0-9a-f]+$/, 'bigints as hex');
  const tree = await runVigil(['vmi', 'pstree', 'p'], env, 120_000);
  assert.equal(tree.code, 0, tree.stderr);
  assert.match(tree.stdout, /^init\(1\)$/m);
  assert.match(tree.stdout, /[├└]─ busyboxvq1\(\d+\)/);
  assert.match(tree.stdout, /^kthreadd\(2\)$/m);
  const uname = await runVigil(['vmi', 'p', 'uname'], env, 120_000);
  assert.match(uname.stdout, /^Linux vigil-guest \S+ .* x86_64\nKASLR offset 0x[0-9a-f]+, [45]-level paging/);
  const mods = await runVigil(['vmi', 'p', 'modules'], env, 120_000);
  assert.match(mods.stdout, /^dummy +\d+ +live +0xffffffff[0-9a-f]+$/m);
  // The BTF the guest serves, given as a file instead of found in memory: the same answer.
  const found = await locateBtf(vm.memory);
  const btfFile = h.write('vmlinux.btf', '');
  writeFileSync(btfFile, await vm.memory.readPhys(found.offset, found.length));
  const withFile = await runVigil(['vmi', 'p', 'ps', '--json', '--btf', btfFile], env, 120_000);
  assert.equal(withFile.code, 0, withFile.stderr);
  assert.deepEqual((JSON.parse(withFile.stdout) as { pid: number }[]).map((p) => p.pid).filter((p) => p < 100), list.map((p) => p.pid).filter((p) => p < 100));
  const bad = await runVigil(['vmi', 'p', 'lsof'], env);
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /'lsof' is not a vmi verb: use one of .*uname, ps, pstree, modules/);
});

test('over the API: Owner only, each view audited under the caller; a warm second listing', async () => {
  const api = await buildApi({ vigil, logger: silentLogger, imagesDir: h.home });
  try {
    const url = await api.app.listen({ host: '127.0.0.1', port: 0 });
    const owner = new PyClient(url, Wallet.createRandom().privateKey);
    const reader = new PyClient(url, Wallet.createRandom().privateKey);
    const repo = new AccessRepo(vigil.db);
    repo.upsertPrincipal(owner.address, null);
    repo.upsertPrincipal(reader.address, null);
    repo.grant('p', owner.address, 'Owner', 'test');
    repo.grant('p', reader.address, 'Manager', 'test');
    const refused = await reader.call('GET', '/vms/p/vmi/linux/ps');
    assert.equal(refused.status, 403, refused.text);
    const first = await owner.call('GET', '/vms/p/vmi/linux/ps');
    assert.equal(first.status, 200, first.text);
    const procs = first.body.result as { pid: number; comm: string }[];
    assert.ok(procs.some((p) => p.comm === 'busyboxvq2'));
    const t0 = performance.now();
    const again = await owner.call('GET', '/vms/p/vmi/linux/modules');
    assert.equal(again.status, 200, again.text);
    assert.ok(performance.now() - t0 < 5000, 'the kernel stays attached between calls');
    assert.ok((again.body.result as { name: string }[]).some((m) => m.name === 'dummy'));
    assert.equal((await owner.call('GET', '/vms/p/vmi/linux/lsof')).status, 400);
    const audited = vigil.audit.query({ command: 'vmi-linux-ps' });
    assert.ok(audited.some((r) => r.purpose === `ps as ${owner.address.toLowerCase()}` && r.class === 'memory-dump' && r.outcome === 'ok'), JSON.stringify(audited.map((r) => r.purpose)));
  } finally {
    await api.app.close();
  }
});

test('a guest with no Linux in it: a clear error saying what is missing and what to supply', async () => {
  vigil.add([h.write('bare.yaml', 'name: bare\nmemory: 64M\naccel: tcg\nintrospection: true\n')]);
  await vigil.start('bare');
  const bare = await openVmMemory('bare', { paths: h.paths, store: vigil.db });
  try {
    await assert.rejects(LinuxKernel.attach(bare.memory), (err: unknown) => {
      assert.ok(isVigilError(err, 'VIGIL_VMI_BTF') || isVigilError(err, 'VIGIL_VMI_KERNEL'), String(err));
      assert.match(err.message, /still booting|CONFIG_DEBUG_INFO_BTF|CONFIG_CRASH_CORE/);
      assert.match(err.message, /supply/);
      return true;
    });
  } finally {
    await bare.close();
    await vigil.stop('bare', { force: true });
  }
});

test('vCPU events over the API: NDJSON over a WebSocket, Owner only, in order, audited; closing lets the guest run', async () => {
  const api = await buildApi({ vigil, logger: silentLogger, imagesDir: h.home });
  try {
    const url = await api.app.listen({ host: '127.0.0.1', port: 0 });
    const owner = new PyClient(url, Wallet.createRandom().privateKey);
    const manager = new PyClient(url, Wallet.createRandom().privateKey);
    const repo = new AccessRepo(vigil.db);
    repo.upsertPrincipal(owner.address, null);
    repo.upsertPrincipal(manager.address, null);
    repo.grant('p', owner.address, 'Owner', 'test');
    repo.grant('p', manager.address, 'Manager', 'test');
    // A kernel address the guest surely runs again: where vCPU 0 sits in the idle loop.
    await vm.qmp.execute('stop');
    const regs = await vm.qmp.execute<string>('human-monitor-command', { 'command-line': 'info registers' });
    await vm.qmp.execute('cont');
    const rip = `0x${/RIP=([0-9a-f]+)/.exec(regs)![1]!.replace(/^0+/, '')}`;
    const open = async (c: PyClient, query: string): Promise<WebSocket> => {
      const headers = await c.sign('/vms/p/vmi/events', undefined, Math.floor(Date.now() / 1000));
      return new WebSocket(`${url.replace('http', 'ws')}/vms/p/vmi/events?${query}`, { headers });
    };
    const refused = await open(manager, `break=${rip}`);
    const status = await new Promise<number>((resolve) => refused.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    assert.equal(status, 403);
    const ws = await open(owner, `break=${rip}`);
    const lines: Record<string, unknown>[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (d: Buffer) => {
        for (const l of d.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        if (lines.filter((l) => l.kind === 'breakpoint').length >= 5) resolve();
      });
      ws.on('error', reject);
      setTimeout(() => reject(new Error(`only ${JSON.stringify(lines)}`)), 60_000).unref();
    });
    ws.close();
    assert.equal(lines[0]?.kind, 'armed');
    const hits = lines.filter((l) => l.kind === 'breakpoint');
    assert.ok(hits.every((l) => l.address === rip && l.rip === rip && l.vcpu === 0), JSON.stringify(hits[0]));
    const seqs = hits.map((l) => l.seq as number);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in order');
    // Detached: the guest runs on (its console answers) and the session is audited with its count.
    for (let i = 0; i < 50 && !vigil.audit.query({ command: 'GET /vms/:id/vmi/events' }).some((r) => /detached/.test(r.reason)); i++) await sleep(100);
    const rows = vigil.audit.query({ command: 'GET /vms/:id/vmi/events' });
    assert.ok(rows.some((r) => r.outcome === 'refused' && r.principal === manager.address.toLowerCase()));
    assert.ok(rows.some((r) => r.reason === 'vCPU events attached' && r.principal === owner.address.toLowerCase()));
    assert.ok(rows.some((r) => /detached after \d+ event/.test(r.reason)));
    serial.write('echo "AFTER-EVENTS=$((40+2))"\n');
    await waitFor(/AFTER-EVENTS=42/);
  } finally {
    await api.app.close();
  }
});

test("QEMU's gdbstub agrees: physical reads in its physical mode, and virtual reads through a vCPU, equal ours", async () => {
  const viaGdb = await openVmMemory('p', { paths: h.paths, store: vigil.db, backend: 'gdbstub' });
  try {
    // Attached, the guest is paused: both views are of the same instant.
    assert.equal(viaGdb.memory.backend.name, 'gdbstub');
    assert.equal(viaGdb.memory.backend.capabilities.whileRunning, false);
    const btf = await locateBtf(vm.memory);
    for (const pa of [0x9000, 0x100000, btf.offset]) {
      assert.ok((await viaGdb.memory.readPhys(pa, 16384)).equals(await vm.memory.readPhys(pa, 16384)), `physical 0x${pa.toString(16)}`);
    }
    const cpu = (viaGdb.memory.backend as GdbstubBackend).cpu;
    const regs = await cpu.registers(0);
    const cr3 = regs.cr3!;
    const virt = new VirtualMemory(vm.memory, kernel.virt.levels);
    const task = (await listProcesses(kernel)).find((p) => p.pid === 1)!.address;
    for (const va of [regs.rip! & ~0xfffn, task & ~0xfffn, kernel.initTask]) {
      const theirs = await cpu.readVirtual(va, 2048, 0);
      const ours = await virt.read(va, 2048, { dtb: cr3 });
      assert.ok(theirs.equals(ours), `virtual 0x${va.toString(16)} under CR3 0x${cr3.toString(16)}`);
    }
  } finally {
    await viaGdb.close();
  }
  // Detached: the guest runs again.
  serial.write('echo "AFTER-GDB=$((40+3))"\n');
  await waitFor(/AFTER-GDB=43/);
});

test('vCPU events over the API: the client is told when the guest goes away', async () => {
  vigil.add([h.write('gone.yaml', 'name: gone\nmemory: 64M\naccel: tcg\nintrospection: true\n')]);
  const gone = await vigil.start('gone');
  const api = await buildApi({ vigil, logger: silentLogger, imagesDir: h.home });
  try {
    const url = await api.app.listen({ host: '127.0.0.1', port: 0 });
    const owner = new PyClient(url, Wallet.createRandom().privateKey);
    const repo = new AccessRepo(vigil.db);
    repo.upsertPrincipal(owner.address, null);
    repo.grant('gone', owner.address, 'Owner', 'test');
    const headers = await owner.sign('/vms/gone/vmi/events', undefined, Math.floor(Date.now() / 1000));
    const ws = new WebSocket(`${url.replace('http', 'ws')}/vms/gone/vmi/events?break=0x1000`, { headers });
    const kinds: string[] = [];
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (d: Buffer) => {
        for (const l of d.toString().split('\n').filter(Boolean)) kinds.push((JSON.parse(l) as { kind: string }).kind);
        if (kinds.includes('armed')) resolve();
      });
      ws.on('error', reject);
    });
    process.kill(gone.pid!, 'SIGKILL');
    assert.equal(await closed, 1011);
    assert.deepEqual(kinds, ['armed', 'ended']);
  } finally {
    await api.app.close();
  }
});
