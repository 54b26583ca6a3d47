/**
 * What the configured triggers would do on this host, for `vigil killswitch triggers`: the file and whether it
 * exists, the schedule's next times, the keyboards a hotkey would read, whether gpiomon is installed. Reads only;
 * starts nothing.
 */
import { Cron } from 'croner';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { VigilPaths } from '../../core/paths.js';
import type { TriggerConfig } from './config.js';
import { findKeyDevices } from './keyboards.js';
import { parseCombo } from './keys.js';
import { defaultTriggerFile } from './set.js';

/** One trigger as listed. */
export interface TriggerDescription {
  name: string;
  type: TriggerConfig['type'];
  /** One line: what fires it and what it does. */
  summary: string;
  /** Facts about this host that decide whether it can fire (missing device, tool not installed). */
  problems: string[];
  /** Type-specific facts (next runs, devices found, key codes). */
  details: Record<string, unknown>;
}

function onPath(command: string): boolean {
  const candidates = isAbsolute(command) || command.includes('/') ? [command] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, command));
  return candidates.some((c) => {
    try {
      accessSync(c, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Describes each configured trigger in order. */
export async function describeTriggers(configs: readonly TriggerConfig[], opts: { paths: Pick<VigilPaths, 'runtime'>; sysRoot?: string; now?: Date }): Promise<TriggerDescription[]> {
  const out: TriggerDescription[] = [];
  for (const c of configs) {
    switch (c.type) {
      case 'file': {
        const path = c.path ?? defaultTriggerFile(opts.paths);
        const present = existsSync(path);
        out.push({ name: c.name ?? `file:${path}`, type: c.type, summary: `create ${path} to engage, remove it to release`, problems: [], details: { path, present, pollMs: c.pollMs } });
        break;
      }
      case 'schedule': {
        const next: Record<string, string | null> = {};
        for (const kind of ['engage', 'release', 'toggle'] as const) {
          const pattern = c[kind];
          if (pattern === undefined) continue;
          const job = new Cron(pattern, { paused: true, ...(c.timezone !== undefined ? { timezone: c.timezone } : {}) });
          next[kind] = job.nextRun(opts.now)?.toISOString() ?? null;
          job.stop();
        }
        const parts = (['engage', 'release', 'toggle'] as const).filter((k) => c[k] !== undefined).map((k) => `${k} at "${c[k]}"`);
        out.push({ name: c.name ?? `schedule:${parts.join(',')}`, type: c.type, summary: `${parts.join(', ')}${c.timezone ? ` (${c.timezone})` : ''}`, problems: [], details: { next, applyAtStart: c.applyAtStart } });
        break;
      }
      case 'hotkey': {
        const codes = parseCombo(c.keys);
        const devices = c.devices ?? (await findKeyDevices(codes, opts.sysRoot !== undefined ? { sys: opts.sysRoot } : {}));
        const missing = c.devices?.filter((d) => !existsSync(d)) ?? [];
        const problems = [
          ...(devices.length === 0 ? ['no input device can send every key of the combination (none found under /sys/class/input)'] : []),
          ...missing.map((d) => `${d} does not exist (the trigger waits for it)`),
        ];
        out.push({ name: c.name ?? `hotkey:${c.keys}`, type: c.type, summary: `${c.action} when ${c.keys} is held`, problems, details: { codes, devices, autoDetected: c.devices === undefined } });
        break;
      }
      case 'gpio': {
        const edges = (['rising', 'falling'] as const).filter((e) => c[e] !== 'none').map((e) => `${c[e]} on ${e} edge`);
        const problems = onPath(c.command) ? [] : [`${c.command} is not installed; install libgpiod's tools (Debian: apt-get install gpiod)`];
        out.push({ name: c.name ?? `gpio:${c.chip}:${c.line}`, type: c.type, summary: `${edges.join(', ')} of ${c.chip} line ${c.line}`, problems, details: { chip: c.chip, line: c.line, command: c.command, debounceMs: c.debounceMs } });
        break;
      }
    }
  }
  return out;
}
