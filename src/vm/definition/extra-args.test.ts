import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkDeviceSpec, checkExtraArgs } from './extra-args.js';

/** The problems as `index: message` lines, for compact assertions. */
function check(args: string[]): string[] {
  return checkExtraArgs(args).map((p) => `${p.index}: ${p.message}`);
}

function refused(args: string[], index: number, pattern: RegExp): void {
  const problems = checkExtraArgs(args);
  assert.ok(
    problems.some((p) => p.index === index && pattern.test(p.message)),
    `${JSON.stringify(args)}: expected a problem at ${index} matching ${pattern}, got ${JSON.stringify(problems)}`,
  );
}

test('harmless options pass, with or without arguments', () => {
  assert.deepEqual(
    check([
      '-rtc', 'base=localtime',
      '-device', 'virtio-rng-pci',
      '-device', 'usb-tablet,bus=xhci.0',
      '-device', '{"driver":"virtio-balloon-pci","id":"balloon0"}',
      '-object', 'iothread,id=io1',
      '-object', 'rng-random,id=rng0,filename=/dev/urandom',
      '-chardev', 'ringbuf,id=log0,size=65536',
      '-global', 'cfi.pflash01.secure=on',
      '-global', 'driver=ICH9-LPC,property=disable_s3,value=1',
      '-device', 'virtio-net-pci,romfile=',
      '-no-hpet',
      '-k', 'de',
      '--usb',
      '-uuid', '2f5e1d1c-41b5-4b4c-9ab3-7c5b4ac1b1a2',
      '-action', 'panic=exit-failure',
      '-trace', 'enable=qmp_*',
      '-smbios', 'type=1,serial=ABC,,DEF',
      '-fw_cfg', 'name=opt/vigil/role,string=router',
      '-boot', 'menu=on',
    ]),
    [],
  );
});

