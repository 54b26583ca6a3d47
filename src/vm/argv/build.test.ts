import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isVigilError } from '../../core/errors.js';
import { vmDefinitionSchema, type VmDefinitionInput } from '../definition/schema.js';
import { buildQemuArgv } from './build.js';
import type { ArgvContext } from './context.js';

const ctx: ArgvContext = { qemuBinary: 'qemu-system-x86_64', runtimeDir: '/run/vigil/vms/web', stateDir: '/var/lib/vigil/vms/web', accel: 'kvm', macs: {}, daemonize: true };

function argv(input: VmDefinitionInput, over: Partial<ArgvContext> = {}): string[] {
  return buildQemuArgv(vmDefinitionSchema.parse(input), { ...ctx, ...over });
}

/** True when `fragment` appears in `args` as consecutive elements. */
function has(args: readonly string[], ...fragment: string[]): boolean {
  return args.some((_, i) => fragment.every((f, j) => args[i + j] === f));
}

function assertHas(args: readonly string[], ...fragment: string[]): void {
  assert.ok(has(args, ...fragment), `argv lacks ${JSON.stringify(fragment)}:\n${args.join(' ')}`);
}

test("a minimal definition: paused, no defaults, Vigil's sockets, exactly this argv", () => {
  assert.deepEqual(argv({ name: 'web' }), [
    'qemu-system-x86_64',
    '-name', 'guest=web,debug-threads=on',
    '-S', '-nodefaults', '-no-user-config',
    '-machine', 'q35',
    '-accel', 'kvm',
    '-cpu', 'host',
    '-smp', '1', '-m', '512M',
    '-chardev', 'socket,id=qmp,path=/run/vigil/vms/web/qmp.sock,server=on,wait=off', '-mon', 'chardev=qmp,mode=control',
    '-chardev', 'socket,id=monitor,path=/run/vigil/vms/web/monitor.sock,server=on,wait=off', '-mon', 'chardev=monitor,mode=control',
    '-chardev', 'socket,id=serial0,path=/run/vigil/vms/web/serial.sock,server=on,wait=off,logfile=/var/lib/vigil/vms/web/serial.log,logappend=on',
    '-serial', 'chardev:serial0',
    '-pidfile', '/run/vigil/vms/web/qemu.pid',
    '-display', 'none',
    '-daemonize',
  ]);
});

test('the CPU model: def.cpu, else host under KVM and max under TCG', () => {
  assertHas(argv({ name: 'web' }, { accel: 'tcg' }), '-accel', 'tcg', '-cpu', 'max');
  assertHas(argv({ name: 'web', cpu: 'Skylake-Server,-hle' }), '-cpu', 'Skylake-Server,-hle');
  assertHas(argv({ name: 'web', cpus: 4, memory: '2G' }), '-smp', '4', '-m', '2048M');
});

test('no -daemonize when the caller runs QEMU in the foreground', () => {
  assert.ok(!argv({ name: 'web' }, { daemonize: false }).includes('-daemonize'));
});

test('serial log off: the console socket without a logfile', () => {
  assertHas(argv({ name: 'web', serial: { log: false } }), '-chardev', 'socket,id=serial0,path=/run/vigil/vms/web/serial.sock,server=on,wait=off', '-serial', 'chardev:serial0');
});

test('introspection: RAM in a shared file in the runtime dir, the machine backed by it, and a gdbstub socket', () => {
  const args = argv({ name: 'web', memory: 256, introspection: true });
  assertHas(args, '-machine', 'q35,memory-backend=ram');
  assertHas(args, '-object', 'memory-backend-file,id=ram,size=256M,mem-path=/run/vigil/vms/web/ram,share=on');
  assertHas(args, '-chardev', 'socket,id=gdb,path=/run/vigil/vms/web/gdb.sock,server=on,wait=off', '-gdb', 'chardev:gdb');
  assert.ok(!argv({ name: 'web' }).includes('-gdb'));
});

test('UEFI: read-only code and a per-VM copy of the variables in the state dir', () => {
  const args = argv({ name: 'web', firmware: { type: 'uefi' } });
  assertHas(args, '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd');
  assertHas(args, '-drive', 'if=pflash,format=raw,unit=1,file=/var/lib/vigil/vms/web/uefi-vars.fd');
  assert.ok(!argv({ name: 'web' }).includes('-drive'), 'BIOS needs nothing');
});

test('direct kernel boot', () => {
  const args = argv({ name: 'web', boot: { kernel: '/img/vmlinuz', initrd: '/img/initrd', cmdline: 'console=ttyS0 root=/dev/vda1' } });
  assertHas(args, '-kernel', '/img/vmlinuz', '-initrd', '/img/initrd', '-append', 'console=ttyS0 root=/dev/vda1');
  const kernelOnly = argv({ name: 'web', boot: { kernel: '/img/vmlinuz' } });
  assert.ok(!kernelOnly.includes('-initrd') && !kernelOnly.includes('-append'));
});

test('VNC on a Unix socket with a VGA card, unless the definition brings its own display device', () => {
  const args = argv({ name: 'web', display: 'vnc' });
  assertHas(args, '-display', 'none', '-vnc', 'unix:/run/vigil/vms/web/vnc.sock', '-device', 'VGA,id=video0');
  const own = argv({ name: 'web', display: 'vnc', devices: [{ driver: 'virtio-vga' }] });
  assert.ok(!own.includes('VGA,id=video0'));
  assertHas(own, '-device', 'virtio-vga,id=dev0');
});

test('commas in paths are doubled, so a path cannot add options', () => {
  const args = argv({ name: 'web', disks: [{ file: '/img/a,b.qcow2' }] }, { runtimeDir: '/run/x,y', stateDir: '/state' });
  assertHas(args, '-chardev', 'socket,id=qmp,path=/run/x,,y/qmp.sock,server=on,wait=off');
  assertHas(args, '-blockdev', 'driver=file,node-name=blk0-file,filename=/img/a,,b.qcow2,cache.direct=off');
});

test('extraArgs come last, after every device', () => {
  const args = argv({ name: 'web', devices: [{ driver: 'virtio-rng-pci' }], extraArgs: ['-rtc', 'base=localtime'] });
  assert.deepEqual(args.slice(-4), ['-device', 'virtio-rng-pci,id=dev0', '-rtc', 'base=localtime']);
});

test('pure: the same definition and context give the same argv', () => {
  const input = { name: 'web', nics: [{ type: 'user' as const }], disks: [{ file: '/img/a.qcow2' }] };
  const def = vmDefinitionSchema.parse(input);
  const c = { ...ctx, macs: { net0: '5a:56:00:00:00:01' } };
  assert.deepEqual(buildQemuArgv(def, c), buildQemuArgv(def, c));
  assert.deepEqual(def, vmDefinitionSchema.parse(input), 'the definition is not changed');
});

test('a runtime directory too long for Unix socket paths is refused before QEMU runs', () => {
  assert.throws(
    () => argv({ name: 'web' }, { runtimeDir: `/run/${'x'.repeat(100)}` }),
    (err) => isVigilError(err, 'VIGIL_INVALID_INPUT') && /longer than the 107 bytes/.test(err.message),
  );
});
