/**
 * Releasing one VM: re-attach what the engage detached (device_add with the same id and properties), restore
 * NIC links, resume the VM if the kill switch paused it, and say what could not be put back.
 */
import { toVigilError } from '../core/errors.js';
import { qomList, setLink } from '../qmp/commands.js';
import type { KillswitchChannel } from './channel.js';
import type { DeviceHooks, HookResult } from './hooks.js';
import type { PlannedDevice } from './plan.js';
import { deviceOutcomeTimer, type DeviceOutcome, type VmOutcome } from './report.js';

/** What releasing a VM needs from the outside. */
export interface VmReleaseContext {
  livePid(): number | undefined;
  open(timeoutMs: number): Promise<KillswitchChannel>;
  markRunning(reason: string): void;
  /** Per-device hooks (optional): post_attach runs after each device is back. */
  hooks?: DeviceHooks;
  /** Why a device must not be re-attached (a host device blocked by the hot-plug watch), if it must not. */
  refusal?: (device: PlannedDevice) => string | undefined;
}

/** Host devices: the guard refuses their device_add unless told; the kill switch is the one path allowed to. */
const HOST_DRIVERS = new Set(['usb-host', 'vfio-pci']);

function errorText(err: unknown): string {
  const ve = toVigilError(err);
  return typeof ve.context.qmpDesc === 'string' ? `${ve.code}: ${ve.context.qmpDesc}` : `${ve.code}: ${ve.message}`;
}

async function restore(ch: KillswitchChannel, engaged: DeviceOutcome, present: ReadonlySet<string>, refusal?: (device: PlannedDevice) => string | undefined): Promise<DeviceOutcome> {
  const { device } = engaged;
  const done = deviceOutcomeTimer(device);
  try {
    const refused = device.action === 'detach' && !present.has(device.deviceId) ? refusal?.(device) : undefined;
    if (refused !== undefined) return done('blocked', refused);
    if (device.action === 'link-down') {
      await setLink(ch.qmp, device.deviceId, device.props.up !== false);
      return done('link-up');
    }
    // Never removed (the guest held on and the VM was paused instead): nothing to put back.
    if (present.has(device.deviceId)) return done('still-attached');
    const driver = String(device.props.driver);
    await ch.qmp.execute('device_add', { ...device.props, id: device.deviceId }, {
      allowDangerous: HOST_DRIVERS.has(driver),
      purpose: `kill switch release: re-attach ${driver} '${device.deviceId}' as it was before the engage`,
    });
    return done('attached');
  } catch (err) {
    return done('failed', errorText(err));
  }
}

/** Releases one VM from its engage outcome; never throws. `unrestored` gets one line per failure. */
export async function releaseVm(engaged: VmOutcome, ctx: VmReleaseContext, unrestored: string[]): Promise<VmOutcome> {
  const started = performance.now();
  const out: VmOutcome = { vmName: engaged.vmName, devices: [], escalated: [], safe: true, elapsedMs: 0 };
  const finish = (): VmOutcome => ({ ...out, elapsedMs: performance.now() - started });
  if (engaged.notRunning) return finish();
  if (ctx.livePid() === undefined) {
    out.notRunning = true;
    const how = engaged.escalated.find((e) => e.ok)?.step;
    unrestored.push(`${engaged.vmName}: not running${how === 'poweroff' || how === 'kill' ? ` (the kill switch ${how === 'kill' ? 'killed' : 'powered off'} it)` : ''}; start it to get its devices back`);
    return finish();
  }
  let ch: KillswitchChannel | undefined;
  const hooks: Promise<HookResult>[] = [];
  try {
    ch = await ctx.open(5000);
    const open = ch;
    const present = new Set((await qomList(open.qmp, '/machine/peripheral')).map((p) => p.name));
    for (const d of engaged.devices) {
      const r = await restore(open, d, present, ctx.refusal);
      out.devices.push(r);
      if (r.outcome === 'failed' || r.outcome === 'blocked') unrestored.push(`${engaged.vmName}/${d.device.deviceId}: ${r.error ?? 'failed'}`);
      if (r.outcome === 'attached' || r.outcome === 'link-up') {
        try {
          const hook = ctx.hooks?.start('post_attach', d.device);
          if (hook) hooks.push(hook.done);
        } catch {
          // a hook that cannot start is not a failed restore
        }
      }
    }
    if (engaged.pausedByKillswitch) {
      await open.qmp.execute('cont');
      out.resumed = true;
      ctx.markRunning('kill switch released: resumed');
    }
  } catch (err) {
    out.error = errorText(err);
    unrestored.push(`${engaged.vmName}: ${out.error}`);
  } finally {
    await ch?.close().catch(() => undefined);
  }
  const result = finish();
  return hooks.length > 0 ? { ...result, hooks: await Promise.all(hooks) } : result;
}
