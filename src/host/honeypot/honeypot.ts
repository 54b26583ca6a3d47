/**
 * A TCP honeypot: listens where no service should be, records each connection (peer, time, the first bytes
 * within a short read timeout, bounded), optionally sends a banner, then closes. Nothing the peer sends is
 * interpreted or executed. Connections beyond the per-peer rate are dropped at once and only counted, so a flood
 * cannot turn the trap into a load on the store or the webhook.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { VigilError } from '../../core/errors.js';

/** One recorded connection. */
export interface HoneypotHit {
  honeypot: string;
  time: string;
  peer: { address: string; port: number; family: string };
  local: { address: string; port: number };
  /** The peer's first bytes (up to maxBytes) as hex, and as text with non-printable bytes escaped. */
  firstBytesHex: string;
  firstBytesText: string;
  bytes: number;
  /** Connections from this peer dropped unrecorded since its last recorded one. */
  droppedBefore: number;
}

/** A connection as soon as it is accepted (before any byte is read): actions fire on this. */
export interface HoneypotConnection {
  honeypot: string;
  time: string;
  peer: HoneypotHit['peer'];
  local: HoneypotHit['local'];
  droppedBefore: number;
}

/** What a honeypot reports: the connection at once, the captured bytes when the read ends. */
export interface HoneypotHandlers {
  onConnect(conn: HoneypotConnection): void;
  onCapture(hit: HoneypotHit): void;
}

/** One honeypot's settings. */
export interface HoneypotOptions {
  name: string;
  host: string;
  port: number;
  banner?: string | undefined;
  maxBytes: number;
  readTimeoutMs: number;
  perPeerPerMinute: number;
}

/** Escapes everything outside printable ASCII, so captured bytes are safe to print in a terminal or a log. */
export function printable(buf: Buffer): string {
  let out = '';
  for (const b of buf) {
    if (b >= 0x20 && b < 0x7f && b !== 0x5c) out += String.fromCharCode(b);
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x5c) out += '\\\\';
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** A listening honeypot. */
export class Honeypot {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly peers = new Map<string, { windowStart: number; count: number; dropped: number }>();

  constructor(
    readonly options: HoneypotOptions,
    private readonly handlers: HoneypotHandlers,
  ) {}

  /** The bound address (port 0 resolved), once listening. */
  address(): AddressInfo | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a : undefined;
  }

  /** Starts listening; rejects with VIGIL_INVALID_INPUT naming the honeypot when the address cannot be bound. */
  async start(): Promise<AddressInfo> {
    const server = createServer({ pauseOnConnect: false, noDelay: true }, (socket) => this.accept(socket));
    server.maxConnections = 256;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new VigilError('VIGIL_INVALID_INPUT', `honeypot ${this.options.name}: cannot listen on ${this.options.host}:${this.options.port} (${err.code ?? err.message}); pick a free port or address in host.honeypots`, {
            cause: err,
            context: { field: 'host.honeypots', honeypot: this.options.name },
          }),
        ),
      );
      server.listen({ host: this.options.host, port: this.options.port, exclusive: true }, () => resolve());
    });
    server.on('error', () => undefined);
    this.server = server;
    return this.address()!;
  }

  /** Stops listening and closes open connections. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private admit(address: string): { ok: boolean; dropped: number } {
    const now = Date.now();
    let p = this.peers.get(address);
    if (!p || now - p.windowStart >= 60_000) {
      p = { windowStart: now, count: 0, dropped: p?.dropped ?? 0 };
      this.peers.set(address, p);
      if (this.peers.size > 10_000) this.peers.delete(this.peers.keys().next().value!);
    }
    if (p.count >= this.options.perPeerPerMinute) {
      p.dropped += 1;
      return { ok: false, dropped: p.dropped };
    }
    p.count += 1;
    const dropped = p.dropped;
    p.dropped = 0;
    return { ok: true, dropped };
  }

  private accept(socket: Socket): void {
    const time = new Date().toISOString();
    const peer = { address: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0, family: socket.remoteFamily ?? '?' };
    const admit = this.admit(peer.address);
    if (!admit.ok) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    const local = { address: socket.localAddress ?? '?', port: socket.localPort ?? 0 };
    try {
      this.handlers.onConnect({ honeypot: this.options.name, time, peer, local, droppedBefore: admit.dropped });
    } catch {
      // a handler's failure must not leave the socket open
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.destroy();
      this.sockets.delete(socket);
      const first = Buffer.concat(chunks).subarray(0, this.options.maxBytes);
      this.handlers.onCapture({
        honeypot: this.options.name,
        time,
        peer,
        local,
        firstBytesHex: first.toString('hex'),
        firstBytesText: printable(first),
        bytes: first.length,
        droppedBefore: admit.dropped,
      });
    };
    const timer = setTimeout(finish, this.options.readTimeoutMs);
    socket.on('error', finish);
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      size += d.length;
      if (size >= this.options.maxBytes) finish();
    });
    if (this.options.maxBytes === 0) setImmediate(finish);
    if (this.options.banner !== undefined) socket.write(this.options.banner.replace(/\\r\\n|\\n/g, (m) => (m === '\\n' ? '\n' : '\r\n')));
  }
}
