/**
 * The QEMU command line of a VM: a pure function of the definition and the per-boot context, so the same input
 * always gives the same argv and a unit test can pin every fragment.
 *
 * Every VM starts paused (-S: the supervisor applies postStartActions, then sends `cont`), with no default
 * devices and no host config file, its monitors, console and gdbstub on Unix sockets in its 0700 runtime
 * directory, and extraArgs last (the schema has already refused the options Vigil owns and the dangerous ones).
 */
import { join } from 'node:path';
import { VigilError } from '../../core/errors.js';
import type { VmDefinition } from '../definition/schema.js';
import type { ArgvContext } from './context.js';
import { emulatedDeviceArgs, hasDisplayAdapter, pciArgs, usbArgs, vsockArgs } from './devices.js';
import { diskArgs } from './disks.js';
import { withDefaultIds } from './ids.js';
import { keyval } from './keyval.js';
import { nicArgs } from './nics.js';

/** The files QEMU creates for a VM, from its runtime and state directories. */
export function qemuFiles(ctx: Pick<ArgvContext, 'runtimeDir' | 'stateDir'>): {
  qmpSocket: string;
  monitorSocket: string;
  serialSocket: string;
  gdbSocket: string;
  vncSocket: string;
  pidfile: string;
  ramFile: string;
  serialLog: string;
  uefiVars: string;
} {
  return {
    qmpSocket: join(ctx.runtimeDir, 'qmp.sock'),
    monitorSocket: join(ctx.runtimeDir, 'monitor.sock'),
    serialSocket: join(ctx.runtimeDir, 'serial.sock'),
    gdbSocket: join(ctx.runtimeDir, 'gdb.sock'),
    vncSocket: join(ctx.runtimeDir, 'vnc.sock'),
    pidfile: join(ctx.runtimeDir, 'qemu.pid'),
    ramFile: join(ctx.runtimeDir, 'ram'),
    serialLog: join(ctx.stateDir, 'serial.log'),
    uefiVars: join(ctx.stateDir, 'uefi-vars.fd'),
  };
}

/** True for machine types with a built-in AHCI controller (q35 and its versions: its buses are ide.0-ide.5). */
export function machineHasAhci(machine: string): boolean {
  return /q35/.test(machine);
}

/** The longest Unix socket path Linux accepts (sun_path is 108 bytes, NUL included). */
export const MAX_SOCKET_PATH = 107;

function socketChardev(id: string, path: string): string {
  return keyval('socket', [['id', id], ['path', path], ['server', true], ['wait', false]]);
}

/** The full argv (argv[0] is ctx.qemuBinary) of the VM described by `def`. */
export function buildQemuArgv(def: VmDefinition, ctx: ArgvContext): string[] {
  const d = withDefaultIds(def);
  const f = qemuFiles(ctx);
  // QEMU would fail on a long path only after creating some sockets; saying so first names the real fix.
  for (const socket of [f.qmpSocket, f.monitorSocket, f.serialSocket, f.gdbSocket, f.vncSocket]) {
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
      throw new VigilError('VIGIL_INVALID_INPUT', `socket path ${socket} is longer than the ${MAX_SOCKET_PATH} bytes Unix sockets allow: use a shorter runtime directory (VIGIL_HOME) or VM name`, {
        context: { runtimeDir: ctx.runtimeDir },
      });
    }
  }
  const args: string[] = [ctx.qemuBinary];

  // debug-threads names QEMU's threads after their job (CPU 0/TCG, worker), which shows in top and in core dumps.
  args.push('-name', keyval(undefined, [['guest', d.name], ['debug-threads', true]]));
  args.push('-S', '-nodefaults', '-no-user-config');
  args.push('-machine', keyval(d.machine, [['memory-backend', d.introspection ? 'ram' : undefined]]));
  args.push('-accel', ctx.accel);
  args.push('-cpu', d.cpu ?? (ctx.accel === 'kvm' ? 'host' : 'max'));
  args.push('-smp', String(d.cpus), '-m', `${d.memory}M`);
  if (d.introspection) {
    // Guest RAM in a shared file the host can read (physical memory for introspection); it stays in the 0700 runtime dir.
    args.push('-object', keyval('memory-backend-file', [['id', 'ram'], ['size', `${d.memory}M`], ['mem-path', f.ramFile], ['share', true]]));
  }

  if (d.firmware.type === 'uefi') {
    // Code read-only and shared by all VMs; variables per VM, copied from the template by the caller.
    args.push('-drive', keyval(undefined, [['if', 'pflash'], ['format', 'raw'], ['unit', 0], ['readonly', true], ['file', d.firmware.code]]));
    args.push('-drive', keyval(undefined, [['if', 'pflash'], ['format', 'raw'], ['unit', 1], ['file', f.uefiVars]]));
  }
  if (d.boot !== undefined) {
    args.push('-kernel', d.boot.kernel);
    if (d.boot.initrd !== undefined) args.push('-initrd', d.boot.initrd);
    const token = ctx.bootToken !== undefined ? `vigil.boot_token=${ctx.bootToken}` : undefined;
    const cmdline = [d.boot.cmdline, token].filter((x) => x !== undefined && x !== '').join(' ');
    if (cmdline !== '') args.push('-append', cmdline);
  }

  // Two QMP monitors: qmp.sock for users and the CLI, monitor.sock held by vigild (QEMU serves one client per monitor).
  args.push('-chardev', socketChardev('qmp', f.qmpSocket), '-mon', 'chardev=qmp,mode=control');
  args.push('-chardev', socketChardev('monitor', f.monitorSocket), '-mon', 'chardev=monitor,mode=control');
  // logappend: Vigil rotates serial.log by copy-and-truncate, and QEMU keeps writing at the (new) end.
  const serialLog = d.serial.log ? ([['logfile', f.serialLog], ['logappend', true]] as const) : [];
  args.push('-chardev', keyval('socket', [['id', 'serial0'], ['path', f.serialSocket], ['server', true], ['wait', false], ...serialLog]), '-serial', 'chardev:serial0');
  if (d.introspection) args.push('-chardev', socketChardev('gdb', f.gdbSocket), '-gdb', 'chardev:gdb');
  args.push('-pidfile', f.pidfile);
  if (ctx.bootToken !== undefined) args.push('-fw_cfg', keyval(undefined, [['name', 'opt/vigil/boot_token'], ['string', ctx.bootToken]]));

  args.push('-display', 'none');
  if (d.display === 'vnc') {
    // A Unix socket in the runtime directory, never a TCP port: VNC has no real authentication of its own.
    args.push('-vnc', keyval(`unix:${f.vncSocket}`, []));
    // -nodefaults leaves the machine without a graphics card; VNC would show nothing.
    if (!hasDisplayAdapter(d.devices)) args.push('-device', 'VGA,id=video0');
  }
  if (ctx.daemonize) args.push('-daemonize');

  args.push(...diskArgs(d.disks, machineHasAhci(d.machine)));
  args.push(...nicArgs(d.name, d.nics, ctx));
  if (d.vsock !== undefined) args.push(...vsockArgs(d.vsock.cid));
  args.push(...usbArgs(d.usb));
  args.push(...pciArgs(d.pci));
  args.push(...emulatedDeviceArgs(d.devices));
  args.push(...d.extraArgs);
  return args;
}
