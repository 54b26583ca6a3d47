/**
 * The typed client of vigild's API: every request signed (v1 by default, v2 when given an audience). The CLI,
 * tests and TypeScript users call the daemon through this.
 */
import { signRequestV1, signRequestV2 } from '../auth/sign-request.js';
import { VigilError, type ErrorCode, ERROR_CODES } from '../core/errors.js';

/** Client settings. */
export interface ClientOptions {
  /** e.g. http://127.0.0.1:3003 */
  url: string;
  privateKey: string;
  /** Sign with v2 for this audience (host:port as the server is configured); default v1. */
  audience?: string;
}

/** The JSON shape of a VM in API replies. */
export interface ApiVm {
  id: string;
  name: string;
  state: string;
  pid: number | null;
  cpus: number;
  memoryMiB: number;
  role?: string;
  [key: string]: unknown;
}

/** A signed HTTP client for vigild. */
export class VigilClient {
  /** v1 has no nonce: an identical request in the same second would be a replay, so repeats step the time back. */
  private readonly used = new Map<string, Set<number>>();

  constructor(private readonly opts: ClientOptions) {}

  private timestamp(path: string, body: string): number {
    const now = Math.floor(Date.now() / 1000);
    const key = `${path.split('?')[0]}\n${body}`;
    let seen = this.used.get(key);
    if (!seen) this.used.set(key, (seen = new Set()));
    let ts = now;
    while (seen.has(ts)) ts -= 1;
    seen.add(ts);
    // Timestamps older than the server's window can no longer be replayed: forget them.
    if (seen.size > 600) for (const t of seen) if (t < now - 600) seen.delete(t);
    return ts;
  }

  /** Sends a signed request; returns the parsed JSON reply or throws the server's error as a VigilError. */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const text = body === undefined ? '' : JSON.stringify(body);
    const auth = this.opts.audience
      ? signRequestV2(this.opts.privateKey, { method, audience: this.opts.audience, path, body: text }, Date.now() / 1000)
      : signRequestV1(this.opts.privateKey, { path, body: text }, this.timestamp(path, text));
    const res = await fetch(new URL(path, this.opts.url), {
      method,
      headers: { ...auth, ...(text ? { 'content-type': 'application/json' } : {}) },
      ...(text ? { body: text } : {}),
    });
    const reply = (res.headers.get('content-type') ?? '').includes('json') ? ((await res.json())) : await res.text();
    if (!res.ok) {
      const err = (reply as { error?: { code?: string; message?: string } }).error;
      const code = err?.code && err.code in ERROR_CODES ? (err.code as ErrorCode) : 'VIGIL_INTERNAL';
      throw new VigilError(code, err?.message ?? `HTTP ${res.status}`, { context: { status: res.status } });
    }
    return reply as T;
  }

  /** VMs the caller may see. */
  async listVms(): Promise<ApiVm[]> {
    return (await this.request<{ vms: ApiVm[] }>('GET', '/vms')).vms;
  }

  /** One VM. */
  getVm(id: string): Promise<ApiVm> {
    return this.request('GET', `/vms/${encodeURIComponent(id)}`);
  }

  /** Defines a VM from a definition object. */
  createVm(definition: Record<string, unknown>): Promise<ApiVm> {
    return this.request('POST', '/vms', definition);
  }

  /** start, stop, restart, pause, resume, reset. */
  lifecycle(id: string, verb: 'start' | 'stop' | 'restart' | 'pause' | 'resume' | 'reset', body?: { force?: boolean; timeoutSec?: number }): Promise<ApiVm> {
    return this.request('POST', `/vms/${encodeURIComponent(id)}/${verb}`, body);
  }

  /** A QMP command through the guard. */
  qmp(id: string, command: string, args?: Record<string, unknown>, options: { allowDangerous?: boolean; purpose?: string } = {}): Promise<{ return: unknown }> {
    return this.request('POST', `/vms/${encodeURIComponent(id)}/qmp`, { command, ...(args ? { arguments: args } : {}), ...options });
  }

  /** Grants a role on a VM. */
  grant(id: string, subject: string, role: string): Promise<unknown> {
    return this.request('PUT', `/vms/${encodeURIComponent(id)}/permissions`, { subject, role });
  }

  /** Deletes a VM. */
  deleteVm(id: string, options: { force?: boolean; purge?: boolean } = {}): Promise<unknown> {
    const q = new URLSearchParams(Object.entries(options).map(([k, v]): [string, string] => [k, String(v)])).toString();
    return this.request('DELETE', `/vms/${encodeURIComponent(id)}${q ? `?${q}` : ''}`);
  }
}
