/** Test helpers for triggers: a callback that records what it was asked, and a logger that keeps its lines. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../../src/core/log.js';
import type { TriggerAction, TriggerCallback } from '../../../src/killswitch/triggers/fire.js';
import type { Trigger } from '../../../src/killswitch/report.js';

export interface Call {
  kind: TriggerAction;
  trigger: Trigger;
  at: number;
}

export interface Recorder {
  callback: TriggerCallback;
  calls: Call[];
  /** Waits until at least `n` calls were made; fails after `timeoutMs`. */
  waitFor(n: number, timeoutMs?: number): Promise<Call[]>;
}

export function recorder(result: TriggerCallback = () => Promise.resolve()): Recorder {
  const calls: Call[] = [];
  let wake: (() => void) | undefined;
  return {
    calls,
    callback: (kind, trigger) => {
      calls.push({ kind, trigger, at: performance.now() });
      wake?.();
      return result(kind, trigger);
    },
    async waitFor(n, timeoutMs = 5000) {
      const deadline = performance.now() + timeoutMs;
      while (calls.length < n) {
        const left = deadline - performance.now();
        if (left <= 0) throw new Error(`expected ${n} trigger call(s), got ${calls.length}: ${JSON.stringify(calls.map((c) => c.kind))}`);
        await Promise.race([new Promise<void>((r) => (wake = r)), sleep(Math.min(left, 50))]);
      }
      return calls;
    },
  };
}

export interface MemoryLogger extends Logger {
  lines: { level: string; obj: unknown; msg?: string | undefined }[];
}

export function memoryLogger(): MemoryLogger {
  const lines: MemoryLogger['lines'] = [];
  const at =
    (level: string) =>
    (obj: object | string, msg?: string): void => {
      lines.push({ level, obj, msg });
    };
  const logger: MemoryLogger = { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}
