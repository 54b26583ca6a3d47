/**
 * Checks made before QEMU is started, so that the errors a user meets are Vigil's clear ones, not QEMU's, and
 * nothing is half-started: the binary, every file the definition names, and sockets held by a live process.
 */
import { accessSync, constants, existsSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { delimiter, join } from 'node:path';
import { VigilError } from '../core/errors.js';
import type { VmDefinition } from './definition/schema.js';
import type { VmFiles } from './runtime.js';

/** The absolute path of `binary` (searched in PATH unless it contains a `/`). */
export function findBinary(binary: string, env: NodeJS.ProcessEnv = process.env): string {
  const candidates = binary.includes('/') ? [binary] : (env.PATH ?? '/usr/bin:/bin').split(delimiter).map((d) => join(d, binary));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new VigilError('VIGIL_QEMU_MISSING', `QEMU binary '${binary}' not found; install it (apt-get install qemu-system-x86) or set qemu.binary in config.yaml`, {
    context: { binary },
  });
}

/** Every host file the definition needs, with the field that names it. */
export function requiredFiles(def: VmDefinition): { field: string; path: string }[] {
  const files: { field: string; path: string }[] = [];
  if (def.boot) {
    files.push({ field: 'boot.kernel', path: def.boot.kernel });
    if (def.boot.initrd) files.push({ field: 'boot.initrd', path: def.boot.initrd });
  }
  if (def.firmware.type === 'uefi') {
    files.push({ field: 'firmware.code', path: def.firmware.code }, { field: 'firmware.vars', path: def.firmware.vars });
  }
  def.disks.forEach((d, i) => {
    const path = d.file ?? d.device;
    if (path) files.push({ field: `disks.${i}.${d.file ? 'file' : 'device'}`, path });
  });
  return files;
}

/** Throws VIGIL_DISK_MISSING naming every missing file and the field that names it. */
export function checkFiles(def: VmDefinition): void {
  const missing = requiredFiles(def).filter((f) => !existsSync(f.path));
  if (missing.length === 0) return;
  const list = missing.map((m) => `${m.field}: ${m.path}`).join('; ');
  throw new VigilError('VIGIL_DISK_MISSING', `VM '${def.name}' cannot start: missing file(s): ${list}; create them or fix the definition`, {
    context: { vm: def.name, missing },
  });
}

function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ path: socket });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Throws VIGIL_SOCKET_IN_USE if a live process listens on one of the VM's sockets; removes stale socket files
 * left by a QEMU that died (QEMU refuses to bind over them).
 */
export async function clearSockets(files: VmFiles): Promise<void> {
  for (const socket of [files.qmpSocket, files.monitorSocket, files.serialSocket, files.gdbSocket]) {
    if (!existsSync(socket)) continue;
    if (await answers(socket)) {
      throw new VigilError('VIGIL_SOCKET_IN_USE', `socket ${socket} is in use by a live process; is another QEMU running for this VM outside Vigil?`, {
        context: { socket },
      });
    }
    rmSync(socket, { force: true });
  }
}
