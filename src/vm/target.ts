/** Resolves what a user names (a VM or a QMP socket) to an address, and the VM's runtime directory if known. */
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { VigilError } from '../core/errors.js';
import { vmQmpSocket, vmRuntimeDir, type VigilPaths } from '../core/paths.js';
import { parseQmpAddress, type QmpAddress } from '../qmp/address.js';

/** A QMP endpoint as the guard and the audit log see it. */
export interface MonitorTarget {
  /** The VM's name, or the socket address when it is not a Vigil VM. */
  vm: string;
  address: QmpAddress;
  /** The VM's runtime directory (host paths inside it are the VM's own); undefined for foreign sockets. */
  runtimeDir: string | undefined;
}

const VM_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/** True for a valid VM name (letters, digits, `_`, `.`, `-`; up to 63 characters). */
export function isVmName(name: string): boolean {
  return VM_NAME.test(name);
}

/**
 * `spec` is a VM name, a socket path (anything with a `/`), `unix:PATH` or `tcp:HOST:PORT`.
 * Throws VIGIL_NOT_FOUND for a VM with no QMP socket and VIGIL_INVALID_INPUT for a malformed spec.
 */
export function resolveTarget(spec: string, paths: VigilPaths): MonitorTarget {
  if (spec.includes('/') || spec.startsWith('tcp:') || spec.startsWith('unix:')) {
    const address = parseQmpAddress(spec);
    if ('path' in address) {
      const abs = resolve(address.path);
      const vmsDir = join(paths.runtime, 'vms');
      const dir = dirname(abs);
      // A socket inside Vigil's own VM directories belongs to that VM: audit it under its name.
      if (dirname(dir) === vmsDir) return { vm: basename(dir), address: { path: abs }, runtimeDir: dir };
      return { vm: abs, address: { path: abs }, runtimeDir: undefined };
    }
    return { vm: spec, address, runtimeDir: undefined };
  }
  if (!isVmName(spec)) {
    throw new VigilError('VIGIL_INVALID_INPUT', `'${spec}' is neither a VM name nor a socket: VM names use letters, digits, '_', '.', '-'; give a path for a socket`, {
      context: { field: 'target', value: spec },
    });
  }
  const socket = vmQmpSocket(paths, spec);
  if (!existsSync(socket)) {
    throw new VigilError('VIGIL_NOT_FOUND', `no running VM named '${spec}' (no QMP socket at ${socket}); give a socket path for a VM Vigil does not manage`, {
      context: { vm: spec, socket },
    });
  }
  return { vm: spec, address: { path: socket }, runtimeDir: vmRuntimeDir(paths, spec) };
}
