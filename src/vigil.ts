/**
 * `Vigil`: the library's front door, with the same verbs as the CLI (as MAQET offers from Python).
 *
 *   const vigil = Vigil.open();
 *   vigil.add(['web.yaml']);
 *   await vigil.start('web');
 */
import { loadConfig, type VigilConfig } from './core/config.js';
import { rootLogger, type Logger } from './core/log.js';
import { resolvePaths, storePath, type VigilPaths } from './core/paths.js';
import { assertAttachable, BlockedDevices } from './killswitch/hotplug/blocked.js';
import { AuditLog } from './store/audit-log.js';
import { openStore, type StoreDb } from './store/db.js';
import type { VmStateChange } from './store/vm-history-repo.js';
import type { VmDefinition } from './vm/definition/schema.js';
import { localPrincipal, openMonitor, type Monitor } from './vm/monitor.js';
import { VmService, type ApplyResult, type StopOptions, type Vm } from './vm/service.js';
import { imagesDir } from './images/dir.js';
import { ImageService } from './images/service.js';
import { SnapshotService } from './vm/snapshot/service.js';

/** Options of `Vigil.open`. */
export interface VigilOptions {
  /** Put all state under this directory (like VIGIL_HOME). */
  home?: string;
  paths?: VigilPaths;
  logger?: Logger;
  /** Who acts, recorded with every QMP command (default: the Unix user). */
  principal?: string;
}

/** One handle on Vigil's state: VMs, their lifecycle, the audit log. */
export class Vigil {
  readonly vms: VmService;
  readonly audit: AuditLog;
  /** Disk images in the images directory. */
  readonly images: ImageService;
  /** VM snapshots; commands are audited under this handle's principal (`snapshotsAs` for an API caller). */
  readonly snapshots: SnapshotService;

  private constructor(
    readonly paths: VigilPaths,
    readonly config: VigilConfig,
    readonly db: StoreDb,
    readonly logger: Logger,
    readonly principal: string,
  ) {
    this.audit = new AuditLog(db);
    const blocked = new BlockedDevices(paths);
    // Host devices blocked by the kill switch (plugged while it was engaged) are never attached by a start.
    const attachCheck = (name: string, def: VmDefinition): void => {
      if (def.usb.length > 0 || def.pci.length > 0) assertAttachable(blocked.list(), name, def);
    };
    this.vms = new VmService({ paths, db, logger, principal, qemuBinary: config.qemu.binary, hostAccel: config.qemu.accel, audit: this.audit, attachCheck });
    this.images = new ImageService(imagesDir(paths, config), this.vms);
    this.snapshots = this.snapshotsAs(principal);
  }

  /** Snapshot operations whose QMP commands are audited under `principal` (an API caller). */
  snapshotsAs(principal: string): SnapshotService {
    return new SnapshotService(this.vms, (vm) => this.monitorAs(vm, principal));
  }

  /** Opens the store (creating it on first use) and reads config.yaml. */
  static open(options: VigilOptions = {}): Vigil {
    const paths = options.paths ?? resolvePaths(options.home ? { ...process.env, VIGIL_HOME: options.home } : process.env);
    const config = loadConfig(paths);
    const db = openStore(storePath(paths));
    return new Vigil(paths, config, db, options.logger ?? rootLogger(), options.principal ?? localPrincipal());
  }

  /** Defines a VM from YAML files (deep-merged in order). */
  add(files: string[]): Vm {
    return this.vms.add(files);
  }

  /** Defines a VM from a validated definition object. */
  define(definition: VmDefinition): Vm {
    return this.vms.define(definition);
  }

  /** Every VM. */
  list(): Vm[] {
    return this.vms.list();
  }

  /** One VM with its recent state changes. */
  show(name: string): Vm & { history: VmStateChange[] } {
    return { ...this.vms.get(name), history: this.vms.stateHistory(name, 20) };
  }

  /** Starts a VM; resolves when it runs. */
  start(name: string): Promise<Vm> {
    return this.vms.start(name);
  }

  /** Stops a VM (power-down request, then quit, then SIGKILL). */
  stop(name: string, options?: StopOptions): Promise<Vm> {
    return this.vms.stop(name, options);
  }

  /** Stops and starts a VM. */
  restart(name: string, options?: StopOptions): Promise<Vm> {
    return this.vms.restart(name, options);
  }

  /** Pauses a VM. */
  pause(name: string): Promise<Vm> {
    return this.vms.pause(name);
  }

  /** Resumes a VM. */
  resume(name: string): Promise<Vm> {
    return this.vms.resume(name);
  }

  /** Resets a VM. */
  reset(name: string): Promise<Vm> {
    return this.vms.reset(name);
  }

  /** Forgets a VM. */
  remove(name: string, options?: { purge?: boolean; force?: boolean }): Promise<void> {
    return this.vms.remove(name, options);
  }

  /** Updates a definition from files; says whether a restart is needed. */
  apply(files: string[]): ApplyResult {
    return this.vms.apply(files);
  }

  /** The tail of a VM's serial console log. */
  logs(name: string, lines?: number): string {
    return this.vms.logs(name, lines);
  }

  /** A guarded, audited QMP session with a VM. */
  monitor(name: string): Promise<Monitor> {
    return this.monitorAs(name, this.principal);
  }

  /** A guarded QMP session whose commands are audited under `principal` (an API caller). */
  monitorAs(name: string, principal: string): Promise<Monitor> {
    return openMonitor(this.vms.files(this.vms.get(name).name).qmpSocket, { paths: this.paths, store: this.db, audit: this.audit, logger: this.logger, principal });
  }

  /** Closes the store. */
  close(): void {
    this.db.close();
  }
}
