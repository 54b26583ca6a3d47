/**
 * The fail-safe guardian: when vigild dies without a clean stop, every VM whose `killswitch:` section says
 * `failsafe: true` is cut, in the same store and with trigger source `guardian`, and the guardian goes on
 * watching (vigild restarted by systemd can die again). It serves nothing and holds no state of its own.
 */
import type { Logger } from '../../core/log.js';
import type { KillswitchEngine } from '../engine.js';
import type { SwitchReport } from '../report.js';
import { watchVigild, type VigildEvent } from './watch.js';

/** Options of `startGuardian`. */
export interface GuardianOptions {
  runtimeDir: string;
  /** An engine whose plan holds only failsafe VMs (see `failsafeOnly`). */
  failsafe: KillswitchEngine;
  /** An engine over every VM: it finishes an engage or release that vigild's death interrupted. */
  full: KillswitchEngine;
  logger: Logger;
  retryMs?: number;
  /** Called after each engage the guardian made (tests and the bench read the timings from here). */
  onEngaged?: (report: SwitchReport, death: Extract<VigildEvent, { kind: 'death' }>) => void;
}

/** A running guardian. */
export interface Guardian {
  stop(): Promise<void>;
  /** Settles when the engage for the latest death is done. */
  idle(): Promise<void>;
}

/**
 * What the guardian does for a death, by the switch's state: armed -> engage the failsafe VMs; engaging or
 * releasing (vigild died mid-way) -> finish securely over every VM, as vigild's own recovery would; engaged ->
 * nothing: everything the last engage planned is already cut, and replacing its report by a failsafe-only one
 * would make the next release forget the other VMs.
 */
export async function onVigildDeath(options: Pick<GuardianOptions, 'failsafe' | 'full' | 'logger'>, death: Extract<VigildEvent, { kind: 'death' }>): Promise<SwitchReport | undefined> {
  const detail = `vigild (pid ${death.pid}) died without a clean shutdown (${death.how === 'socket-closed' ? 'its liveness socket closed' : 'its pidfile names a dead process'})`;
  const state = options.full.status().state;
  if (state === 'engaged') {
    options.logger.warn({ pid: death.pid }, 'vigild died; the kill switch is already engaged');
    return undefined;
  }
  const trigger = { source: 'guardian', principal: 'vigil:guardian', detail };
  if (state === 'armed' && (await options.failsafe.plan()).vms.length === 0) {
    // Nothing is marked failsafe: flipping the switch to engaged would cut nothing and only need a release.
    options.logger.warn({ pid: death.pid }, 'vigild died without a clean shutdown; no VM is marked failsafe');
    return undefined;
  }
  options.logger.error({ pid: death.pid, how: death.how, state }, 'vigild died without a clean shutdown: engaging the kill switch');
  return state === 'armed' ? options.failsafe.engage(trigger) : options.full.engage({ ...trigger, detail: `${detail}; found ${state}` });
}

/** Starts watching vigild. */
export function startGuardian(options: GuardianOptions): Guardian {
  let last: Promise<void> = Promise.resolve();
  const watch = watchVigild({
    runtimeDir: options.runtimeDir,
    ...(options.retryMs !== undefined ? { retryMs: options.retryMs } : {}),
    onEvent(event) {
      if (event.kind === 'up') options.logger.info({ pid: event.pid }, 'watching vigild');
      else if (event.kind === 'clean-stop') options.logger.info({ pid: event.pid }, 'vigild stopped cleanly');
      else {
        last = last.then(async () => {
          try {
            const report = await onVigildDeath(options, event);
            if (report) {
              const cut = report.vms.every((v) => v.safe);
              options.logger.info({ pid: event.pid, vms: report.vms.length, safe: cut, detectedAt: event.at, doneAt: Date.now(), ms: Math.round(report.elapsedMs) }, 'guardian engaged the kill switch');
              options.onEngaged?.(report, event);
            }
          } catch (err) {
            options.logger.error({ err: String(err) }, 'guardian could not engage the kill switch');
          }
        });
      }
    },
  });
  return {
    async stop() {
      watch.stop();
      await last;
    },
    idle: () => last,
  };
}
