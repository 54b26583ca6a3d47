/**
 * QEMU's command line for the test guest. Every socket is a server that does not wait for a client, so QEMU
 * starts at once and Vigil (or a test) connects whenever it likes.
 */
import { join } from 'node:path';

/**
 * Kernel command line. Measured under TCG: cryptomgr.notests skips the crypto self-tests (~0.3 s of a ~2.4 s
 * boot), quiet saves ~0.1 s of emulated-UART output; mitigations=off, tsc=reliable, 8250.nr_uarts=1 and -cpu max
 * made no measurable difference. panic=-1 with -no-reboot turns a guest panic into a QEMU exit.
 */
export const KERNEL_APPEND = 'console=ttyS0 panic=-1 quiet cryptomgr.notests';

/** The files QEMU creates in a guest's runtime directory. */
export function runtimeFiles(dir: string): { qmpSocket: string; gdbSocket: string; serialSocket: string; serialLog: string; ramPath: string; pidFile: string } {
  return {
    qmpSocket: join(dir, 'qmp.sock'),
    gdbSocket: join(dir, 'gdb.sock'),
    serialSocket: join(dir, 'serial.sock'),
    serialLog: join(dir, 'serial.log'),
    ramPath: join(dir, 'ram'),
    pidFile: join(dir, 'qemu.pid'),
  };
}

/** What the command line depends on. */
export interface QemuArgsInput {
  dir: string;
  name: string;
  memoryMiB: number;
  machine: string;
  paused: boolean;
  /** Absent for a guest with no OS. */
  boot?: { kernel: string; initrd: string; append: string };
  extraArgs: readonly string[];
}

/** The arguments of qemu-system-x86_64 for one guest (TCG always: KVM guests hang on some hosts). */
export function qemuArgs(o: QemuArgsInput): string[] {
  const f = runtimeFiles(o.dir);
  const args = ['-accel', 'tcg', '-nodefaults', '-no-user-config', '-display', 'none', '-name', `guest=${o.name}`];
  // File-backed shared RAM: guest physical memory is readable from the host for introspection.
  args.push('-machine', `${o.machine},memory-backend=ram`, '-m', `${o.memoryMiB}`);
  args.push('-object', `memory-backend-file,id=ram,size=${o.memoryMiB}M,mem-path=${f.ramPath},share=on`);
  if (o.boot !== undefined) args.push('-kernel', o.boot.kernel, '-initrd', o.boot.initrd, '-append', o.boot.append);
  args.push('-no-reboot');
  args.push('-chardev', `socket,id=serial0,path=${f.serialSocket},server=on,wait=off,logfile=${f.serialLog}`, '-serial', 'chardev:serial0');
  args.push('-chardev', `socket,id=qmp0,path=${f.qmpSocket},server=on,wait=off`, '-mon', 'chardev=qmp0,mode=control');
  args.push('-chardev', `socket,id=gdb0,path=${f.gdbSocket},server=on,wait=off`, '-gdb', 'chardev:gdb0');
  args.push('-pidfile', f.pidFile);
  // Hot-plug targets: USB devices go on xhci, PCIe devices into the root port's slot.
  args.push('-device', 'qemu-xhci,id=xhci');
  if (o.machine.includes('q35')) args.push('-device', 'pcie-root-port,id=rp1,chassis=1');
  if (o.paused) args.push('-S');
  return [...args, ...o.extraArgs];
}
