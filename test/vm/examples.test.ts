/**
 * Every example in examples/ is loaded, its argv built, and QEMU started for real with that argv (paused by -S,
 * TCG), then quit over QMP: it must exit 0. Host paths are swapped for things this machine has: temp images made
 * with qemu-img, a loop device for the /dev/disk/by-uuid disk, the test guest's kernel, and the tap, bridge and
 * macvtap interfaces created inside a network namespace of this test's own.
 *
 * What cannot exist here is asserted by QEMU's own error: a VFIO device (no IOMMU group, no such PCI function) and
 * vhost-vsock when /dev/vhost-vsock is missing. Such a device is started alone with the rest of the argv, so QEMU
 * has accepted every option before it and fails on that device only, with its specific message; the argv without
 * those devices is then started for real.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { ensureGuestImage, makeInitrd, type GuestImage } from '../../guest/build.js';
import { defaultInitScript, GUEST_READY_LINE } from '../../guest/init-script.js';
import { deathSignalPrefix } from '../../guest/reaper.js';
import { silentLogger } from '../../src/core/log.js';
import { QmpClient } from '../../src/qmp/client.js';
import { buildQemuArgv, diskFormat, postStartActions, qemuFiles, resolveMacs, withDefaultIds } from '../../src/vm/argv/index.js';
import { loadDefinitionFiles } from '../../src/vm/definition/load.js';
import type { VmDefinition } from '../../src/vm/definition/schema.js';
import { freePort } from '../helpers/net.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
const NETNS = `vigil-ex-${process.pid}`;
const IMAGES_PREFIX = '/var/tmp/vigil-ex-img-';
const VSOCK_AVAILABLE = existsSync('/dev/vhost-vsock');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let guest: GuestImage;
let root: string;
let images: string;
let netnsCreated = false;
const loops: string[] = [];
const openFds: number[] = [];
const live = new Set<ChildProcess>();
const daemonPids = new Set<number>();

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function inNetns(args: string[]): string {
  return run('ip', ['netns', 'exec', NETNS, ...args]);
}

/** Synchronous, so it also runs from the 'exit' hook when a test crashes. */
function cleanupSync(): void {
  for (const child of live) child.kill('SIGKILL');
  for (const pid of daemonPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const fd of openFds.splice(0)) closeSync(fd);
  for (const dev of loops.splice(0)) {
    try {
      run('losetup', ['--detach', dev]);
    } catch {
      // already detached
    }
  }
  if (netnsCreated) {
    netnsCreated = false;
    try {
      run('ip', ['netns', 'delete', NETNS]);
    } catch {
      // already gone
    }
  }
}

process.on('exit', cleanupSync);

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes what an earlier run killed with SIGKILL left behind: its namespace and loop devices (named by its pid). */
function sweepStale(): void {
  for (const line of run('ip', ['netns', 'list']).split('\n')) {
    const pid = /^vigil-ex-(\d+)\b/.exec(line)?.[1];
    if (pid !== undefined && !pidAlive(Number(pid))) run('ip', ['netns', 'delete', `vigil-ex-${pid}`]);
  }
  for (const line of run('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE']).split('\n')) {
    const m = new RegExp(`^(\\S+)\\s+${IMAGES_PREFIX}(\\d+)-`).exec(line);
    if (m !== null && !pidAlive(Number(m[2]))) run('losetup', ['--detach', m[1]!]);
  }
}

before(async () => {
  sweepStale();
  guest = await ensureGuestImage();
  root = mkdtempSync(join(tmpdir(), 'vigil-ex-'));
  // Images where O_DIRECT works (cache: none): /tmp may be a tmpfs, which refuses it.
  images = mkdtempSync(`${IMAGES_PREFIX}${process.pid}-`);
  // Read by qemu-bridge-helper, which looks only at /etc/qemu/bridge.conf; see overlayEtc below.
  mkdirSync(join(root, 'etc', 'qemu'), { recursive: true });
  writeFileSync(join(root, 'etc', 'qemu', 'bridge.conf'), 'allow all\n');
});

after(async () => {
  const exits = [...live].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r))));
  cleanupSync();
  await Promise.all(exits);
  if (root) rmSync(root, { recursive: true, force: true });
  if (images) rmSync(images, { recursive: true, force: true });
});

function ensureNetns(): void {
  if (netnsCreated) return;
  run('ip', ['netns', 'add', NETNS]);
  netnsCreated = true;
  inNetns(['ip', 'link', 'set', 'lo', 'up']);
}

