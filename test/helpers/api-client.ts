/**
 * A test client that signs like the seed's Python client, with ethers (an independent implementation): the body
 * is sent in insertion order, data_str is json.dumps(data, sort_keys=True), X-Recovery-ID is v - 27.
 */
import { Wallet } from 'ethers';
import { pythonJsonDumps, type PyValue } from '../auth/python-json.js';

export interface Reply {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string } };
  text: string;
  headers: Headers;
}

export interface SignedOptions {
  /** Seconds; default now. */
  timestamp?: number;
  /** Sign this path instead of the one requested (a wrong-path attack). */
  signPath?: string;
  /** Send this body text instead of the signed one (a tampered body). */
  sendBody?: string;
  /** Reuse these exact headers (a replay). */
  headers?: Record<string, string>;
}

/** A Python-style signer for one key. */
export class PyClient {
  readonly wallet: Wallet;
  lastHeaders: Record<string, string> = {};
  /** v1 has no nonce: the same request twice in one second is a replay, so repeats step the timestamp back. */
  private readonly used = new Set<string>();

  constructor(
    readonly url: string,
    privateKey: string,
  ) {
    this.wallet = new Wallet(privateKey);
  }

  get address(): string {
    return this.wallet.address.toLowerCase();
  }

  /** The three seed-003 headers for `path` and `data` (undefined: no body). */
  async sign(path: string, data: PyValue | undefined, timestamp: number): Promise<Record<string, string>> {
    const dataStr = data === undefined ? '' : pythonJsonDumps(data, { sortKeys: true });
    const signature = await this.wallet.signMessage(`${path}:${timestamp}:${dataStr}`);
    const v = parseInt(signature.slice(-2), 16);
    return { 'X-Signature': signature.slice(2), 'X-Recovery-ID': (v - 27).toString(16), 'X-Timestamp': String(timestamp) };
  }

  /** Sends a signed request the way `requests.post(url, headers=..., json=data)` would. */
  async call(method: string, path: string, data?: PyValue, opts: SignedOptions = {}): Promise<Reply> {
    const signPath = opts.signPath ?? path.split('?')[0]!;
    let timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
    const key = (ts: number): string => `${ts}:${signPath}:${data === undefined ? '' : pythonJsonDumps(data, { sortKeys: true })}`;
    if (opts.timestamp === undefined) while (this.used.has(key(timestamp))) timestamp -= 1;
    this.used.add(key(timestamp));
    const headers = opts.headers ?? (await this.sign(signPath, data, timestamp));
    this.lastHeaders = headers;
    const body = opts.sendBody ?? (data === undefined ? undefined : pythonJsonDumps(data, { sortKeys: false }));
    const res = await fetch(this.url + path, {
      method,
      headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body } : {}),
    });
    const text = await res.text();
    let parsed: Reply['body'] = {};
    try {
      parsed = JSON.parse(text) as Reply['body'];
    } catch {
      // metrics are text
    }
    return { status: res.status, body: parsed, text, headers: res.headers };
  }
}
