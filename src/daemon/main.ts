#!/usr/bin/env node
/** Entry point of `vigild`. */
import { createLogger } from '../core/log.js';
import { toVigilError } from '../core/errors.js';
import { handleSignals, startDaemon } from './daemon.js';

const log = createLogger({ name: 'vigild' });
try {
  handleSignals(await startDaemon({ logger: log }), log);
} catch (err) {
  const ve = toVigilError(err);
  log.error({ code: ve.code }, ve.message);
  process.exitCode = 1;
}
