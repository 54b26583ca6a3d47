/**
 * The schedule trigger: cron expressions (croner: seconds field optional, IANA time zones) that engage,
 * release or toggle the switch at set times, e.g. engaged every night from 22:00 to 07:00.
 */
import { Cron } from 'croner';
import type { Logger } from '../../core/log.js';
import { makeFirer, type Fire, type KillswitchTrigger, type TriggerAction, type TriggerCallback } from './fire.js';

/** What a schedule trigger needs. */
export interface ScheduleTriggerOptions {
  engage?: string;
  release?: string;
  toggle?: string;
  timezone?: string;
  /** Engage at start when the last scheduled time before now was an engage (both engage and release given). */
  applyAtStart: boolean;
  callback: TriggerCallback;
  logger: Logger;
  name?: string;
  /** "Now", for the start-up decision (tests). */
  now?: () => Date;
}

/** One set of cron jobs. */
export class ScheduleTrigger implements KillswitchTrigger {
  readonly name: string;
  private readonly fire: Fire;
  private jobs: Cron[] = [];

  constructor(private readonly opts: ScheduleTriggerOptions) {
    this.name = opts.name ?? `schedule:${(['engage', 'release', 'toggle'] as const).filter((k) => opts[k]).map((k) => `${k}=${opts[k]}`).join(',')}`;
    this.fire = makeFirer({ source: 'schedule', callback: opts.callback, logger: opts.logger, debounceMs: 0 });
  }

  /** The next time each configured action runs (for listings). */
  nextRuns(): Partial<Record<TriggerAction, Date | null>> {
    return Object.fromEntries(this.jobs.map((job) => [job.name as TriggerAction, job.nextRun()]));
  }

  /** Schedules the jobs, and engages now if the schedule says the switch should be engaged. */
  start(): Promise<void> {
    if (this.jobs.length > 0) return Promise.resolve();
    for (const kind of ['engage', 'release', 'toggle'] as const) {
      const pattern = this.opts[kind];
      if (pattern === undefined) continue;
      const job = new Cron(pattern, {
        name: kind,
        ...(this.opts.timezone !== undefined ? { timezone: this.opts.timezone } : {}),
        catch: (err: unknown) => this.opts.logger.error({ trigger: this.name, err: String(err) }, 'schedule trigger failed'),
      }, () => {
        this.fire(kind, `cron ${pattern}${this.opts.timezone ? ` (${this.opts.timezone})` : ''}`);
      });
      this.jobs.push(job);
    }
    if (this.opts.applyAtStart && this.opts.engage !== undefined && this.opts.release !== undefined) this.applyAtStart(this.opts.engage, this.opts.release);
    return Promise.resolve();
  }

  /** Stops every job. */
  stop(): Promise<void> {
    for (const job of this.jobs.splice(0)) job.stop();
    return Promise.resolve();
  }

  private applyAtStart(engage: string, release: string): void {
    const now = this.opts.now?.() ?? new Date();
    const tz = this.opts.timezone !== undefined ? { timezone: this.opts.timezone } : {};
    const last = (pattern: string): Date | undefined => {
      const probe = new Cron(pattern, { paused: true, ...tz });
      try {
        return probe.previousRuns(1, now)[0];
      } finally {
        probe.stop();
      }
    };
    const lastEngage = last(engage);
    const lastRelease = last(release);
    // Only the engage side acts at start: releasing would undo an engage someone made by hand.
    if (lastEngage && (!lastRelease || lastEngage > lastRelease)) {
      this.fire('engage', `schedule at start: inside the engaged window since ${lastEngage.toISOString()} (cron ${engage})`);
    }
  }
}
