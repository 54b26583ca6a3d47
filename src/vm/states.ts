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
  starting: ['running', 'paused', 'stopped', 'crashed', 'defined'],
  running: ['paused', 'stopping', 'stopped', 'crashed', 'running'],
  paused: ['running', 'stopping', 'stopped', 'crashed', 'paused'],
  stopping: ['stopped', 'crashed', 'running', 'paused'],
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
