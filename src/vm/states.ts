/**
 * The VM life cycle. Every transition is checked here and persisted before it is acted on, so a crash at any
 * point leaves a state that startup reconciliation can resolve.
 */

/** A VM's state. */
export type VmState = 'defined' | 'starting' | 'running' | 'paused' | 'stopping' | 'stopped' | 'crashed';

/** Every state, for validation and docs. */
export const VM_STATES: readonly VmState[] = ['defined', 'starting', 'running', 'paused', 'stopping', 'stopped', 'crashed'];

const ALLOWED: Record<VmState, readonly VmState[]> = {
  defined: ['starting'],
  // A start interrupted half-way (the CLI killed) may be stopped, or adopted as running/paused.
  starting: ['running', 'paused', 'stopping', 'stopped', 'crashed', 'defined'],
  running: ['paused', 'stopping', 'stopped', 'crashed', 'running'],
  paused: ['running', 'stopping', 'stopped', 'crashed', 'paused'],
  // stopping -> stopping: a stop interrupted half-way (Ctrl-C) can be run again.
  stopping: ['stopping', 'stopped', 'crashed', 'running', 'paused'],
  stopped: ['starting'],
  crashed: ['starting', 'stopped'],
};

/** True when the life cycle allows moving from `from` to `to`. */
export function canTransition(from: VmState, to: VmState): boolean {
  return ALLOWED[from].includes(to);
}

/** States in which a QEMU process is expected to exist. */
export function isActive(state: VmState): boolean {
  return state === 'starting' || state === 'running' || state === 'paused' || state === 'stopping';
}
