/**
 * What every trigger shares: the callback it pulls (the engine's engage/release/toggle), and one guarded way to
 * pull it that drops bouncing repeats and never lets a failure escape into an event handler.
 */
import type { Logger } from '../../core/log.js';
import type { Trigger } from '../report.js';

/** What a trigger asks of the kill switch. */
export type TriggerAction = 'engage' | 'release' | 'toggle';

/** The kill switch as triggers see it: the daemon passes the engine's methods. */
export type TriggerCallback = (kind: TriggerAction, trigger: Trigger) => Promise<unknown>;

/** One running trigger. */
export interface KillswitchTrigger {
  /** A name for logs and listings (`file`, `hotkey:KEY_LEFTCTRL+KEY_K`, or the configured name). */
  readonly name: string;
  /** Starts watching; resolves once the trigger is live (a missing device is retried, not an error). */
  start(): Promise<void>;
  /** Stops watching and releases what start() took; pulls nothing afterwards. */
  stop(): Promise<void>;
}

/** Options every trigger's firer takes. */
export interface FirerOptions {
  /** Trigger.source: file, schedule, hotkey, gpio. */
  source: string;
  callback: TriggerCallback;
  logger: Logger;
  /** Repeats of the same action within this window are dropped (a bouncing button, a held key). */
  debounceMs: number;
  /** The clock, for tests of the window. */
  now?: () => number;
}

/** A fire function: `fire(kind, detail)` returns whether the action was passed on (false: debounced). */
export type Fire = (kind: TriggerAction, detail: string) => boolean;

/**
 * Makes the one function a trigger pulls the switch with. It returns at once: the callback's promise is awaited
 * here so that a rejection is logged rather than left unhandled, and a synchronous throw is caught the same way.
 */
export function makeFirer(opts: FirerOptions): Fire {
  const now = opts.now ?? (() => performance.now());
  const last = new Map<TriggerAction, number>();
  return (kind, detail) => {
    const t = now();
    const prev = last.get(kind);
    if (prev !== undefined && t - prev < opts.debounceMs) {
      opts.logger.debug({ source: opts.source, kind, detail }, 'kill switch trigger debounced');
      return false;
    }
    last.set(kind, t);
    opts.logger.info({ source: opts.source, kind, detail }, 'kill switch trigger fired');
    const trigger: Trigger = { source: opts.source, detail };
    let pending: Promise<unknown>;
    try {
      pending = Promise.resolve(opts.callback(kind, trigger));
    } catch (err) {
      pending = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    pending.catch((err: unknown) => {
      opts.logger.error({ source: opts.source, kind, detail, err: err instanceof Error ? err.message : String(err) }, 'kill switch trigger: the switch failed');
    });
    return true;
  };
}