/** Creates, inside the test's namespace, the host interfaces a NIC expects; returns the fd of a macvtap's /dev/tapN. */
function hostSideOf(nic: VmDefinition['nics'][number], dir: string): number | undefined {
  ensureNetns();
  if (nic.type === 'tap') {
    inNetns(['ip', 'tuntap', 'add', 'dev', nic.ifname!, 'mode', 'tap']);
    // Up, so the carrier shows whether a process holds the tap (LOWER_UP) or not (NO-CARRIER).
    inNetns(['ip', 'link', 'set', nic.ifname!, 'up']);
  }
  if (nic.type === 'bridge') {
    inNetns(['ip', 'link', 'add', nic.bridge!, 'type', 'bridge']);
    inNetns(['ip', 'link', 'set', nic.bridge!, 'up']);
  }
  if (nic.type !== 'macvtap') return undefined;
  // The kernel has no dummy driver here: a veth plays the host NIC the macvtap sits on.
  const lower = `low${openFds.length}`;
  inNetns(['ip', 'link', 'add', lower, 'type', 'veth', 'peer', 'name', `${lower}-peer`]);
  inNetns(['ip', 'link', 'set', lower, 'up']);
  inNetns(['ip', 'link', 'add', 'link', lower, 'name', nic.macvtap!, 'type', 'macvtap', 'mode', 'bridge']);
  inNetns(['ip', 'link', 'set', nic.macvtap!, 'up']);
  const index = inNetns(['cat', `/sys/class/net/${nic.macvtap!}/ifindex`]);
  const [major, minor] = inNetns(['cat', `/sys/class/net/${nic.macvtap!}/macvtap/tap${index}/dev`]).split(':');
  // No udev in the namespace to make /dev/tapN: the test makes its own node, as Vigil opens the host's.
  const node = join(dir, `tap${index}`);
  run('mknod', [node, 'c', major!, minor!]);
  const fd = openSync(node, 'r+');
  openFds.push(fd);
  return fd;
}

interface Prepared {
  def: VmDefinition;
  runtimeDir: string;
  stateDir: string;
  fds: Record<string, number>;
  /** The fds in the order QEMU inherits them (3, 4, ...). */
  inherited: number[];
  netns: boolean;
}

/** The example with this machine's stand-ins for host paths and hardware (what the test changes is listed here). */
async function prepare(example: VmDefinition): Promise<Prepared> {
  const def = withDefaultIds(example);
  const dir = join(root, def.name);
  const runtimeDir = join(dir, 'run');
  const stateDir = join(dir, 'state');
  mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });

  const disks = def.disks.map((d) => {
    const format = diskFormat(d);
    const image = join(images, `${def.name}-${d.id}.${format}`);
    run('qemu-img', ['create', '-q', '-f', format, image, '64M']);
    if (d.device === undefined) return { ...d, file: image };
    // A real block device for the host_device driver: a loop device over a temp file, detached in cleanup.
    const loop = run('losetup', ['--find', '--show', image]);
    loops.push(loop);
    return { ...d, device: loop };
  });
  const boot =
    def.boot === undefined
      ? undefined
      : { ...def.boot, kernel: guest.kernel, initrd: await makeInitrd(guest, defaultInitScript(), join(dir, 'initrd')) };
  // The supervisor copies the OVMF variable template into the state directory before the first start.
  if (def.firmware.type === 'uefi') copyFileSync(def.firmware.vars, qemuFiles({ runtimeDir, stateDir }).uefiVars);
  const nics = [];
  const fds: Record<string, number> = {};
  const inherited: number[] = [];
  for (const nic of def.nics) {
    const forward = [];
    // Ports the example forwards may be taken here; any free one proves the same argv form.
    for (const f of nic.forward) forward.push({ ...f, hostPort: await freePort() });
    nics.push({ ...nic, forward });
    if (nic.type === 'tap' || nic.type === 'bridge' || nic.type === 'macvtap') {
      const fd = hostSideOf(nic, dir);
      if (fd !== undefined) {
        fds[nic.id] = 3 + inherited.length;
        inherited.push(fd);
      }
    }
  }
  const prepared: VmDefinition = {
    ...def,
    disks,
    nics,
    ...(boot === undefined ? {} : { boot }),
    // A CID unique on this host, should vhost-vsock exist here.
    ...(def.vsock === undefined ? {} : { vsock: { cid: VSOCK_AVAILABLE ? randomInt(10_000, 1_000_000) : def.vsock.cid } }),
  };
  // "host" needs KVM; under TCG the builder's default (max) applies.
  if (prepared.cpu === 'host') delete prepared.cpu;
  return { def: prepared, runtimeDir, stateDir, fds, inherited, netns: def.nics.some((n) => n.type === 'tap' || n.type === 'bridge' || n.type === 'macvtap') };
}

