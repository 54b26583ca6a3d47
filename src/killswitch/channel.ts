/**
 * The kill switch's QMP session with one VM: the guard in front (principal `vigil:killswitch`), audited into the
 * store and the text log like every other guarded command. The schema check is off: it costs a large
 * query-qmp-schema round trip per session, inside the deadline, and every command used here exists in any QEMU
 * Vigil supports.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { VigilError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { VigilPaths } from '../core/paths.js';
import { LineAuditSink } from '../qmp/audit-line.js';
import { QmpClient } from '../qmp/client.js';
import type { QmpGuard } from '../qmp/guard.js';
import { GuardedQmp } from '../qmp/guarded.js';
import type { AuditLog } from '../store/audit-log.js';
import { auditLinePath } from '../vm/monitor.js';
import type { VmFiles } from '../vm/runtime.js';

/** The principal the kill switch acts as. */
export const KILLSWITCH_PRINCIPAL = 'vigil:killswitch';

/** An open session; close it when done. */
export interface KillswitchChannel {
  qmp: GuardedQmp;
  /** True when the connection belongs to someone else (vigild's supervisor) and outlives this channel. */
  held: boolean;
  close(): Promise<void>;
}

/** What opening a channel needs. */
export interface ChannelDeps {
  paths: VigilPaths;
  audit: AuditLog;
  logger: Logger;
  /** The guard with the configured rules (the engine reads config.yaml once per operation). */
  guard: QmpGuard;
}

async function connect(socket: string, timeoutMs: number, logger: Logger): Promise<QmpClient> {
  const client = new QmpClient({ connectTimeoutMs: timeoutMs, commandTimeoutMs: 10000, logger });
  await client.connect({ path: socket });
  return client;
}

/** How long the public monitor gets to greet before the second one is tried as well. */
const SECOND_MONITOR_AFTER_MS = 40;

/**
 * Connects to the VM's public monitor and, if it has not greeted within a few tens of milliseconds (QEMU serves
 * one client per monitor socket, so a held one never greets) or fails, to the second one as well; the first to
 * greet wins. Waiting for a held monitor to time out would spend the whole deadline; dialling both at once
 * would double the handshakes QEMU serves when both are free.
 */
export async function openKillswitchChannel(vmName: string, files: VmFiles, deps: ChannelDeps, timeoutMs = 2000): Promise<KillswitchChannel> {
  const first = connect(files.qmpSocket, timeoutMs, deps.logger);
  let firstGreeted = false;
  const settledFirst = first.then(
    () => {
      firstGreeted = true;
    },
    () => undefined,
  );
  const second = Promise.race([settledFirst, sleep(SECOND_MONITOR_AFTER_MS)]).then(() => {
    if (firstGreeted) throw new Error('the public monitor answered');
    return connect(files.monitorSocket, timeoutMs, deps.logger);
  });
  const attempts = [first, second];
  let client: QmpClient;
  try {
    client = await Promise.any(attempts);
  } catch (err) {
    const cause = err instanceof AggregateError ? (err.errors[0] as unknown) : err;
    throw new VigilError('VIGIL_QMP_CONNECT', `kill switch: VM '${vmName}': neither monitor socket answers`, { cause, context: { vm: vmName } });
  }
  // The loser, if it connects too, is closed at once so that it holds no monitor.
  for (const attempt of attempts) {
    void attempt.then(
      (other) => (other === client ? undefined : other.close()),
      () => undefined,
    );
  }
  return guardedChannel(vmName, files, client, deps, false, () => client.close());
}

/**
 * A channel over a monitor connection someone else holds open (vigild's supervisor): no connect and no greeting
 * inside the deadline, which is most of what a cut costs. Closing it leaves the connection to its owner.
 */
export function heldKillswitchChannel(vmName: string, files: VmFiles, client: QmpClient, deps: ChannelDeps): KillswitchChannel {
  return guardedChannel(vmName, files, client, deps, true, () => Promise.resolve());
}

function guardedChannel(vmName: string, files: VmFiles, client: QmpClient, deps: ChannelDeps, held: boolean, close: () => Promise<void>): KillswitchChannel {
  const qmp = new GuardedQmp(client, {
    guard: deps.guard,
    principal: KILLSWITCH_PRINCIPAL,
    vm: vmName,
    runtimeDir: files.runtimeDir,
    sinks: [deps.audit, new LineAuditSink(auditLinePath(deps.paths))],
    checkSchema: false,
  });
  return { qmp, held, close };
}
