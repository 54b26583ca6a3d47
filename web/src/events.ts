/** The /events WebSocket (authenticated by the session cookie), shared by every page, reconnecting with backoff. */

/** One event as the API sends it. */
export interface VigilEvent {
  type: string;
  vm: string;
  time: string;
  data: Record<string, unknown>;
}

type Listener = (e: VigilEvent) => void;

/** Subscribes pages to the live event stream; shows the connection state in `indicator`. */
export class EventStream {
  private ws: WebSocket | undefined;
  private readonly listeners = new Set<Listener>();
  private retryMs = 500;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly indicator: (state: 'live' | 'connecting' | 'offline') => void) {}

  /** Opens the socket (again). */
  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Closes it for good (sign-out). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close();
    this.ws = undefined;
    this.indicator('offline');
  }

  /** Calls `fn` for every event until the returned function is called. */
  on(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private connect(): void {
    this.indicator('connecting');
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/events`);
    this.ws = ws;
    ws.onmessage = (m: MessageEvent<string>) => {
      let e: VigilEvent;
      try {
        e = JSON.parse(m.data) as VigilEvent;
      } catch {
        return;
      }
      if (e.type === 'hello') {
        this.retryMs = 500;
        this.indicator('live');
      }
      for (const l of [...this.listeners]) l(e);
    };
    ws.onclose = () => {
      if (this.ws !== ws || this.stopped) return;
      this.indicator('offline');
      this.timer = setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 15000);
    };
  }
}
