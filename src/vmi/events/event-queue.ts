/**
 * The queue behind one async iterator of events. Unbounded, so nothing is ever dropped; instead of dropping, a
 * queue past its high-water mark makes the event loop keep the guest paused until the consumer catches up.
 */

/** An async iterator fed by push(); ends on end() or when its signal aborts. */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  private items: T[] = [];
  private head = 0;
  private waiter: ((r: IteratorResult<T>) => void) | undefined;
  private drainWaiters: (() => void)[] = [];
  private ended = false;
  readonly highWaterMark: number;
  private readonly onEnd: () => void;

  constructor(highWaterMark: number, onEnd: () => void, signal?: AbortSignal) {
    this.highWaterMark = highWaterMark;
    this.onEnd = onEnd;
    signal?.addEventListener('abort', () => this.end(), { once: true });
  }

  /** Items waiting for the consumer. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** True once end() ran. */
  get closed(): boolean {
    return this.ended;
  }

  /** Adds an item (ignored after end). */
  push(item: T): void {
    if (this.ended) return;
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w({ value: item, done: false });
    } else this.items.push(item);
  }

  /** Resolves once the queue holds at most half its high-water mark (or has ended). */
  drained(): Promise<void> {
    if (this.ended || this.length <= this.highWaterMark / 2) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Ends the iterator: the consumer sees the queued items, then done. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd();
    if (this.length === 0) this.waiter?.({ value: undefined, done: true });
    this.waiter = undefined;
    this.releaseDrain();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.length > 0) {
      const value = this.items[this.head++] as T;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      if (this.length <= this.highWaterMark / 2) this.releaseDrain();
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiter = resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.items = [];
    this.head = 0;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  private releaseDrain(): void {
    const ws = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of ws) w();
  }
}
