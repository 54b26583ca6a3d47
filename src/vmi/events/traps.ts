/** Armed breakpoints and watchpoints, reference-counted: subscriptions that share a trap share one Z packet. */
import type { ZType } from '../../gdb/client.js';
import type { GdbClient } from '../../gdb/client.js';
import { VigilError } from '../../core/errors.js';
import type { Trap } from './types.js';

interface Armed {
  z: ZType;
  address: bigint;
  kind: number;
  refs: number;
  /** False while lifted for a step over it. */
  inserted: boolean;
}

/** The Z type and kind of a trap (x86: kind 1 for breakpoints, the length for watchpoints). */
export function zOf(trap: Trap): { z: ZType; kind: number } {
  if (trap.type === 'breakpoint') return { z: trap.hardware ? 'hardware' : 'software', kind: 1 };
  if (!Number.isInteger(trap.length) || trap.length <= 0) {
    throw new VigilError('VIGIL_INVALID_INPUT', `watchpoint length ${trap.length} must be a positive integer number of bytes`, { context: { field: 'length', value: trap.length } });
  }
  return { z: trap.access, kind: trap.length };
}

/** The traps inserted in the target. */
export class TrapTable {
  private readonly armed = new Map<string, Armed>();

  constructor(private readonly gdb: GdbClient) {}

  /** Inserts the trap (once for any number of users). The guest must be paused. */
  async add(trap: Trap): Promise<void> {
    const { z, kind } = zOf(trap);
    const key = `${z}:${trap.address}:${kind}`;
    const a = this.armed.get(key);
    if (a !== undefined) {
      a.refs++;
      return;
    }
    await this.gdb.insertBreakpoint(z, trap.address, kind);
    this.armed.set(key, { z, address: trap.address, kind, refs: 1, inserted: true });
  }

  /** Drops one user of the trap; removes it from the target with the last. The guest must be paused. */
  async remove(trap: Trap): Promise<void> {
    const { z, kind } = zOf(trap);
    const key = `${z}:${trap.address}:${kind}`;
    const a = this.armed.get(key);
    if (a === undefined) return;
    if (--a.refs > 0) return;
    this.armed.delete(key);
    if (a.inserted) await this.gdb.removeBreakpoint(z, a.address, kind);
  }

  /** True when a breakpoint is armed at this address. */
  hasBreakpointAt(address: bigint): boolean {
    for (const a of this.armed.values()) if ((a.z === 'software' || a.z === 'hardware') && a.address === address) return true;
    return false;
  }

  /** Takes out every trap that fires at `address` (breakpoints there, or watchpoints covering it) so one step can pass it. */
  async lift(address: bigint, kind: 'breakpoint' | 'watchpoint'): Promise<Armed[]> {
    const lifted: Armed[] = [];
    for (const a of this.armed.values()) {
      const isBp = a.z === 'software' || a.z === 'hardware';
      const hits = kind === 'breakpoint' ? isBp && a.address === address : !isBp && address >= a.address && address < a.address + BigInt(a.kind);
      if (hits && a.inserted) {
        await this.gdb.removeBreakpoint(a.z, a.address, a.kind);
        a.inserted = false;
        lifted.push(a);
      }
    }
    return lifted;
  }

  /** Puts back what lift() took out (unless it was removed meanwhile). */
  async rearm(lifted: readonly Armed[]): Promise<void> {
    for (const a of lifted) {
      if (a.inserted || a.refs <= 0) continue;
      await this.gdb.insertBreakpoint(a.z, a.address, a.kind);
      a.inserted = true;
    }
  }

  /** Removes everything (best effort; detaching makes QEMU drop them anyway). */
  async clear(): Promise<void> {
    for (const a of this.armed.values()) if (a.inserted) await this.gdb.removeBreakpoint(a.z, a.address, a.kind).catch(() => undefined);
    this.armed.clear();
  }
}
