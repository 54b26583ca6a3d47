/**
 * Section 1: a VM from a YAML file. The definition names everything the later sections use: a qcow2 disk for
 * snapshots, a user NIC and emulated USB devices for the kill switch, `introspection: true` for `vigil vmi`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureGuestImage, makeInitrd } from '../../guest/build.js';
import { defaultInitScript, GUEST_READY_LINE } from '../../guest/init-script.js';
import { heading, note, serialLog, until, vigil, type Demo } from '../lib.js';

/** The host config: TCG (KVM hangs on this machine) and a trigger file that engages the kill switch. */
function configYaml(d: Demo): string {
  return `qemu:
  accel: tcg
daemon:
  healthIntervalMs: 2000        # vigild's health checks through its held monitors (default 10 s)
killswitch:
  triggers:
    - { type: file, path: ${d.triggerFile}, pollMs: 200 }
`;
}

/** Runs the section. */
export async function vmsFromYaml(d: Demo): Promise<void> {
  heading('1. A VM from a YAML file: add, start, show, ls');
  const image = await ensureGuestImage();
  // The guest's shell computes the marker (6*7): the whole string is in guest RAM only, never in a host file.
  const [prefix, token] = [d.marker.slice(0, d.marker.indexOf('-42-')), d.marker.slice(d.marker.indexOf('-42-') + 4)];
  // jiffies' address (from the guest's own kallsyms) goes to the console for the gdbstub watchpoint of section 5.
  const init = `echo "${prefix}-$((6*7))-${token}" > /dev/shm/marker\nsleep 100000 &\necho "jiffies at 0x$(grep ' jiffies$' /proc/kallsyms | cut -d' ' -f1)"`;
  const initrd = await makeInitrd(image, defaultInitScript(init), join(d.home, 'initrd.img'));
  mkdirSync(d.paths.config, { recursive: true });
  writeFileSync(join(d.paths.config, 'config.yaml'), configYaml(d));
  console.log(`${join(d.paths.config, 'config.yaml')}:\n${configYaml(d)}`);

  note('a small qcow2 disk to hold snapshots (memory + device state) later on');
  vigil(d, ['image', 'create', 'demo-state.qcow2', '--size', '256M']);
  const yaml = `# The test guest: a Debian cloud kernel and a busybox initramfs, under TCG.
name: ${d.vm}
memory: 256M
cpus: 1
accel: tcg
boot:
  kernel: ${image.kernel}
  initrd: ${initrd}
  cmdline: console=ttyS0 panic=-1 quiet cryptomgr.notests nokaslr
disks:
  - { id: state, file: ${join(d.paths.data, 'images', 'demo-state.qcow2')} }
nics:
  - { id: net0, type: user }
devices:                       # emulated USB devices the kill switch can cut
  - { id: usbc, driver: qemu-xhci }
  - { id: kbd0, driver: usb-kbd, props: { bus: usbc.0 } }
  - { id: tab0, driver: usb-tablet, props: { bus: usbc.0 } }
introspection: true            # shared RAM file + gdbstub: vigil vmi reads guest memory from the host
killswitch:
  devices: [kbd0, tab0, class:network]
  escalation: [pause, poweroff, kill]
  deadlineMs: 2000
autostart:
  enabled: true
  restart: { policy: on-failure, initialDelayMs: 500 }
tags: [demo]
`;
  const file = join(d.home, 'demo.yaml');
  writeFileSync(file, yaml);
  console.log(`${file}:\n${yaml}`);
  vigil(d, ['vm', 'add', file]);
  vigil(d, ['vm', 'start', d.vm]);
  await until('the guest to boot (its ready line on the serial console)', () => serialLog(d).includes(GUEST_READY_LINE));
  vigil(d, ['vm', 'ls']);
  vigil(d, ['vm', 'show', d.vm]);
  vigil(d, ['vm', 'logs', d.vm, '-n', '3']);
}
