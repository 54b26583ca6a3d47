/**
 * A guarded QMP session with one VM: connect, put the guard in front, audit into the store and the text log.
 * The CLI, the demo and (later) the daemon all reach QEMU through this.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { loadConfig } from '../core/config.js';
import type { Logger } from '../core/log.js';
import { ensurePrivateDir, resolvePaths, storePath, type VigilPaths } from '../core/paths.js';
import { LineAuditSink } from '../qmp/audit-line.js';
import type { QmpAuditSink } from '../qmp/audit-record.js';
import { QmpClient } from '../qmp/client.js';
import { QmpGuard, vmFilesDir } from '../qmp/guard.js';
import { GuardedQmp } from '../qmp/guarded.js';
import type { QmpGreeting } from '../qmp/types.js';
import { AuditLog } from '../store/audit-log.js';
import { openStore, type StoreDb } from '../store/db.js';
import { resolveTarget, type MonitorTarget } from './target.js';

/** Options of `openMonitor`. */
export interface MonitorOptions {
  /** Who acts (default: the Unix user name). */
  principal?: string;
  paths?: VigilPaths;
  /** An already open store (the daemon shares one); otherwise the monitor opens and closes its own. */
  store?: StoreDb;
  /** The audit log to append to (its listeners see every record); default: a new one over the store. */
  audit?: AuditLog;
  logger?: Logger;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
}

/** An open, guarded, audited QMP session. */
export interface Monitor {
  target: MonitorTarget;
  greeting: QmpGreeting;
  client: QmpClient;
  /** Use this for everything done on someone's behalf. */
  qmp: GuardedQmp;
  audit: AuditLog;
  close(): Promise<void>;
}

/** The principal for local use: the Unix user running Vigil. */
export function localPrincipal(): string {
  return userInfo().username;
}

/** The text audit log's path (seed 004's line format). */
export function auditLinePath(paths: VigilPaths): string {
  return join(paths.data, 'log', 'qmp-audit.log');
}

/** Connects to `spec` (VM name or socket) with the guard and both audit sinks in front. */
export async function openMonitor(spec: string, options: MonitorOptions = {}): Promise<Monitor> {
  const paths = options.paths ?? resolvePaths();
  const target = resolveTarget(spec, paths);
  const config = loadConfig(paths);
  const guard = new QmpGuard(config.qmp.rules);
  // Only <runtimeDir>/files/ holds the VM's own files (the rest is Vigil's sockets and pidfile): make sure it exists.
  if (target.runtimeDir !== undefined && existsSync(target.runtimeDir)) ensurePrivateDir(vmFilesDir(target.runtimeDir));
  const ownStore = options.store === undefined;
  const db = options.store ?? openStore(storePath(paths));
  const audit = options.audit ?? new AuditLog(db);
  const sinks: QmpAuditSink[] = [audit, new LineAuditSink(auditLinePath(paths))];
  const client = new QmpClient({
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
    ...(options.commandTimeoutMs !== undefined ? { commandTimeoutMs: options.commandTimeoutMs } : {}),
  });
  let greeting: QmpGreeting;
  try {
    greeting = await client.connect(target.address);
  } catch (err) {
    if (ownStore) db.close();
    throw err;
  }
  const qmp = new GuardedQmp(client, {
    guard,
    principal: options.principal ?? localPrincipal(),
    vm: target.vm,
    runtimeDir: target.runtimeDir,
    sinks,
  });
  return {
    target,
    greeting,
    client,
    qmp,
    audit,
    async close() {
      await client.close();
      if (ownStore) db.close();
    },
  };
}