interface Qemu {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
}

/**
 * Starts QEMU. In the namespace, /etc is overlaid (in that process's own mount namespace only, which ip netns
 * exec creates) with a bridge.conf allowing the bridge: the host's /etc is never touched.
 */
function startQemu(argv: readonly string[], p: Prepared): Qemu {
  const overlayEtc = 'mount -t overlay overlay -o lowerdir="$0":/etc /etc && exec "$@"';
  const command = p.netns ? ['ip', 'netns', 'exec', NETNS, 'sh', '-c', overlayEtc, join(root, 'etc'), ...argv] : [...argv];
  const full = [...deathSignalPrefix(), ...command];
  const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'ignore', 'pipe', ...p.inherited] });
  live.add(child);
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  return { child, exited, stderr: () => stderr.trim() };
}

/** Waits for QEMU's QMP socket; fails with QEMU's stderr if it exits first. */
async function connectQmp(q: Qemu, socket: string): Promise<QmpClient> {
  const deadline = Date.now() + 20_000;
  while (!existsSync(socket)) {
    if (q.child.exitCode !== null) assert.fail(`QEMU exited with ${q.child.exitCode} before its QMP socket appeared:\n${q.stderr()}`);
    if (Date.now() > deadline) assert.fail(`no QMP socket ${socket} after 20 s:\n${q.stderr()}`);
    await sleep(20);
  }
  const qmp = new QmpClient({ logger: silentLogger });
  await qmp.connect({ path: socket });
  return qmp;
}

/** Quits over QMP and checks that QEMU exits 0. */
async function quit(q: Qemu, qmp: QmpClient): Promise<void> {
  await qmp.execute('quit');
  await qmp.close();
  assert.equal(await q.exited, 0, `QEMU did not exit 0 after quit:\n${q.stderr()}`);
}

/** `-device` arguments naming hardware this machine cannot have, with the error QEMU gives for each. */
function unavailableDevices(argv: readonly string[]): { spec: string; error: RegExp }[] {
  const found: { spec: string; error: RegExp }[] = [];
  argv.forEach((arg, i) => {
    if (i === 0 || argv[i - 1] !== '-device') return;
    if (arg.startsWith('vfio-pci,')) {
      const host = /host=([0-9a-f:.]+)/.exec(arg)![1]!;
      const sysfs = `/sys/bus/pci/devices/${host}`;
      // Should such a function exist here after all, it is not bound to vfio-pci: QEMU still fails, differently.
      const error = existsSync(sysfs) ? /vfio/ : new RegExp(`vfio ${sysfs.replaceAll('.', '\\.')}: no such host device: No such file or directory`);
      found.push({ spec: arg, error });
    }
    if (arg.startsWith('vhost-vsock-pci,') && !VSOCK_AVAILABLE) found.push({ spec: arg, error: /vhost-vsock: failed to open vhost device: No such file or directory/ });
  });
  return found;
}

function without(argv: readonly string[], specs: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-device' && specs.includes(argv[i + 1]!)) i++;
    else out.push(argv[i]!);
  }
  return out;
}

function argvFor(p: Prepared, daemonize = false): string[] {
  return buildQemuArgv(p.def, {
    qemuBinary: 'qemu-system-x86_64',
    runtimeDir: p.runtimeDir,
    stateDir: p.stateDir,
    accel: 'tcg',
    macs: resolveMacs(p.def, () => randomBytes(6)),
    fds: p.fds,
    daemonize,
  });
}

const exampleFiles = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')).sort();

test('the examples directory holds the examples this test expects', () => {
  for (const f of ['minimal.yaml', 'desktop-uefi.yaml', 'server-disks.yaml', 'router.yaml', 'user-vm.yaml', 'introspection.yaml']) assert.ok(exampleFiles.includes(f), f);
});

