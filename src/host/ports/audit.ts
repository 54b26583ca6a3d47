/**
 * The listening-port audit: every listening socket with its owner, compared with an allowlist; and a watcher
 * that reports listeners that were not there before.
 */
import { VigilError } from '../../core/errors.js';
import { socketOwners, userNames, type SocketOwner } from './owners.js';
import { readListeningSockets, type ProcNetSocket } from './procnet.js';

/** One listening socket with its owner and the allowlist's verdict. */
export interface Listener extends ProcNetSocket {
  user: string;
  processes: SocketOwner[];
  allowed: boolean;
  /** The allowlist entry that allowed it. */
  allowedBy?: string;
}

/** A compiled allowlist entry. */
interface AllowEntry {
  text: string;
  matches(l: ProcNetSocket, processes: readonly SocketOwner[]): boolean;
}

const WILDCARD = new Set(['*', '0.0.0.0', '::']);

/**
 * Compiles allowlist entries: `tcp:22` (any address), `udp:53`, `tcp:127.0.0.1:3003`, `tcp:[::1]:3003`,
 * `tcp:*:8080` (bound to every address), `name:sshd` (any socket of a process with that name).
 */
export function compileAllowlist(entries: readonly string[], field = 'host.ports.allow'): AllowEntry[] {
  return entries.map((text, i) => {
    const name = /^name:(.+)$/.exec(text);
    if (name) return { text, matches: (_l, procs) => procs.some((p) => p.name === name[1]) };
    const m = /^(tcp|udp):(?:(\[[0-9a-fA-F:.]+\]|[0-9.]+|\*):)?(\d{1,5})$/.exec(text);
    if (!m || Number(m[3]) > 65535) {
      throw new VigilError('VIGIL_INVALID_INPUT', `${field}.${i}: '${text}' is not an allowlist entry; write tcp:22, udp:53, tcp:127.0.0.1:3003, tcp:[::1]:3003, tcp:*:8080 or name:sshd`, {
        context: { field: `${field}.${i}` },
      });
    }
    const proto = m[1];
    const port = Number(m[3]);
    const addr = m[2]?.replace(/^\[|\]$/g, '').toLowerCase();
    return {
      text,
      matches: (l) => l.proto === proto && l.port === port && (addr === undefined || l.address === addr || (addr === '*' && WILDCARD.has(l.address))),
    };
  });
}

/** Every listening socket now, with owners and the allowlist's verdict. */
export async function listListeners(allow: readonly string[] = [], procRoot = '/proc'): Promise<Listener[]> {
  const rules = compileAllowlist(allow);
  const sockets = await readListeningSockets(procRoot);
  const [owners, names] = await Promise.all([socketOwners(new Set(sockets.map((s) => s.inode)), procRoot), userNames()]);
  const out = sockets.map((s): Listener => {
    const processes = owners.get(s.inode) ?? [];
    const by = rules.find((r) => r.matches(s, processes));
    return { ...s, user: names.get(s.uid) ?? String(s.uid), processes, allowed: by !== undefined, ...(by ? { allowedBy: by.text } : {}) };
  });
  return out.sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port || a.family - b.family || a.address.localeCompare(b.address));
}

/** A listener's identity across polls (a re-bound socket with a new inode counts as new). */
export function listenerKey(l: ProcNetSocket): string {
  return `${l.proto}${l.family}:${l.address}:${l.port}:${l.inode}`;
}

/** Polls the listeners and reports the ones not seen at the previous poll. */
export class PortWatcher {
  private known = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly options: { allow: () => readonly string[]; intervalMs: number; procRoot?: string },
    private readonly onNew: (listeners: Listener[]) => void,
  ) {}

  /** Takes the current listeners as known, then polls; returns them. */
  async start(): Promise<Listener[]> {
    const now = await listListeners(this.options.allow(), this.options.procRoot);
    this.known = new Set(now.map(listenerKey));
    this.timer = setInterval(() => void this.poll(), this.options.intervalMs);
    this.timer.unref();
    return now;
  }

  /** Stops polling. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Polls once now; new listeners are reported (allowed or not: the caller decides what alarms). */
  async poll(): Promise<Listener[]> {
    if (this.polling) return [];
    this.polling = true;
    try {
      const now = await listListeners(this.options.allow(), this.options.procRoot);
      const fresh = now.filter((l) => !this.known.has(listenerKey(l)));
      this.known = new Set(now.map(listenerKey));
      if (fresh.length > 0) this.onNew(fresh);
      return fresh;
    } finally {
      this.polling = false;
    }
  }
}
