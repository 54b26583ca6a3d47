/**
 * Device removal that tells the truth: `device_del` only *asks* for an unplug, so success is the
 * DEVICE_DELETED event, not the command's reply. A guest can refuse (DEVICE_UNPLUG_GUEST_ERROR) or simply
 * never answer (a PCI unplug needs the guest OS; USB does not), and both are reported as typed errors.
 */
import { VigilError } from '../core/errors.js';
import type { QmpChannel, QmpEvent } from './types.js';

/** Options of a confirmed removal. */
export interface DeviceDelOptions {
  /** How long to wait for DEVICE_DELETED (default 5000 ms). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The confirmed removal. */
export interface DeviceDeleted {
  id: string;
  path: string | undefined;
  /** From sending device_del to DEVICE_DELETED. */
  elapsedMs: number;
}

interface DeviceEventData {
  device?: string;
  path?: string;
}

const inFlight = new WeakMap<QmpChannel, Set<string>>();

function concerns(id: string, event: QmpEvent<DeviceEventData>): boolean {
  return event.data.device === id || event.data.path === `/machine/peripheral/${id}`;
}

/**
 * Removes device `id` and resolves once QEMU confirms it with DEVICE_DELETED. Rejects with
 * VIGIL_QMP_UNPLUG_PENDING if a removal of `id` is already in flight on this channel, VIGIL_QMP_UNPLUG_REFUSED
 * when the guest refuses, VIGIL_QMP_TIMEOUT when no confirmation comes in time.
 */
export async function deviceDel(qmp: QmpChannel, id: string, options: DeviceDelOptions = {}): Promise<DeviceDeleted> {
  const timeoutMs = options.timeoutMs ?? 5000;
  let pending = inFlight.get(qmp);
  if (!pending) inFlight.set(qmp, (pending = new Set()));
  if (pending.has(id)) {
    throw new VigilError('VIGIL_QMP_UNPLUG_PENDING', `device '${id}' is already being removed; wait for that removal to finish or time out`, {
      context: { device: id },
    });
  }
  pending.add(id);
  const stopWaiting = new AbortController();
  const onOuterAbort = (): void => stopWaiting.abort();
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const started = performance.now();
  try {
    // Listen before sending: a USB device's DEVICE_DELETED can arrive before device_del's reply.
    const deleted = qmp.waitForEvent<DeviceEventData>('DEVICE_DELETED', (e) => concerns(id, e), timeoutMs, stopWaiting.signal);
    const refused = qmp
      .waitForEvent<DeviceEventData>('DEVICE_UNPLUG_GUEST_ERROR', (e) => concerns(id, e), timeoutMs + 1000, stopWaiting.signal)
      .then((event) => {
        throw new VigilError('VIGIL_QMP_UNPLUG_REFUSED', `the guest refused to release device '${id}'`, {
          context: { device: id, path: event.data.path },
        });
      });
    // Both waiters are settled through stopWaiting; mark them handled so an early exit leaves no stray rejection.
    deleted.catch(() => undefined);
    refused.catch(() => undefined);
    await qmp.execute('device_del', { id }, options.signal ? { signal: options.signal } : {});
    let event: QmpEvent<DeviceEventData>;
    try {
      event = await Promise.race([deleted, refused]);
    } catch (err) {
      if (err instanceof VigilError && err.code === 'VIGIL_QMP_TIMEOUT') {
        throw new VigilError(
          'VIGIL_QMP_TIMEOUT',
          `device '${id}' was not released within ${timeoutMs} ms: the guest did not complete the unplug ` +
            '(PCI devices need the guest OS to cooperate; pause or stop the VM to cut it off)',
          { cause: err, context: { device: id, timeoutMs, phase: 'unplug' } },
        );
      }
      throw err;
    }
    return { id, path: event.data.path, elapsedMs: performance.now() - started };
  } finally {
    stopWaiting.abort();
    options.signal?.removeEventListener('abort', onOuterAbort);
    pending.delete(id);
  }
}
