/**
 * Vigil as a library: the same calls the CLI makes. Connect to a VM's monitor through the guard
 * (`openMonitor`), or use the QMP client, the guard and the audit log directly.
 */
export { ERROR_CODES, VigilError, isVigilError, toVigilError, type ErrorCode, type ErrorContext } from './core/errors.js';
export { resolvePaths, vmRuntimeDir, vmQmpSocket, storePath, ensurePrivateDir, type VigilPaths } from './core/paths.js';
export { loadConfig, parseConfigText, configSchema, type VigilConfig } from './core/config.js';
export { rootLogger, silentLogger, type Logger } from './core/log.js';

export { QmpClient, type QmpClientOptions, type QmpRunState, type ReconnectOptions } from './qmp/client.js';
export { parseQmpAddress, formatQmpAddress, type QmpAddress } from './qmp/address.js';
export { LineFramer, DEFAULT_MAX_LINE_BYTES } from './qmp/framer.js';
export type { EventStreamOptions } from './qmp/event-hub.js';
export type { QmpChannel, QmpEvent, QmpGreeting, QmpVersion, ExecuteOptions } from './qmp/types.js';
export * as qmpCommands from './qmp/commands.js';
export { deviceDel, type DeviceDelOptions, type DeviceDeleted } from './qmp/device-del.js';
export { QmpGuard, refusalError, type GuardContext, type GuardVerdict } from './qmp/guard.js';
export { DEFAULT_GUARD_RULES, QMP_CLASSES, type GuardRule, type QmpClass, type RuleCondition } from './qmp/guard-table.js';
export { GuardedQmp, type GuardedChannelOptions, type GuardedExecuteOptions } from './qmp/guarded.js';
export { formatAuditLine, type QmpAuditRecord, type QmpAuditSink, type AuditOutcome } from './qmp/audit-record.js';
export { LineAuditSink } from './qmp/audit-line.js';
export { redactArgs } from './qmp/redact.js';

export { openStore, type StoreDb } from './store/db.js';
export { AuditLog, GENESIS_HASH, type AuditFilter, type AuditInput, type AuditRow, type AuditVerification, type AuditProblem } from './store/audit-log.js';

export { Vigil, type VigilOptions } from './vigil.js';
export { VmService, waitForVm, type Vm, type VmStateEvent, type StopOptions, type ApplyResult } from './vm/service.js';
export { VmSupervisor, autostartOrder, restartDelay } from './vm/supervisor.js';
export { VM_STATES, canTransition, isActive, type VmState } from './vm/states.js';
export { vmDefinitionSchema, parseSizeMiB, type VmDefinition, type VmDefinitionInput } from './vm/definition/schema.js';
export { loadDefinitionFiles } from './vm/definition/load.js';
export { buildQemuArgv, postStartActions, withDefaultIds, resolveMacs, stableMac, resolveAccel, type ArgvContext } from './vm/argv/index.js';
export { importLibvirtDomain } from './vm/import/libvirt.js';
export { vmFiles, type VmFiles } from './vm/runtime.js';
export { startDaemon, type Daemon, type DaemonOptions } from './daemon/daemon.js';
export { openMonitor, localPrincipal, auditLinePath, type Monitor, type MonitorOptions } from './vm/monitor.js';
export { resolveTarget, isVmName, type MonitorTarget } from './vm/target.js';
export { VigilClient, type ClientOptions, type ApiVm } from './client/client.js';
export { buildApi, type Api, type ApiOptions } from './api/server.js';
export { signRequestV1, signRequestV2, newPrivateKey, addressOfPrivateKey } from './auth/sign-request.js';
export { ImageService, parseSize, type Image, type CreateImageOptions } from './images/service.js';
export { imagesDir } from './images/dir.js';
export { imageInfo, createImage, convertImage, type QemuImgInfo } from './images/qemu-img.js';
export { SnapshotService, type Snapshot, type SnapshotResult } from './vm/snapshot/service.js';
export { vmStats, type VmStats } from './vm/monitoring/stats.js';
export { HealthMonitor, type HealthStatus, type HealthOptions } from './vm/monitoring/health.js';
export { renderMetrics, setMetricsSource, METRICS_CONTENT_TYPE, type MetricsSource } from './vm/monitoring/metrics.js';
export { VERSION } from './version.js';
