/**
 * Routes QMP events to subscribers: callbacks, bounded async iterators and one-shot waiters. Kept apart from
 * the client so that replies and events never share a code path.
 */
import { VigilError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { QmpEvent } from './types.js';

/** Options of an event stream. */
export interface EventStreamOptions {
  /** Only these event names (default: all). */
  names?: readonly string[];
  /** Ends the stream when aborted. */
  signal?: AbortSignal;
  /** Queue bound; past it the oldest events are dropped with a log line (default 1024). */
  limit?: number;
}

interface Subscriber {
  names: ReadonlySet<string> | undefined;
  listener: (event: QmpEvent) => void;
}

/** Fan-out of events with a guaranteed end: every stream finishes and every waiter settles. */
export class EventHub {
  private readonly subscribers = new Set<Subscriber>();
  private readonly enders = new Set<() => void>();
  private readonly waiters = new Set<(err: VigilError) => void>();

  constructor(private readonly log: Logger) {}

  /** Calls `listener` for each event (or only those named); returns the unsubscribe function. */
  subscribe(listener: (event: QmpEvent) => void, names?: readonly string[]): () => void {
    const sub: Subscriber = { names: names ? new Set(names) : undefined, listener };
    this.subscribers.add(sub);
    return () => this.subscribers.delete(sub);
  }

  /** Delivers one event to every matching subscriber; a throwing listener is logged, not propagated. */
  dispatch(event: QmpEvent): void {
    event.data ??= {};
    for (const sub of [...this.subscribers]) {
      if (sub.names && !sub.names.has(event.event)) continue;
      try {
        sub.listener(event);
      } catch (err) {
        this.log.error({ event: event.event, err: String(err) }, 'QMP event listener threw');
      }
    }
  }

  /** An async iterator over events with a bounded queue. */
  stream(options: EventStreamOptions = {}): AsyncIterableIterator<QmpEvent> {
    const limit = options.limit ?? 1024;
    const queue: QmpEvent[] = [];
    // Every pending next() waits here: overlapping calls each get their own wake-up, none is lost.
    const sleepers: (() => void)[] = [];
    const wake = (): void => {
      for (const w of sleepers.splice(0)) w();
    };
    let done = false;
    let dropped = 0;
    const finish = (): void => {
      done = true;
      unsubscribe();
      this.enders.delete(finish);
      options.signal?.removeEventListener('abort', finish);
      wake();
    };
    const unsubscribe = this.subscribe((event) => {
      if (queue.length >= limit) {
        queue.shift();
        dropped += 1;
        if (dropped === 1 || dropped % 1000 === 0) this.log.warn({ dropped, limit }, 'QMP event stream is not read fast enough; dropping oldest events');
      }
      queue.push(event);
      wake();
    }, options.names);
    this.enders.add(finish);
    if (options.signal?.aborted) finish();
    else options.signal?.addEventListener('abort', finish, { once: true });

    const iterator: AsyncIterableIterator<QmpEvent> = {
      next: async (): Promise<IteratorResult<QmpEvent>> => {
        while (queue.length === 0 && !done) await new Promise<void>((resolve) => sleepers.push(resolve));
        const event = queue.shift();
        return event ? { value: event, done: false } : { value: undefined, done: true };
      },
      return: (): Promise<IteratorResult<QmpEvent>> => {
        finish();
        queue.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /** Resolves with the first matching event; rejects on timeout, abort, or `rejectWaiters`. */
  waitFor<D>(
    name: string,
    predicate: ((event: QmpEvent<D>) => boolean) | undefined,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<QmpEvent<D>> {
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        unsubscribe();
        this.waiters.delete(fail);
        signal?.removeEventListener('abort', onAbort);
      };
      const fail = (err: VigilError): void => {
        cleanup();
        reject(err);
      };
      const onAbort = (): void => fail(new VigilError('VIGIL_ABORTED', `wait for QMP event ${name} was aborted`, { context: { event: name } }));
      const timer = setTimeout(
        () =>
          fail(
            new VigilError('VIGIL_QMP_TIMEOUT', `QMP event ${name} did not arrive within ${timeoutMs} ms`, {
              context: { event: name, timeoutMs },
            }),
          ),
        timeoutMs,
      );
      const unsubscribe = this.subscribe(
        (event) => {
          const typed = event as unknown as QmpEvent<D>;
          let matches: boolean;
          try {
            matches = predicate ? predicate(typed) : true;
          } catch (err) {
            fail(new VigilError('VIGIL_INTERNAL', `predicate for QMP event ${name} threw`, { cause: err }));
            return;
          }
          if (matches) {
            cleanup();
            resolve(typed);
          }
        },
        [name],
      );
      this.waiters.add(fail);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Rejects every pending `waitFor` (the connection dropped: the awaited event can no longer come). */
  rejectWaiters(err: VigilError): void {
    for (const fail of [...this.waiters]) fail(err);
  }

  /** Ends every stream (after queued events are read) and rejects every waiter. */
  end(): void {
    for (const finish of [...this.enders]) finish();
  }
}
