/** The kill switch's states and the only transitions between them (one place, checked before persisting). */
import { VigilError } from '../core/errors.js';

/** armed -> engaging -> engaged -> releasing -> armed; engaged is the secure state every failure ends in. */
export type KillswitchState = 'armed' | 'engaging' | 'engaged' | 'releasing';

/** Every state. */
export const KILLSWITCH_STATES: readonly KillswitchState[] = ['armed', 'engaging', 'engaged', 'releasing'];

const NEXT: Readonly<Record<KillswitchState, readonly KillswitchState[]>> = {
  armed: ['engaging'],
  // engaging -> engaging: a resumed engage after a crash.
  engaging: ['engaged', 'engaging'],
  engaged: ['releasing', 'engaging'],
  // releasing -> engaging: a failed or interrupted release falls back to the secure state by engaging again.
  releasing: ['armed', 'engaging', 'engaged'],
};

/** Throws VIGIL_INTERNAL unless `from -> to` is a transition of the state machine. */
export function assertTransition(from: KillswitchState, to: KillswitchState): void {
  if (!NEXT[from].includes(to)) {
    throw new VigilError('VIGIL_INTERNAL', `kill switch cannot go from ${from} to ${to}`, { context: { from, to } });
  }
}