test('options Vigil owns are refused with the field to use', () => {
  // Arguments of the options Vigil checks (-action, -chardev, -device) are blamed at the argument itself.
  const owned: [string[], number, RegExp][] = [
    [['-qmp', 'unix:/tmp/x,server=on'], 0, /set by Vigil: .*vigil qmp/],
    [['-qmp-pretty', 'x'], 0, /set by Vigil/],
    [['-monitor', 'stdio'], 0, /set by Vigil/],
    [['-mon', 'chardev=x'], 0, /set by Vigil/],
    [['-serial', 'file:/tmp/x'], 0, /"serial" field/],
    [['-gdb', 'tcp::1234'], 0, /introspection: true/],
    [['-s'], 0, /introspection: true/],
    [['-S'], 0, /paused/],
    [['-daemonize'], 0, /supervisor/],
    [['-pidfile', '/tmp/p'], 0, /supervisor/],
    [['-name', 'x'], 0, /"name" field/],
    [['-runas', 'nobody'], 0, /supervisor/],
    [['-chroot', '/'], 0, /supervisor/],
    [['-nodefaults'], 0, /always sets it/],
    [['-no-user-config'], 0, /always sets it/],
    [['-machine', 'pc'], 0, /"machine" field/],
    [['-M', 'pc'], 0, /"machine" field/],
    [['-accel', 'kvm'], 0, /"accel" field/],
    [['-enable-kvm'], 0, /accel: kvm/],
    [['-m', '4G'], 0, /"memory" field/],
    [['-smp', '4'], 0, /"cpus" field/],
    [['-cpu', 'host'], 0, /"cpu" field/],
    [['-kernel', '/boot/vmlinuz'], 0, /boot\.kernel/],
    [['-initrd', '/boot/initrd'], 0, /boot\.initrd/],
    [['-append', 'quiet'], 0, /boot\.cmdline/],
    [['-bios', '/x.fd'], 0, /"firmware" field/],
    [['-drive', 'file=/etc/shadow,format=raw'], 0, /"disks" field/],
    [['-blockdev', 'driver=file,filename=/x'], 0, /"disks" field/],
    [['-hda', '/x'], 0, /"disks" field/],
    [['-cdrom', '/x.iso'], 0, /"disks" \(format: raw, readonly: true\)/],
    [['-netdev', 'user,id=n'], 0, /"nics" field/],
    [['-nic', 'user'], 0, /"nics" field/],
    [['-display', 'gtk'], 0, /"display" field/],
    [['-vnc', '0.0.0.0:0'], 0, /never a TCP port/],
    [['-no-reboot'], 0, /autostart\.restart/],
    [['-action', 'shutdown=pause'], 1, /autostart\.restart/],
    [['-sandbox', 'off'], 0, /supervisor/],
    [['-chardev', 'null,id=qmp'], 1, /Vigil's own/],
    [['-device', 'vfio-pci,host=0000:01:00.0'], 1, /"pci" field/],
    [['-device', 'usb-host,vendorid=0x046d'], 1, /"usb" field/],
    [['-device', 'vhost-vsock-pci,guest-cid=3'], 1, /"vsock" field/],
    [['-device', 'virtio-blk-pci,drive=disk0'], 1, /"disks" field/],
    [['-device', 'e1000e,netdev=hostnet-net0'], 1, /"nics" field/],
  ];
  for (const [args, index, pattern] of owned) refused(args, index, pattern);
});

test('options that reach outside the VM are refused with the reason', () => {
  const dangerous: [string[], number, RegExp][] = [
    [['-plugin', 'file=/tmp/evil.so'], 0, /shared library/],
    [['-add-fd', 'fd=3,set=1'], 0, /file descriptors/],
    [['-incoming', 'exec:sh -c id'], 0, /host command/],
    [['-readconfig', '/tmp/more.cfg'], 0, /never sees/],
    [['-writeconfig', '/tmp/x'], 0, /writes a host file/],
    [['-set', 'chardev.qmp.path=/tmp/q'], 0, /Vigil's own/],
    [['-D', '/etc/cron.d/x'], 0, /host file/],
    [['-qtest', 'unix:/tmp/q'], 0, /guest memory/],
    [['-option-rom', '/etc/shadow'], 0, /host file/],
    [['-virtfs', 'local,path=/,mount_tag=root'], 0, /host directory/],
    [['-fsdev', 'local,id=f,path=/'], 0, /host directory/],
    [['-trace', 'enable=*,file=/etc/passwd'], 1, /file=.*host file/],
    [['-trace', 'events=/etc/shadow'], 1, /events=/],
    [['-device', 'loader,file=/etc/shadow,addr=0x1000'], 1, /loads host files/],
    [['-device', 'virtio-net-pci,romfile=/etc/shadow'], 1, /romfile=\/etc\/shadow/],
    [['-device', 'virtio-input-host-pci,evdev=/dev/input/event0'], 1, /host input device/],
    [['-device', '{"driver":"vfio-pci","host":"01:00.0"}'], 1, /"pci" field/],
    [['-device', '{"driver":"virtio-net-pci","romfile":"/etc/shadow"}'], 1, /romfile/],
    [['-device', 'virtio-net-pci,driver=vfio-pci'], 1, /vfio-pci/],
    [['-object', 'memory-backend-file,id=m,mem-path=/etc/x,size=1M'], 1, /introspection/],
    [['-object', 'input-linux,id=kbd,evdev=/dev/input/event0'], 1, /not reviewed|refused/],
    [['-object', 'secret,id=s,file=/etc/shadow'], 1, /file=/],
    [['-object', 'rng-random,id=r,filename=/etc/shadow'], 1, /only \/dev\/urandom/],
    [['-object', '{"qom-type":"filter-dump","id":"d","netdev":"n","file":"/tmp/x"}'], 1, /filter-dump/],
    [['-chardev', 'file,id=c,path=/etc/passwd'], 1, /backend "file"/],
    [['-chardev', 'socket,id=c,host=0.0.0.0,port=4444,server=on'], 1, /backend "socket"/],
    [['-chardev', 'ringbuf,id=c,logfile=/tmp/x'], 1, /logfile=/],
    [['-global', 'virtio-net-pci.romfile=/etc/shadow'], 1, /romfile/],
    [['-global', 'driver=e1000e,property=romfile,value=/etc/shadow'], 1, /romfile/],
    [['-global', 'usb-host.hostdevice=/dev/bus/usb/001/002'], 1, /passes through/],
    [['-global', 'driver=vfio-pci,property=x-no-mmap,value=on'], 1, /passes through/],
    [['-device', 'usb-kbd,hostdevice=/dev/bus/usb/001/002'], 1, /hostdevice=/],
    [['-audiodev', 'wav,id=a,path=/tmp/x.wav'], 1, /wav/],
    [['-smbios', 'file=/etc/shadow'], 1, /file=/],
    [['-fw_cfg', 'name=opt/x,file=/etc/shadow'], 1, /file=/],
    [['-boot', 'splash=/etc/shadow'], 1, /splash=/],
    [['-icount', 'shift=auto,rr=record,rrfile=/tmp/x'], 1, /rrfile=/],
    [['-k', '../../../etc/shadow'], 1, /keyboard layout/],
    [['-device', 'help'], 1, /help text/],
    [['-help'], 0, /prints text and exits/],
  ];
  for (const [args, index, pattern] of dangerous) refused(args, index, pattern);
});

test('an option cannot hide inside another: arguments are read the way QEMU reads them', () => {
  // -no-hpet takes no argument, so "-qmp" is an option of its own.
  refused(['-no-hpet', '-qmp', 'unix:/tmp/q'], 1, /set by Vigil/);
  // -uuid takes one: "-qmp" is its (invalid) argument, and QEMU reads it the same way.
  assert.deepEqual(check(['-uuid', '-qmp']), []);
  // QEMU accepts --option as -option.
  refused(['--qmp', 'x'], 0, /set by Vigil/);
  // A bare word is a disk image to QEMU (-hda).
  refused(['/etc/shadow'], 0, /disk image/);
  refused(['-'], 0, /disk image/);
  refused([''], 0, /disk image/);
  // Escaped commas stay inside the value; an unescaped one starts a new key.
  assert.deepEqual(check(['-device', 'virtio-rng-pci,id=a,,romfile=/etc/shadow']), []);
  refused(['-device', 'virtio-rng-pci,id=a,romfile=/etc/shadow'], 1, /romfile/);
  // An option missing its argument.
  refused(['-rtc'], 0, /needs an argument/);
});

test('an unknown option stops the check: Vigil cannot know whether it takes an argument', () => {
  assert.deepEqual(check(['-rtc', 'base=utc', '-frobnicate', '-qmp', 'x']), ['2: "-frobnicate" is not a QEMU 7.2 option Vigil knows, so it cannot be checked; remove it or use a definition field']);
  refused(['-QMP', 'x'], 0, /not a QEMU 7\.2 option/);
});

test('every problem in the list is reported, each at its own index', () => {
  assert.deepEqual(
    checkExtraArgs(['-m', '1G', '-rtc', 'base=utc', '-device', 'loader,file=/x', '-S']).map((p) => p.index),
    [0, 5, 6],
  );
});

test('checkDeviceSpec applies the same rules to the devices field, pointing at the culprit', () => {
  assert.deepEqual(checkDeviceSpec('usb-tablet', { bus: 'xhci.0' }), []);
  assert.deepEqual(checkDeviceSpec('vfio-pci', { host: '01:00.0' }), [{ path: ['driver'], message: 'device "vfio-pci" is refused: host PCI passthrough is the "pci" field (or a NIC of type vf), so the kill switch knows the device' }]);
  assert.deepEqual(
    checkDeviceSpec('e1000e', { romfile: '/etc/shadow' }).map((p) => p.path),
    [['props', 'romfile']],
  );
  assert.deepEqual(
    checkDeviceSpec('virtio-blk-pci', { drive: 'blk0-format' }).map((p) => p.path),
    [['props', 'drive']],
  );
  assert.deepEqual(
    checkDeviceSpec('virtio-rng-pci', { id: 'x', 'bad key': 1 }).map((p) => p.path),
    [
      ['props', 'id'],
      ['props', 'bad key'],
    ],
  );
  assert.deepEqual(
    checkDeviceSpec('virtio-rng-pci,romfile=/x', {}).map((p) => p.path),
    [['driver']],
  );
});
