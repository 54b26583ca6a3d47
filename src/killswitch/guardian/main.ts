#!/usr/bin/env node
/**
 * Entry point of `vigil-guardian`: opens the store up front (so that nothing is loaded or opened at the moment
 * vigild dies), then watches vigild until SIGTERM. No HTTP, no API, no VM supervision.
 */
import { createLogger } from '../../core/log.js';
import { toVigilError } from '../../core/errors.js';
import { readInventory } from '../../sysfs/inventory.js';
import { Vigil } from '../../vigil.js';
import { KillswitchEngine } from '../engine.js';
import { killswitchHostSchema, loadKillswitchHostConfig, type HotplugPolicy } from '../host-file.js';
import { hotplugRules } from '../hotplug/rules.js';
import { HotplugWatcher } from '../hotplug/watcher.js';
import { startGuardian } from './guardian.js';

const log = createLogger({ name: 'vigil-guardian' });
try {
  const vigil = Vigil.open({ logger: log, principal: 'vigil:guardian' });
  const root = process.env.VIGIL_SYSFS_ROOT ?? '/';
  // The inventory gives host passthrough devices their class, so that `class:` selectors cut them.
  const inventory = (): ReturnType<typeof readInventory> => readInventory(root);
  const base = { db: vigil.db, vms: vigil.vms, audit: vigil.audit, paths: vigil.paths, logger: log, inventory };
  const full = new KillswitchEngine(base);
  const guardian = startGuardian({
    runtimeDir: vigil.paths.runtime,
    failsafe: new KillswitchEngine({ ...base, planFilter: (plan) => plan.failsafe }),
    full,
    logger: log,
  });
  log.info({ runtime: vigil.paths.runtime }, 'vigil-guardian ready');
  // The hot-plug watch lives here too: like the fail-safe, it must work whether or not vigild is up.
  let policy: HotplugPolicy;
  try {
    policy = loadKillswitchHostConfig(vigil.paths).hotplug;
  } catch (err) {
    log.error({ err: String(err) }, 'killswitch.yaml is invalid; hot-plug watch with the default policy');
    policy = killswitchHostSchema.parse({}).hotplug;
  }
  const watcher = new HotplugWatcher({
    paths: vigil.paths,
    audit: vigil.audit,
    logger: log,
    state: () => full.status().state,
    rules: () => hotplugRules(vigil.vms.list().map((vm) => ({ name: vm.name, definition: vm.definition })), policy.rules),
    policy,
    root,
  });
  watcher.start().then(
    ({ udev }) => log.info({ root, udev, rescanMs: policy.rescan_ms }, 'hot-plug watch started'),
    (err: unknown) => log.error({ err: String(err) }, 'hot-plug watch not started'),
  );
  const stop = (signal: string): void => {
    log.info({ signal }, 'stopping');
    void Promise.all([guardian.stop(), watcher.stop()]).finally(() => {
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
