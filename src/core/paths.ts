/**
 * Where Vigil keeps its files. System mode (root) uses /etc, /var/lib and /run; user mode the XDG directories;
 * VIGIL_HOME puts all three under one directory (tests, demos). VIGIL_CACHE holds downloaded and built artefacts.
 */
import { mkdirSync, chmodSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The directories Vigil uses. */
export interface VigilPaths {
  /** Configuration: config.yaml, VM definitions. */
  readonly config: string;
  /** Persistent state: the SQLite store, logs. */
  readonly data: string;
  /** Runtime state: per-VM directories with QMP/serial/gdb sockets (0700). */
  readonly runtime: string;
  /** Downloaded packages and built guest images. */
  readonly cache: string;
}

/** Resolves Vigil's directories from the environment (pure: creates nothing). */
export function resolvePaths(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? 1000): VigilPaths {
  const cache = env.VIGIL_CACHE ? resolve(env.VIGIL_CACHE) : join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'vigil');
  if (env.VIGIL_HOME) {
    const home = resolve(env.VIGIL_HOME);
    return { config: join(home, 'config'), data: join(home, 'data'), runtime: join(home, 'run'), cache };
  }
  if (uid === 0) return { config: '/etc/vigil', data: '/var/lib/vigil', runtime: '/run/vigil', cache };
  const home = homedir();
  return {
    config: join(env.XDG_CONFIG_HOME ?? join(home, '.config'), 'vigil'),
    data: join(env.XDG_DATA_HOME ?? join(home, '.local', 'share'), 'vigil'),
    runtime: join(env.XDG_RUNTIME_DIR ?? join('/tmp', `vigil-${uid}`), 'vigil'),
    cache,
  };
}

/** The runtime directory of one VM: its QMP, serial and gdb sockets live here. */
export function vmRuntimeDir(paths: VigilPaths, vm: string): string {
  return join(paths.runtime, 'vms', vm);
}

/** The QMP socket of a VM managed by Vigil. */
export function vmQmpSocket(paths: VigilPaths, vm: string): string {
  return join(vmRuntimeDir(paths, vm), 'qmp.sock');
}

/** The SQLite store's file. */
export function storePath(paths: VigilPaths): string {
  return join(paths.data, 'vigil.db');
}

/**
 * Creates `dir` (and parents) and makes sure it is private (0700): sockets inside it are then reachable by
 * their owner only, whatever their own mode.
 */
export function ensurePrivateDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if ((statSync(dir).mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
  return dir;
}
