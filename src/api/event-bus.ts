/** Events for GET /events subscribers: VM state changes, QMP events, audit entries and kill switch states, each tagged with its VM. */

/** One event on the bus. */
export interface BusEvent {
  type: 'vm-state' | 'qmp-event' | 'audit' | 'killswitch' | 'host';
  /** The VM it concerns ('' for host-wide events, seen only by host admins and auditors). */
  vm: string;
  time: string;
  data: Record<string, unknown>;
}

/** A tiny fan-out; listeners that throw are dropped from nothing and never break the publisher. */
export class EventBus {
  private readonly listeners = new Set<(e: BusEvent) => void>();

  /** Subscribes; returns the unsubscribe function. */
  subscribe(listener: (e: BusEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Delivers an event to every subscriber. */
  publish(event: BusEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch {
        // a broken subscriber must not stop the others
      }
    }
  }
}
