/** What an engage or release did, device by device: persisted with the state and written to the audit log. */
import type { HookResult } from './hooks.js';
import type { Plan, PlannedDevice } from './plan.js';
import type { EscalationStep } from './section.js';

/** Who or what pulled the switch. */
export interface Trigger {
  /** cli, api, file, schedule, hotkey, gpio, guardian, recovery, ... */
  source: string;
  /** The acting principal (audited); default `vigil:killswitch`. */
  principal?: string;
  detail?: string;
}

/**
 * One device's outcome. Engage: detached (DEVICE_DELETED seen), absent (already gone), link-down, unconfirmed
 * (no confirmation by the deadline: the VM was escalated), failed. Release: attached, link-up, still-attached (it
 * was never removed), failed, blocked (not re-attached: it would take a host device plugged while engaged).
 */
export interface DeviceOutcome {
  device: PlannedDevice;
  outcome: 'detached' | 'absent' | 'link-down' | 'unconfirmed' | 'failed' | 'attached' | 'link-up' | 'still-attached' | 'blocked';
  elapsedMs: number;
  error?: string;
}

/** One VM's part of an engage or release. */
export interface VmOutcome {
  vmName: string;
  /** The VM was not running: nothing to cut (or to restore). */
  notRunning?: boolean;
  /** Was the VM running (not paused) before the kill switch touched it? Release resumes only those it paused. */
  wasRunning?: boolean;
  devices: DeviceOutcome[];
  /** Escalation steps taken (the last one held); `atMs` counts from the start of this VM's engage. */
  escalated: { step: EscalationStep; ok: boolean; atMs: number; error?: string }[];
  /** The kill switch paused a running VM (so release resumes it); carried over repeated engages. */
  pausedByKillswitch?: boolean;
  /** The VM is cut off: every device confirmed, or an escalation step succeeded. */
  safe: boolean;
  /** Release: the VM was resumed after the kill switch had paused it. */
  resumed?: boolean;
  elapsedMs: number;
  /** How QEMU was reached: a monitor connection vigild held open, or one dialled for this operation. */
  monitor?: 'held' | 'dialled';
  error?: string;
  /** The device hooks that ran (pre_detach on engage, post_attach on release). */
  hooks?: HookResult[];
}

/** A whole engage or release. */
export interface SwitchReport {
  action: 'engage' | 'release';
  trigger: Trigger;
  startedAt: string;
  elapsedMs: number;
  /** What was to be cut (engage) or restored (release); release reads the engage's plan back from the store. */
  plan: Plan;
  vms: VmOutcome[];
  /** Engage: planning failed (nothing new was cut; the switch is still engaged). */
  error?: string;
  /** Release: what could not be put back, one line each. */
  unrestored?: string[];
}

/** A recorder of one device's outcome, timed from the moment it is created. */
export function deviceOutcomeTimer(device: PlannedDevice): (outcome: DeviceOutcome['outcome'], error?: string) => DeviceOutcome {
  const started = performance.now();
  return (outcome, error) => ({ device, outcome, elapsedMs: performance.now() - started, ...(error !== undefined ? { error } : {}) });
}
