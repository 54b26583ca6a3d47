#!/usr/bin/env node
/**
 * Entry point of `vigil-guardian`: opens the store up front (so that nothing is loaded or opened at the moment
 * vigild dies), then watches vigild until SIGTERM. No HTTP, no API, no VM supervision.
 */
import { createLogger } from '../../core/log.js';
import { toVigilError } from '../../core/errors.js';
import { Vigil } from '../../vigil.js';
import { KillswitchEngine } from '../engine.js';
import { startGuardian } from './guardian.js';

const log = createLogger({ name: 'vigil-guardian' });
try {
  const vigil = Vigil.open({ logger: log, principal: 'vigil:guardian' });
  const base = { db: vigil.db, vms: vigil.vms, audit: vigil.audit, paths: vigil.paths, logger: log };
  const guardian = startGuardian({
    runtimeDir: vigil.paths.runtime,
    failsafe: new KillswitchEngine({ ...base, planFilter: (plan) => plan.failsafe }),
    full: new KillswitchEngine(base),
    logger: log,
  });
  log.info({ runtime: vigil.paths.runtime }, 'vigil-guardian ready');
  const stop = (signal: string): void => {
    log.info({ signal }, 'stopping');
    void guardian.stop().finally(() => {
      vigil.close();
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
} catch (err) {
  const ve = toVigilError(err);
  log.error({ code: ve.code }, ve.message);
  process.exitCode = 1;
}
