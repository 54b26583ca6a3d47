/**
 * Engaging one VM: every device cut at once (device_del confirmed by DEVICE_DELETED, set_link false for NICs),
 * and when anything is not confirmed by the deadline, the VM's escalation steps in order until one holds.
 */
import { toVigilError } from '../core/errors.js';
import { deviceDel } from '../qmp/device-del.js';
import { setLink } from '../qmp/commands.js';
import { isQemuOf, waitForExit } from '../vm/process.js';
import type { KillswitchChannel } from './channel.js';
import type { DeviceHooks, PendingHook } from './hooks.js';
import type { PlannedDevice, VmPlan } from './plan.js';
import { deviceOutcomeTimer, type DeviceOutcome, type VmOutcome } from './report.js';
import type { EscalationStep } from './section.js';

/** What engaging a VM needs from the outside (the engine wires the VM service in). */
export interface VmEngageContext {
  /** A live QEMU's pid, or undefined when the VM is not running. */
  livePid(): number | undefined;
  /** True when running, false when paused, undefined when the VM has no live QEMU. */
  wasRunning(): boolean | undefined;
  open(timeoutMs: number): Promise<KillswitchChannel>;
  /** Records that the kill switch paused or stopped the VM. */
  markPaused(reason: string): void;
  markStopped(reason: string): void;
  /** Per-device hooks (optional): pre_detach runs alongside each cut. */
  hooks?: DeviceHooks;
}

const EXIT_WAIT_MS = 3000;

function errorText(err: unknown): string {
  const ve = toVigilError(err);
  return typeof ve.context.qmpDesc === 'string' ? `${ve.code}: ${ve.context.qmpDesc}` : `${ve.code}: ${ve.message}`;
}

async function cutDevice(ch: KillswitchChannel, device: PlannedDevice, deadlineAt: number): Promise<DeviceOutcome> {
  const done = deviceOutcomeTimer(device);
  try {
    if (device.action === 'link-down') {
      await setLink(ch.qmp, device.deviceId, false);
      return done('link-down');
    }
    await deviceDel(ch.qmp, device.deviceId, { timeoutMs: Math.max(1, deadlineAt - performance.now()) });
    return done('detached');
  } catch (err) {
    const ve = toVigilError(err);
    // Already gone (a repeated engage, or one resumed after a crash): that is the state we want.
    if (ve.context.qmpClass === 'DeviceNotFound') return done('absent');
    if (device.action === 'detach' && (ve.code === 'VIGIL_QMP_TIMEOUT' || ve.code === 'VIGIL_QMP_UNPLUG_REFUSED' || ve.code === 'VIGIL_QMP_UNPLUG_PENDING')) {
      return done('unconfirmed', errorText(err));
    }
    // QEMU refuses a second device_del while the guest still holds the first: as unconfirmed as a timeout.
    if (device.action === 'detach' && /already in the process of unplug|in progress/i.test(errorText(err))) return done('unconfirmed', errorText(err));
    return done('failed', errorText(err));
  }
}

async function escalate(step: EscalationStep, ch: KillswitchChannel | undefined, ctx: VmEngageContext): Promise<void> {
  switch (step) {
    case 'pause':
      if (!ch) throw new Error('no QMP session to pause through');
      await ch.qmp.execute('stop');
      ctx.markPaused('kill switch: paused by escalation');
      return;
    case 'poweroff': {
      if (!ch) throw new Error('no QMP session to quit through');
      const pid = ctx.livePid();
      await ch.qmp.execute('quit');
      if (pid !== undefined && !(await waitForExit(pid, EXIT_WAIT_MS))) throw new Error(`QEMU ${pid} did not exit after quit`);
      ctx.markStopped('kill switch: powered off by escalation');
      return;
    }
    case 'kill': {
      const pid = ctx.livePid();
      if (pid === undefined) return;
      process.kill(pid, 'SIGKILL');
      if (!(await waitForExit(pid, EXIT_WAIT_MS))) throw new Error(`QEMU ${pid} survived SIGKILL`);
      ctx.markStopped('kill switch: killed by escalation');
      return;
    }
  }
}

/** Engages one VM and reports what each device and escalation step did; never throws. */
export async function engageVm(plan: VmPlan, ctx: VmEngageContext): Promise<VmOutcome> {
  const started = performance.now();
  const deadlineAt = started + plan.deadlineMs;
  const out: VmOutcome = { vmName: plan.vmName, devices: [], escalated: [], safe: false, elapsedMs: 0 };
  const finish = (): VmOutcome => ({ ...out, elapsedMs: performance.now() - started });
  // From the store (the truth about run states), not query-status: one QMP round trip and audit row less per VM.
  const wasRunning = ctx.wasRunning();
  if (wasRunning === undefined) {
    out.notRunning = true;
    out.safe = true;
    return finish();
  }
  out.wasRunning = wasRunning;
  // Started before the monitor is even dialled, so that they overlap the cut as much as they can.
  const pending = plan.devices.map((d) => startHook(ctx.hooks, d));
  let ch: KillswitchChannel | undefined;
  try {
    ch = await ctx.open(Math.max(200, plan.deadlineMs));
    const open = ch;
    out.monitor = ch.held ? 'held' : 'dialled';
    out.devices = await Promise.all(plan.devices.map((d, i) => holdFor(pending[i], deadlineAt).then(() => cutDevice(open, d, deadlineAt))));
  } catch (err) {
    out.error = errorText(err);
  }
  out.safe = out.error === undefined && out.devices.every((d) => d.outcome === 'detached' || d.outcome === 'absent' || d.outcome === 'link-down');
  try {
    for (const step of out.safe ? [] : plan.escalation) {
      try {
        await escalate(step, ch, ctx);
        out.escalated.push({ step, ok: true, atMs: performance.now() - started });
        out.safe = true;
        break;
      } catch (err) {
        out.escalated.push({ step, ok: false, atMs: performance.now() - started, error: errorText(err) });
      }
    }
  } finally {
    await ch?.close().catch(() => undefined);
  }
  // Timed to the safe state; the hooks (bounded by their timeouts) only have to be in the report.
  const result = finish();
  const hooks = await Promise.all(pending.flatMap((p) => (p ? [p.done] : [])));
  return hooks.length > 0 ? { ...result, hooks } : result;
}

function startHook(hooks: DeviceHooks | undefined, device: PlannedDevice): PendingHook | undefined {
  try {
    return hooks?.start('pre_detach', device);
  } catch {
    return undefined; // a hook that cannot even start must not stop the cut
  }
}

/** Waits for a hook that asked for it (wait_ms), never past the VM's deadline. */
async function holdFor(hook: PendingHook | undefined, deadlineAt: number): Promise<void> {
  if (!hook || hook.waitMs <= 0) return;
  const ms = Math.min(hook.waitMs, deadlineAt - performance.now());
  if (ms <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([hook.done, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** True when `pid` is still `name`'s QEMU (a recycled pid is never signalled). */
export function liveQemu(pid: number | null, name: string): number | undefined {
  return pid !== null && isQemuOf(pid, name) ? pid : undefined;
}
