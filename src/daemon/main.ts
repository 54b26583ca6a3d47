#!/usr/bin/env node
/** Entry point of `vigild`. */
import { createLogger } from '../core/log.js';
import { VigilError, toVigilError } from '../core/errors.js';
import { handleSignals, startDaemon } from './daemon.js';

const log = createLogger({ name: 'vigild' });
try {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : undefined;
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new VigilError('VIGIL_INVALID_INPUT', '--port needs a TCP port (0-65535)', { context: { field: 'port' } });
  handleSignals(await startDaemon({ logger: log, ...(port !== undefined ? { port } : {}) }), log);
} catch (err) {
  const ve = toVigilError(err);
  log.error({ code: ve.code }, ve.message);
  process.exitCode = 1;
}