for (const file of exampleFiles) {
  test(`examples/${file}: QEMU accepts the argv, starts paused and quits with status 0`, { timeout: 60_000 }, async (t) => {
    const { definition } = loadDefinitionFiles([join(EXAMPLES, file)]);
    const hostSetup = definition.nics.some((n) => ['tap', 'bridge', 'macvtap'].includes(n.type)) || definition.disks.some((d) => d.device !== undefined);
    if (hostSetup && process.getuid?.() !== 0) {
      t.skip('needs root: a network namespace, tap/bridge/macvtap interfaces or a loop device');
      return;
    }
    const p = await prepare(definition);
    const argv = argvFor(p);
    assert.ok(argv.includes('-S'));
    const files = qemuFiles(p);

    const missing = unavailableDevices(argv);
    for (const device of missing) {
      // Everything but the other unavailable devices: QEMU has accepted every option when it reaches this one.
      const q = startQemu(
        without(
          argv,
          missing.filter((m) => m !== device).map((m) => m.spec),
        ),
        p,
      );
      assert.equal(await q.exited, 1, `QEMU should have refused ${device.spec}:\n${q.stderr()}`);
      const lines = q.stderr().split('\n');
      assert.equal(lines.length, 1, `one error expected, got:\n${q.stderr()}`);
      assert.ok(lines[0]!.includes(`-device ${device.spec}: `), lines[0]);
      assert.match(lines[0]!, device.error);
      // A QEMU that fails during start leaves its sockets behind (Vigil's preflight removes such stale ones too).
      for (const f of readdirSync(p.runtimeDir)) rmSync(join(p.runtimeDir, f), { force: true });
    }

    const q = startQemu(
      without(
        argv,
        missing.map((m) => m.spec),
      ),
      p,
    );
    const qmp = await connectQmp(q, files.qmpSocket);
    const status = await qmp.execute<{ status: string }>('query-status');
    assert.equal(status.status, 'prelaunch');
    // The second monitor, held by vigild, answers too.
    const monitor = await connectQmp(q, files.monitorSocket);
    await monitor.close();
    for (const action of postStartActions(p.def)) await qmp.execute(action.command, action.args);

    if (p.def.introspection && p.def.boot !== undefined) {
      // Boot it for real: the kernel boot arguments work, the console reaches serial.log in the state directory,
      // guest RAM is the shared file and the gdbstub socket exists.
      await qmp.execute('cont');
      const deadline = Date.now() + 45_000;
      while (!(existsSync(files.serialLog) && readFileSync(files.serialLog, 'utf8').includes(GUEST_READY_LINE))) {
        if (Date.now() > deadline) assert.fail(`no ready line in ${files.serialLog}:\n${existsSync(files.serialLog) ? readFileSync(files.serialLog, 'utf8') : ''}`);
        await sleep(100);
      }
      assert.equal(statSync(files.ramFile).size, p.def.memory * 1024 * 1024);
      assert.ok(statSync(files.gdbSocket).isSocket());
    }
    if (p.def.display === 'vnc') assert.ok(statSync(files.vncSocket).isSocket());
    for (const nic of p.def.nics) {
      // qemu-bridge-helper made a tap and put it on the bridge; a tap NIC's interface is held by QEMU.
      if (nic.type === 'bridge') assert.match(inNetns(['ip', '-o', 'link', 'show', 'master', nic.bridge!]), /: tap\d+/);
      if (nic.type === 'tap') assert.match(inNetns(['ip', '-o', 'link', 'show', nic.ifname!]), /LOWER_UP/);
    }
    await quit(q, qmp);
  });
}

test('examples/minimal.yaml with -daemonize: the parent exits 0 once QEMU is up, the pidfile names the daemon', { timeout: 30_000 }, async () => {
  const { definition } = loadDefinitionFiles([join(EXAMPLES, 'minimal.yaml')]);
  const p = await prepare({ ...definition, name: 'minimal-daemon' });
  const files = qemuFiles(p);
  const parent = startQemu(argvFor(p, true), p);
  assert.equal(await parent.exited, 0, parent.stderr());
  const pid = Number(readFileSync(files.pidfile, 'utf8').trim());
  daemonPids.add(pid);
  const qmp = new QmpClient({ logger: silentLogger });
  await qmp.connect({ path: files.qmpSocket });
  await qmp.execute('quit');
  await qmp.close();
  const deadline = Date.now() + 10_000;
  while (existsSync(`/proc/${pid}`)) {
    if (Date.now() > deadline) assert.fail(`daemonized QEMU ${pid} still runs after quit`);
    await sleep(20);
  }
  daemonPids.delete(pid);
});
