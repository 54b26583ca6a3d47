/** The host agent's public surface: what vigild, the CLI and the library use. */
export { HostAgent, type HostAgentOptions, type HostAgentStatus } from './agent.js';
export { hostConfigSchema, defaultHostConfig, type HostConfig, type ActionSpec, type FimRule } from './config.js';
export { ActionRunner, HOST_PRINCIPAL, type HostActionSink, type HostAlarm, type HostEvent, type ActionOutcome, type AlarmSource } from './lockdown/actions.js';
export { vigilActionSink } from './lockdown/sink.js';
export { Fim, type FimCheckResult, type FimBaselineResult } from './fim/fim.js';
export { FIM_BITS, formatDiff, type FimDiff } from './fim/report.js';
export { FimWatcher, type FimWatchReport } from './fim/watch.js';
export { listListeners, PortWatcher, type Listener } from './ports/audit.js';
