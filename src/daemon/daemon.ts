/**
 * vigild: reconciles and supervises the VMs of one Vigil home. It holds no VM state of its own: QEMUs run
 * daemonized and the store is the truth, so a killed vigild loses nothing and re-adopts every VM when it comes back.
 */
import { chmodSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { buildApi, type Api } from '../api/server.js';
import { VigilError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { ensurePrivateDir, resolvePaths, type VigilPaths } from '../core/paths.js';
import { KillswitchEngine } from '../killswitch/engine.js';
import { TriggerSet } from '../killswitch/triggers/set.js';
import { HostAgent, vigilActionSink } from '../host/index.js';
import { findBinary } from '../vm/preflight.js';
import { readInventory } from '../sysfs/inventory.js';
import { Vigil } from '../vigil.js';
import { setMetricsSource } from '../vm/monitoring/metrics.js';
import { VmSupervisor } from '../vm/supervisor.js';
import { isActive } from '../vm/states.js';
import { startLiveness } from './liveness.js';
import { takeDaemonLock } from './lock.js';

/** Options of `startDaemon`. */
export interface DaemonOptions {
  paths?: VigilPaths;
  logger: Logger;
  /** Supervisor scan interval (tests use a short one). */
  scanIntervalMs?: number;
  /** API port (overrides config and VMM_API_PORT); 0 picks a free one, null disables TCP. */
  port?: number | null;
}

/** A running daemon. */
export interface Daemon {
  vigil: Vigil;
  supervisor: VmSupervisor;
  /** The kill switch, cutting through the monitors the supervisor holds open. */
  killswitch: KillswitchEngine;
  /** The API, and where it listens ('' when TCP is off). */
  api: Api;
  apiUrl: string;
  /** Re-reads every VM's definition files (SIGHUP). */
  reload(): void;
  /** Stops supervising; VMs keep running unless config says `daemon.stopVmsOnExit`. */
  stop(): Promise<void>;
}

/** Takes the lock, opens the store, reconciles, autostarts, and starts watching. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const paths = options.paths ?? resolvePaths();
  const log = options.logger;
  ensurePrivateDir(paths.runtime);
  const release = takeDaemonLock(join(paths.runtime, 'vigild.pid'));
  let vigil: Vigil;
  try {
    vigil = Vigil.open({ paths, logger: log, principal: 'vigil:supervisor' });
  } catch (err) {
    release();
    throw err;
  }
  const healthIntervalMs = vigil.config.daemon.healthIntervalMs;
  // The checks ask the monitor the supervisor holds (declared before it exists: the checks run only after start()).
  const held = (vm: string): ReturnType<VmSupervisor['heldClient']> => supervisor.heldClient(vm);
  const supervisor = new VmSupervisor(vigil.vms, {
    logger: log,
    ...(options.scanIntervalMs ? { scanIntervalMs: options.scanIntervalMs } : {}),
    ...(healthIntervalMs > 0 ? { health: { intervalMs: healthIntervalMs, heldQmp: held } } : {}),
  });
  setMetricsSource({ vms: vigil.vms, health: supervisor.health, audit: vigil.audit });
  const started = performance.now();
  let summary: Awaited<ReturnType<VmSupervisor['start']>>;
  try {
    summary = await supervisor.start();
  } catch (err) {
    await supervisor.stop();
    vigil.close();
    release();
    throw err;
  }
  const killswitch = new KillswitchEngine({
    db: vigil.db,
    vms: vigil.vms,
    audit: vigil.audit,
    paths,
    logger: log.child({ mod: 'killswitch' }),
    inventory: () => readInventory(),
    heldQmp: (vm) => supervisor.heldClient(vm),
  });
  // An engage or release a crash interrupted (of vigild or a CLI run) is finished before anything else is served.
  const recovered = await killswitch.recover().catch((err: unknown) => {
    log.error({ err: String(err) }, 'kill switch recovery failed');
    return undefined;
  });
  if (recovered) log.warn({ elapsedMs: Math.round(recovered.elapsedMs) }, 'kill switch recovered to engaged');
  // The configured triggers (file, schedule, hotkey, GPIO) pull the same engine the API does.
  const triggers = new TriggerSet(vigil.config.killswitch?.triggers ?? [], {
    callback: (kind, trigger) => killswitch[kind](trigger),
    logger: log.child({ mod: 'killswitch-trigger' }),
    paths,
  });
  const failedTriggers = await triggers.start();
  // The host agent's alarms act on the same engine and VMs; restricting the API closes the TCP listener below.
  let restrictApi: (reason: string) => Promise<unknown> = () => Promise.resolve();
  const host = new HostAgent({
    config: vigil.config.host,
    paths,
    db: vigil.db,
    audit: vigil.audit,
    logger: log.child({ mod: 'host' }),
    sink: { ...vigilActionSink({ vms: vigil.vms, killswitch, logger: log }), restrictApiToLocalSocket: (reason) => restrictApi(reason) },
    vms: () => vigil.list(),
    qemuBinary: (() => {
      try {
        return findBinary(vigil.config.qemu.binary);
      } catch {
        return undefined;
      }
    })(),
  });
  const cfg = vigil.config.api;
  const api = await buildApi({
    host,
    killswitch,
    vigil,
    logger: log,
    supervisor,
    windowSec: cfg.windowSec,
    audience: cfg.audience,
    requireV2ForDestructive: cfg.requireV2ForDestructive,
    imagesDir: resolve(process.env.VMM_IMAGES_DIR ?? vigil.config.images.dir ?? join(paths.data, 'images')),
  });
  log.info({ backend: api.recoverer.name }, 'signature recovery backend');
  const envPort = process.env.VMM_API_PORT !== undefined ? Number(process.env.VMM_API_PORT) : undefined;
  const port = options.port !== undefined ? options.port : envPort ?? cfg.port;
  let apiUrl = '';
  let unix: ReturnType<typeof createServer> | undefined;
  try {
    if (port !== null) apiUrl = await api.app.listen({ host: cfg.host, port });
    else await api.app.ready();
    if (cfg.socket) {
      // fastify's own server is the TCP one; a second HTTP server routes the Unix socket's requests to it.
      rmSync(cfg.socket, { force: true });
      const server = createServer((req, res) => api.app.routing(req, res));
      unix = server;
      await new Promise<void>((r) => server.listen(cfg.socket, r));
      chmodSync(cfg.socket, 0o600);
    }
  } catch (err) {
    unix?.close();
    await api.app.close();
    await triggers.stop();
    await supervisor.stop();
    vigil.close();
    release();
    throw new VigilError('VIGIL_DAEMON', `cannot serve the API on ${cfg.host}:${port}${cfg.socket ? ` and ${cfg.socket}` : ''}: ${(err as Error).message}`, { cause: err });
  }
  restrictApi = (reason) => {
    if (!apiUrl) return Promise.resolve({ tcp: 'not served' });
    log.warn({ reason, api: apiUrl }, 'lockdown: the API stops serving TCP; the local socket stays');
    api.restrictToLocalSocket(reason);
    return Promise.resolve({ tcp: 'closed', socket: cfg.socket ?? null });
  };
  const hostStatus = await host.start().catch((err: unknown) => {
    // A honeypot that cannot bind must not keep the kill switch and the VMs unsupervised: say so loudly.
    log.error({ err: String(err) }, 'host agent did not start; its monitors are off');
    return undefined;
  });
  // Last, once everything is up: the guardian's watch starts here (see src/killswitch/guardian/).
  const liveness = await startLiveness(paths.runtime, log);
  log.info({ ...summary, ms: Math.round(performance.now() - started), home: paths.data, api: apiUrl, triggers: triggers.triggers.map((t) => t.name), failedTriggers, host: hostStatus ? { honeypots: hostStatus.honeypots.length, canaries: hostStatus.canaries.length } : null }, 'vigild ready');

  let stopping: Promise<void> | undefined;
  return {
    vigil,
    supervisor,
    killswitch,
    api,
    apiUrl,
    reload() {
      for (const vm of vigil.vms.list()) {
        if (vm.sources.length === 0) continue;
        try {
          const result = vigil.vms.apply(vm.sources);
          if (result.changed.length > 0) log.info({ vm: vm.name, changed: result.changed, needsRestart: result.needsRestart }, 'definition reloaded');
        } catch (err) {
          log.error({ vm: vm.name, err: String(err) }, 'definition reload failed; keeping the previous one');
        }
      }
    },
    stop() {
      stopping ??= (async () => {
        try {
          await triggers.stop();
          await host.stop();
          await new Promise<void>((r) => (unix ? unix.close(() => r()) : r()));
          await api.app.close();
          // An engage or release under way finishes first: cut off, it would leave the switch engaging and the
          // cut half done, with the guardian told the stop was clean.
          await killswitch.idle();
          // Let a start or stop in flight finish: cut off, it would leave a VM in starting or stopping.
          await vigil.vms.drain();
          await supervisor.stop();
          if (vigil.config.daemon.stopVmsOnExit) {
            await Promise.all(
              vigil.vms
                .list()
                .filter((vm) => isActive(vm.state))
                .map((vm) => vigil.vms.stop(vm.name, { timeoutMs: 10000 }).catch((err: unknown) => log.error({ vm: vm.name, err: String(err) }, 'stop failed'))),
            );
          }
        } finally {
          // A deliberate stop is a clean one even if a step above failed: the guardian must not take it for a crash.
          vigil.close();
          await liveness.markCleanAndClose();
          release();
        }
        log.info('vigild stopped');
      })();
      return stopping;
    },
  };
}

/** SIGTERM/SIGINT stop the daemon (VMs keep running); SIGHUP reloads definitions. */
export function handleSignals(daemon: Daemon, log: Logger): void {
  const stop = (signal: string): void => {
    log.info({ signal }, 'stopping');
    daemon.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: String(err) }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    log.info('SIGHUP: reloading definitions');
    daemon.reload();
  });
}
