/**
 * The configured triggers as one unit: built from config.yaml's `killswitch.triggers`, started and stopped
 * together by vigild. One trigger that cannot start (a bad device, a missing gpiomon) is logged and skipped
 * rather than keeping the others from arming.
 */
import { join } from 'node:path';
import type { Logger } from '../../core/log.js';
import type { VigilPaths } from '../../core/paths.js';
import type { TriggerConfig } from './config.js';
import type { KillswitchTrigger, TriggerCallback } from './fire.js';
import { FileTrigger } from './file.js';
import { GpioTrigger } from './gpio.js';
import { HotkeyTrigger } from './hotkey.js';
import { ScheduleTrigger } from './schedule.js';

/** What TriggerSet needs. */
export interface TriggerSetOptions {
  callback: TriggerCallback;
  logger: Logger;
  /** For the file trigger's default path (`<runtime>/killswitch.trigger`). */
  paths: Pick<VigilPaths, 'runtime'>;
}

/** The default trigger file. */
export function defaultTriggerFile(paths: Pick<VigilPaths, 'runtime'>): string {
  return join(paths.runtime, 'killswitch.trigger');
}

/** Builds one trigger from its validated settings. */
export function buildTrigger(config: TriggerConfig, opts: TriggerSetOptions): KillswitchTrigger {
  const { callback } = opts;
  const name = config.name !== undefined ? { name: config.name } : {};
  const logger = opts.logger.child({ trigger: config.name ?? config.type });
  switch (config.type) {
    case 'file':
      return new FileTrigger({ path: config.path ?? defaultTriggerFile(opts.paths), pollMs: config.pollMs, callback, logger, ...name });
    case 'schedule':
      return new ScheduleTrigger({
        ...(config.engage !== undefined ? { engage: config.engage } : {}),
        ...(config.release !== undefined ? { release: config.release } : {}),
        ...(config.toggle !== undefined ? { toggle: config.toggle } : {}),
        ...(config.timezone !== undefined ? { timezone: config.timezone } : {}),
        applyAtStart: config.applyAtStart,
        callback,
        logger,
        ...name,
      });
    case 'hotkey':
      return new HotkeyTrigger({
        keys: config.keys,
        action: config.action,
        ...(config.devices !== undefined ? { devices: config.devices } : {}),
        reopenMs: config.reopenMs,
        debounceMs: config.debounceMs,
        callback,
        logger,
        ...name,
      });
    case 'gpio':
      return new GpioTrigger({
        chip: config.chip,
        line: config.line,
        rising: config.rising,
        falling: config.falling,
        activeLow: config.activeLow,
        ...(config.bias !== undefined ? { bias: config.bias } : {}),
        debounceMs: config.debounceMs,
        command: config.command,
        restartMs: config.restartMs,
        callback,
        logger,
        ...name,
      });
  }
}

/** Every configured trigger, started and stopped together. */
export class TriggerSet {
  readonly triggers: KillswitchTrigger[];
  private started: KillswitchTrigger[] = [];

  constructor(configs: readonly TriggerConfig[], private readonly opts: TriggerSetOptions) {
    this.triggers = configs.map((c) => buildTrigger(c, opts));
  }

  /** Starts every trigger; returns the names of those that failed to start (each logged). */
  async start(): Promise<string[]> {
    const failed: string[] = [];
    await Promise.all(
      this.triggers.map(async (t) => {
        try {
          await t.start();
          this.started.push(t);
        } catch (err) {
          failed.push(t.name);
          this.opts.logger.error({ trigger: t.name, err: err instanceof Error ? err.message : String(err) }, 'kill switch trigger did not start');
        }
      }),
    );
    return failed;
  }

  /** Stops every started trigger. */
  async stop(): Promise<void> {
    const started = this.started.splice(0);
    await Promise.all(started.map((t) => t.stop().catch((err: unknown) => this.opts.logger.warn({ trigger: t.name, err: String(err) }, 'kill switch trigger did not stop cleanly'))));
  }
}
