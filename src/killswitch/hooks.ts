/**
 * Per-device hooks (seed 000's `pre_detach` and `post_attach`): host commands run through `/bin/sh -c` with a
 * timeout, their exit status and (bounded) output recorded in the engage's or release's audit entry.
 *
 * A hook never holds up the cut. `pre_detach` starts at the moment the engage reaches the VM and runs in parallel
 * with the device_del: the cut is the privacy promise and its latency is the product (p50 < 100 ms), whereas a
 * hook is a courtesy to host software (stop a recorder, notify someone). A hook that must finish first may ask for
 * `wait_ms` (at most 1 s, and never past the VM's deadline). A hook that hangs is killed with its whole process
 * group at `timeout_ms`; the engage's report waits for hooks only after every device is cut.
 */
import { spawn } from 'node:child_process';
import type { Logger } from '../core/log.js';
import type { VigilPaths } from '../core/paths.js';
import type { HookSpec } from './host-file.js';
import { loadKillswitchHostConfig } from './host-file.js';
import type { PlannedDevice } from './plan.js';

/** Which hook. */
export type HookName = 'pre_detach' | 'post_attach';

/** What one hook run did. */
export interface HookResult {
  vm: string;
  device: string;
  hook: HookName;
  command: string;
  /** The exit status; null when a signal ended it (a timeout: SIGKILL) or it could not start. */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  ms: number;
  /** The first 4 KiB of each stream. */
  stdout: string;
  stderr: string;
  /** It could not be started at all. */
  error?: string;
}

/** A hook that was started. */
export interface PendingHook {
  /** How long the cut may wait for it (0: not at all). */
  waitMs: number;
  /** Settles when it ends or is killed; never rejects. */
  done: Promise<HookResult>;
}

/** What the engage and release paths call. */
export interface DeviceHooks {
  /** Starts `hook` for `device` if one is configured. */
  start(hook: HookName, device: PlannedDevice): PendingHook | undefined;
}

const OUTPUT_LIMIT = 4096;

/** Runs `command` with `/bin/sh -c`, killing its process group after `timeoutMs`; never rejects. */
export function runHookCommand(command: string, options: { timeoutMs: number; env?: Record<string, string> }): Promise<Omit<HookResult, 'vm' | 'device' | 'hook'>> {
  const started = performance.now();
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const take = (have: string, d: Buffer): string => (have.length >= OUTPUT_LIMIT ? have : (have + d.toString()).slice(0, OUTPUT_LIMIT));
    child.stdout.on('data', (d: Buffer) => (stdout = take(stdout, d)));
    child.stderr.on('data', (d: Buffer) => (stderr = take(stderr, d)));
    const killGroup = (): void => {
      try {
        // The group: `sh -c 'sleep 60'` forks, and killing sh alone would leave the sleep holding the pipes.
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    // A descendant that left the group (setsid, a daemon the hook started) can hold the pipes open forever:
    // at the deadline the pipes are dropped too, so the hook always ends by its timeout.
    const dropPipes = (): void => {
      child.stdout.destroy();
      child.stderr.destroy();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
      dropPipes();
      setTimeout(() => finish(child.exitCode, child.signalCode), 100).unref();
    }, options.timeoutMs);
    let settled = false;
    const finish = (exitCode: number | null, signal: string | null, error?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ command, exitCode, signal, timedOut, ms: performance.now() - started, stdout, stderr, ...(error !== undefined ? { error } : {}) });
    };
    child.on('error', (err) => finish(null, null, err.message));
    // 'close' (not 'exit'): the output is complete once the pipes close. After 'exit', a short grace for the
    // output, then the pipes are dropped: a background child of the hook must not keep it running.
    child.on('close', (code, signal) => finish(code, signal));
    child.on('exit', (code, signal) => {
      setTimeout(() => {
        dropPipes();
        finish(code, signal);
      }, 200).unref();
    });
  });
}

/** True when `spec` is for `device`: its VM (or `*`) and its id, its class (`class:<c>`) or `*`. */
export function hookMatches(spec: HookSpec, device: PlannedDevice): boolean {
  if (spec.vm !== '*' && spec.vm !== device.vmName) return false;
  return spec.device === '*' || spec.device === device.deviceId || spec.device === `class:${device.class}`;
}

/** Hooks from a list of specs: the first spec that matches a device and has the hook wins. */
export function deviceHooks(specs: readonly HookSpec[], context: { trigger?: string } = {}): DeviceHooks {
  return {
    start(hook, device) {
      const spec = specs.find((s) => hookMatches(s, device) && s[hook] !== undefined);
      const command = spec?.[hook];
      if (!spec || command === undefined) return undefined;
      const env = { VIGIL_VM: device.vmName, VIGIL_DEVICE: device.deviceId, VIGIL_DEVICE_CLASS: device.class, VIGIL_HOOK: hook, ...(context.trigger ? { VIGIL_TRIGGER: context.trigger } : {}) };
      const done = runHookCommand(command, { timeoutMs: spec.timeout_ms, env }).then((r) => ({ vm: device.vmName, device: device.deviceId, hook, ...r }));
      return { waitMs: hook === 'pre_detach' ? spec.wait_ms : 0, done };
    },
  };
}

/**
 * The hooks of the host file, read for one operation. A file that cannot be read costs the hooks, never the cut:
 * the problem is logged and the operation goes on without them.
 */
export function hostDeviceHooks(paths: VigilPaths, logger: Logger, trigger?: string): DeviceHooks {
  try {
    return deviceHooks(loadKillswitchHostConfig(paths).hooks, trigger !== undefined ? { trigger } : {});
  } catch (err) {
    logger.error({ err: String(err) }, 'kill switch hooks not run: the host file is invalid');
    return { start: () => undefined };
  }
}
