/**
 * Structured logging (pino, JSON lines on stderr). Modules take a `Logger` so tests and embedders can pass their
 * own; the default level comes from VIGIL_LOG_LEVEL (default `warn` so the CLI's stdout stays clean).
 */
import { pino } from 'pino';

/** The subset of pino's logger that Vigil's modules use. */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

let root: Logger | undefined;

/** The process-wide logger, created on first use. */
export function rootLogger(): Logger {
  root ??= pino({ level: process.env.VIGIL_LOG_LEVEL ?? 'warn', base: { pid: process.pid } }, pino.destination(2));
  return root;
}

/** A new logger writing JSON lines to `fd` (vigild logs at info to stdout). */
export function createLogger(options: { level?: string; fd?: number; name?: string } = {}): Logger {
  return pino(
    { level: options.level ?? process.env.VIGIL_LOG_LEVEL ?? 'info', ...(options.name ? { name: options.name } : {}), base: { pid: process.pid } },
    pino.destination(options.fd ?? 1),
  );
}

/** A logger that drops everything (tests that assert on nothing logged, embedders that log elsewhere). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};
