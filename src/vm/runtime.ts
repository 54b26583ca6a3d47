/** Where one VM's files live: sockets and pidfile in the runtime directory, logs and firmware vars in its state directory. */
import { join } from 'node:path';
import { vmRuntimeDir, type VigilPaths } from '../core/paths.js';
import { qemuFiles } from './argv/index.js';

/** The paths of one VM (the same names the argv builder gives QEMU). */
export type VmFiles = ReturnType<typeof qemuFiles> & {
  /** 0700; gone when the VM stops. */
  runtimeDir: string;
  /** Persistent (serial logs, UEFI variables). */
  stateDir: string;
};

/** The paths of VM `name`. */
export function vmFiles(paths: VigilPaths, name: string): VmFiles {
  const dirs = { runtimeDir: vmRuntimeDir(paths, name), stateDir: join(paths.data, 'vms', name) };
  return { ...dirs, ...qemuFiles(dirs) };
}
