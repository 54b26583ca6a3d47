/**
 * The signed REST API under load: `GET /vms` signed with v1 (seed 003) and v2, beside the same route handler
 * unsigned and `GET /health`, all against one in-process API; then v1 against a second API that recovers with
 * the pure-JavaScript backend. The load comes from a second process (autocannon, forked), so the load
 * generator never shares the server's event loop; on a 2-core machine the two processes get a core each.
 *
 * v1 has no nonce: a signed message is `{path}:{timestamp}:{data_str}`, so GET /vms (no body, no query in the
 * message) gives one message per key per second, and a message seen twice within 2 x window is a replay. The
 * load generator therefore pre-signs a pool of distinct requests: --keys registered principals x 500 distinct
 * timestamps (now-250 .. now+249, all inside the +-300 s window for the whole run). v2 requests are distinct by
 * their nonce. Signing uses libsecp256k1 in the load generator before each phase starts, never during it.
 *
 * Setup: a temp VIGIL_HOME, 20 VMs defined (64 MiB, TCG, not started), --keys principals each with Owner on
 * the same 10 VMs (so every `GET /vms` answers 10 VMs), the per-IP rate limit raised to 1e6/s.
 *
 * Per phase: successful requests/s, latency p50/p99 (per response, measured by the load generator), the
 * server's CPU per request (process.cpuUsage over the phase) and its event-loop utilisation.
 * `--profile` adds an unreported v1 phase under the V8 sampling profiler and prints the top frames by self time.
 *
 * Run: `npx tsx bench/api.ts [--seconds S] [--connections C] [--keys K] [--profile]`.
 */
import { fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type * as secp256k1Types from 'secp256k1';
import { bytesToHex } from '@noble/hashes/utils.js';
import { buildApi, type Api } from '../src/api/server.js';
import { vmRoutes } from '../src/api/routes/vms.js';
import { personalMessageHash } from '../src/auth/eip191.js';
import { jsRecoverer } from '../src/auth/recover.js';
import { addressOfPrivateKey } from '../src/auth/sign-request.js';
import { bodySha256, v2Message } from '../src/auth/v2.js';
import { v1Message } from '../src/auth/signature.js';
import { silentLogger } from '../src/core/log.js';
import { AccessRepo } from '../src/store/access-repo.js';
import { vmDefinitionSchema } from '../src/vm/definition/schema.js';
import { Vigil } from '../src/vigil.js';
import { freePort } from '../test/helpers/net.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const SECONDS = arg('seconds', 8);
const CONNECTIONS = arg('connections', 16);
const KEYS = arg('keys', 200);
/** Distinct v1 timestamps per key: now-250 .. now+249. */
const TIMESTAMPS = 500;
const VMS = 20;
const OWNED = 10;

/** Deterministic bench keys (the parent registers their addresses, the child signs with them). */
function benchKey(i: number): string {
  return `0x${createHash('sha256').update(`vigil-bench-key-${i}`).digest('hex')}`;
}

// ---------------------------------------------------------------------------------------------------------
// The load generator (child process).

type Auth = 'none' | 'v1' | 'v2';
type Secp256k1 = Pick<typeof secp256k1Types, 'ecdsaSign'>;

interface PhaseRequest {
  name: string;
  url: string;
  path: string;
  auth: Auth;
  audience?: string;
  seconds: number;
  connections: number;
  /** Signed requests to pre-generate (0 for unsigned phases). */
  pool: number;
}

interface PhaseResult {
  name: string;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  durationSec: number;
  p50: number;
  p99: number;
  signMs: number;
  poolUsed: number;
  poolSize: number;
  firstError?: string;
}

interface AutocannonResult {
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
}
interface AutocannonInstance {
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, ms: number) => void): void;
  on(event: 'done', listener: (result: AutocannonResult) => void): void;
}
interface AutocannonRequest {
  method: string;
  path: string;
  setupRequest?: (req: { headers?: Record<string, string> } & Record<string, unknown>) => Record<string, unknown>;
}
type Autocannon = (opts: { url: string; connections: number; duration: number; requests: AutocannonRequest[] }, cb?: (err: unknown) => void) => AutocannonInstance;

/** (server, key, timestamp) triples already sent: a second use would be a replay. */
const usedV1 = new Set<string>();

/**
 * Headers for up to `count` distinct v1 GET requests of `path` at `url`: keys x timestamps, interleaved so
 * keys rotate, skipping every (key, timestamp) an earlier phase sent to the same server. `ids[i]` names the
 * triple of `headers[i]`, for markV1Sent once the phase is over.
 */
function v1Pool(secp: Secp256k1, url: string, path: string, count: number, now: number): { headers: Record<string, string>[]; ids: string[] } {
  const keys = Array.from({ length: KEYS }, (_, i) => Buffer.from(benchKey(i).slice(2), 'hex'));
  const headers: Record<string, string>[] = [];
  const ids: string[] = [];
  for (let t = 0; headers.length < count && t < TIMESTAMPS; t++) {
    const ts = String(now - 250 + t);
    const hash = personalMessageHash(v1Message(path, ts, ''));
    for (let k = 0; k < keys.length && headers.length < count; k++) {
      const id = `${url}${path} ${k} ${ts}`;
      if (usedV1.has(id)) continue;
      const { signature, recid } = secp.ecdsaSign(hash, keys[k]!);
      headers.push({ 'X-Signature': `${bytesToHex(signature)}${(27 + recid).toString(16)}`, 'X-Recovery-ID': String(recid), 'X-Timestamp': ts });
      ids.push(id);
    }
  }
  return { headers, ids };
}

/** Headers for `count` v2 GET requests of `path` (fresh nonce each), keys rotating. */
function v2Pool(secp: Secp256k1, path: string, audience: string, count: number, now: number): Record<string, string>[] {
  const keys = Array.from({ length: KEYS }, (_, i) => ({ priv: Buffer.from(benchKey(i).slice(2), 'hex'), address: addressOfPrivateKey(benchKey(i)) }));
  const sha = bodySha256('');
  const ts = String(now);
  return Array.from({ length: count }, (_, i) => {
    const key = keys[i % keys.length]!;
    const nonce = randomBytes(16).toString('base64url');
    const text = v2Message({ method: 'GET', audience, path, query: '', timestamp: ts, nonce, bodySha256: sha });
    const { signature, recid } = secp.ecdsaSign(personalMessageHash(text), key.priv);
    return {
      'X-Auth-Version': '2',
      'X-Timestamp': ts,
      'X-Nonce': nonce,
      'X-Content-SHA256': sha,
      'X-Signer': key.address,
      'X-Signature': `0x${bytesToHex(signature)}${(27 + recid).toString(16)}`,
    };
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function runPhase(autocannon: Autocannon, secp: Secp256k1, req: PhaseRequest): Promise<PhaseResult> {
  const signStart = performance.now();
  const now = Math.floor(Date.now() / 1000);
  const v1 = req.auth === 'v1' ? v1Pool(secp, req.url, req.path, req.pool, now) : undefined;
  const pool = v1 ? v1.headers : req.auth === 'v2' ? v2Pool(secp, req.path, req.audience!, req.pool, now) : [];
  const signMs = performance.now() - signStart;
  let next = 0;
  const request: AutocannonRequest = { method: 'GET', path: req.path };
  if (pool.length > 0) {
    // Each built request takes the next signed header set; wrapping around would replay (counted as non-2xx).
    request.setupRequest = (r) => ({ ...r, headers: { ...r.headers, ...pool[next++ % pool.length]! } });
  }
  let latencies = new Float64Array(1 << 20);
  let n = 0;
  let firstError: string | undefined;
  process.send!({ type: 'started', name: req.name });
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    const instance = autocannon({ url: req.url, connections: req.connections, duration: req.seconds, requests: [request] }, (err) => {
      if (err) reject(err instanceof Error ? err : new Error(JSON.stringify(err)));
    });
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status < 200 || status > 299) {
        firstError ??= `HTTP ${status}`;
        return;
      }
      if (n === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[n++] = ms;
    });
    instance.on('done', resolve);
  });
  // Every header set built was sent (or is lost with its connection): none may be used again.
  if (v1) for (const id of v1.ids.slice(0, next)) usedV1.add(id);
  const sorted = latencies.subarray(0, n).sort();
  return {
    name: req.name,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    durationSec: result.duration,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    signMs,
    poolUsed: next,
    poolSize: pool.length,
    ...(firstError ? { firstError } : {}),
  };
}

async function child(): Promise<void> {
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  // Loaded here only: the server process must not carry the signing side of the binding.
  const secp = (await import('secp256k1')).default;
  process.on('message', (msg: PhaseRequest | { type: 'exit' }) => {
    if ('type' in msg) process.exit(0);
    runPhase(autocannon, secp, msg).then(
      (result) => process.send!({ type: 'result', result }),
      (err: unknown) => process.send!({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
    );
  });
  process.send!({ type: 'ready' });
}

// ---------------------------------------------------------------------------------------------------------
// The server side (this process).

interface Row {
  label: string;
  result: PhaseResult;
  cpuUsPerReq: number;
  elu: number;
}

type ChildMessage = { type: 'ready' } | { type: 'started'; name: string } | { type: 'result'; result: PhaseResult } | { type: 'error'; message: string };

class LoadGenerator {
  private readonly proc = fork(fileURLToPath(import.meta.url), ['--load-child', '--keys', String(KEYS)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  private listener: ((m: ChildMessage) => void) | undefined;

  constructor() {
    this.proc.on('message', (m: ChildMessage) => this.listener?.(m));
  }

  ready(): Promise<void> {
    return new Promise((resolve) => {
      this.listener = (m) => m.type === 'ready' && resolve();
    });
  }

  /** Runs one phase; `onStart` fires when the pool is signed and the load begins. */
  run(req: PhaseRequest, onStart: () => void): Promise<PhaseResult> {
    return new Promise((resolve, reject) => {
      this.listener = (m) => {
        if (m.type === 'started') onStart();
        else if (m.type === 'result') resolve(m.result);
        else if (m.type === 'error') reject(new Error(`load generator: ${m.message}`));
      };
      this.proc.send(req);
    });
  }

  close(): void {
    this.proc.send({ type: 'exit' });
  }
}

/** Runs a phase and measures the server's CPU and event-loop utilisation while the load runs. */
async function measure(gen: LoadGenerator, label: string, req: PhaseRequest): Promise<Row> {
  let cpu0 = process.cpuUsage();
  let elu0 = performance.eventLoopUtilization();
  const result = await gen.run(req, () => {
    cpu0 = process.cpuUsage();
    elu0 = performance.eventLoopUtilization();
  });
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const total = result.ok + result.non2xx;
  return { label, result, cpuUsPerReq: total > 0 ? (cpu.user + cpu.system) / total : NaN, elu };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** The top frames by self time of a V8 CPU profile, as `percent  function  file:line`. */
function topFrames(profile: { nodes: ProfileNode[] }, count: number): string[] {
  const self = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    total += hits;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^file:\/\//, '').replace(`${process.cwd()}/`, '');
    // tsx compiles each source file to one line, so only node_modules and node: frames have useful lines.
    const where = file === '' ? '' : file.startsWith('src/') ? file : `${file}:${lineNumber + 1}`;
    const key = `${functionName || '(anonymous)'}  ${where}`;
    self.set(key, (self.get(key) ?? 0) + hits);
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, hits]) => `${((100 * hits) / total).toFixed(1).padStart(5)} %  ${key}`);
}

/** Runs a phase (not reported) under the V8 sampling profiler; returns the top frames by self time. */
async function profiled(gen: LoadGenerator, req: PhaseRequest): Promise<{ lines: string[]; result: PhaseResult }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  let started: Promise<void> | undefined;
  const result = await gen.run(req, () => {
    started = session.post('Profiler.start');
  });
  if (!started) throw new Error(`phase ${req.name} never started`);
  await started;
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  return { lines: topFrames(profile as { nodes: ProfileNode[] }, 25), result };
}

async function server(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'vigil-bench-api-'));
  const vigil = Vigil.open({ home, logger: silentLogger, principal: 'bench' });
  const apis: Api[] = [];
  const gen = new LoadGenerator();
  try {
    const repo = new AccessRepo(vigil.db);
    for (let i = 0; i < VMS; i++) vigil.define(vmDefinitionSchema.parse({ name: `bench-${String(i).padStart(2, '0')}`, memory: '64M', accel: 'tcg' }));
    const addresses = Array.from({ length: KEYS }, (_, i) => addressOfPrivateKey(benchKey(i)));
    vigil.db.transaction(() => {
      for (const a of addresses) {
        repo.upsertPrincipal(a, null);
        for (let v = 0; v < OWNED; v++) repo.grant(`bench-${String(v).padStart(2, '0')}`, a, 'Owner', a);
      }
    })();

    // The API under test, with the same GET /vms handler also mounted unsigned (the caller resolved exactly as
    // the auth hook resolves it, minus the signature) for the baseline.
    const api = await buildApi({ vigil, logger: silentLogger, imagesDir: home, ratePerSec: 1e6 });
    apis.push(api);
    const listVms = vmRoutes().find((r) => r.method === 'GET' && r.url === '/vms')!;
    api.app.get('/bench/vms-unsigned', (req: FastifyRequest, reply: FastifyReply) =>
      listVms.handler({ req, reply, sessionToken: undefined, caller: api.deps.access.caller(addresses[0]!), body: undefined, params: {}, query: {}, deps: api.deps }),
    );
    const url = await api.app.listen({ host: '127.0.0.1', port: 0 });
    // v2 needs an audience (host:port): a second instance of the API on the same store, on a port picked first.
    const portV2 = await freePort();
    const audience = `127.0.0.1:${portV2}`;
    const apiV2 = await buildApi({ vigil, logger: silentLogger, imagesDir: home, ratePerSec: 1e6, audience });
    apis.push(apiV2);
    const urlV2 = await apiV2.app.listen({ host: '127.0.0.1', port: portV2 });
    const apiJs = await buildApi({ vigil, logger: silentLogger, imagesDir: home, ratePerSec: 1e6, recoverer: jsRecoverer() });
    apis.push(apiJs);
    const urlJs = await apiJs.app.listen({ host: '127.0.0.1', port: 0 });

    await gen.ready();
    const base = { seconds: SECONDS, connections: CONNECTIONS };
    const pool = (rate: number): number => Math.min(KEYS * TIMESTAMPS, Math.ceil(rate * SECONDS * 1.5));
    console.error(`API at ${url} (v1, native ${api.recoverer.name}), ${urlV2} (v2), ${urlJs} (v1, pure JS); ${KEYS} keys, ${VMS} VMs, ${CONNECTIONS} connections, ${SECONDS} s per phase`);

    const loadStart = loadavg().map((l) => l.toFixed(2)).join(' ');
    // Warm-up (not reported): JIT the unsigned and the signed paths.
    await measure(gen, 'warm-up unsigned', { ...base, seconds: 2, name: 'warm-up', url, path: '/bench/vms-unsigned', auth: 'none', pool: 0 });
    await measure(gen, 'warm-up v1', { ...base, seconds: 2, name: 'warm-up', url, path: '/vms', auth: 'v1', pool: 20000 });
    await measure(gen, 'warm-up v1 teams', { ...base, seconds: 2, name: 'warm-up', url, path: '/teams', auth: 'v1', pool: 20000 });
    await measure(gen, 'warm-up v2', { ...base, seconds: 2, name: 'warm-up', url: urlV2, path: '/vms', auth: 'v2', audience, pool: 20000 });

    const rows: Row[] = [];
    const phases: [string, PhaseRequest][] = [
      ['`GET /health` (unsigned, trivial)', { ...base, name: 'health', url, path: '/health', auth: 'none', pool: 0 }],
      ['`GET /vms` handler, unsigned (same route code, no signature)', { ...base, name: 'unsigned', url, path: '/bench/vms-unsigned', auth: 'none', pool: 0 }],
      ['`GET /vms` signed v1, native recovery', { ...base, name: 'v1', url, path: '/vms', auth: 'v1', pool: pool(6000) }],
      ['`GET /teams` signed v1, native recovery (a signed route with a trivial handler)', { ...base, name: 'v1-teams', url, path: '/teams', auth: 'v1', pool: pool(8000) }],
      ['`GET /vms` signed v2, native recovery', { ...base, name: 'v2', url: urlV2, path: '/vms', auth: 'v2', audience, pool: pool(6000) }],
      ['`GET /vms` signed v1, pure-JS recovery', { ...base, seconds: Math.min(SECONDS, 5), name: 'v1-js', url: urlJs, path: '/vms', auth: 'v1', pool: 10000 }],
    ];
    for (const [label, req] of phases) {
      const row = await measure(gen, label, req);
      rows.push(row);
      const r = row.result;
      console.error(
        `${req.name}: ${r.ok} ok, ${r.non2xx} non-2xx${r.firstError ? ` (first: ${r.firstError})` : ''}, ${r.errors} errors in ${r.durationSec.toFixed(1)} s; pool ${r.poolUsed}/${r.poolSize} signed in ${Math.round(r.signMs)} ms${r.poolUsed > r.poolSize ? ' (POOL EXHAUSTED: the rest were replays; use more --keys)' : ''}`,
      );
    }

    const profiles: [string, string[]][] = [];
    if (process.argv.includes('--profile')) {
      for (const [label, req] of [
        ['`GET /vms` handler, unsigned', { ...base, name: 'profile-unsigned', url, path: '/bench/vms-unsigned', auth: 'none', pool: 0 }],
        ['`GET /vms` signed v1', { ...base, name: 'profile-v1', url, path: '/vms', auth: 'v1', pool: pool(6000) }],
      ] as const) {
        const { lines, result } = await profiled(gen, req);
        profiles.push([label, lines]);
        console.error(`${req.name}: ${Math.round(result.ok / result.durationSec)} req/s under the profiler, ${result.non2xx} non-2xx`);
      }
    }

    const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');
    console.log(`Load average before the first phase: ${loadStart}; after the last: ${load()} (other processes compete for the cores)\n`);
    console.log(`Node ${process.version}, ${CONNECTIONS} connections, ${SECONDS} s per phase (pure JS: ${Math.min(SECONDS, 5)} s), ${KEYS} keys, ${VMS} VMs (${OWNED} visible per key)\n`);
    console.log('| request | requests/s | p50 ms | p99 ms | server CPU µs/req | server event loop busy | non-2xx |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const { label, result: r, cpuUsPerReq, elu } of rows) {
      console.log(
        `| ${label} | ${Math.round(r.ok / r.durationSec).toLocaleString('en-US')} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${Math.round(cpuUsPerReq)} | ${(elu * 100).toFixed(0)} % | ${r.non2xx + r.errors} |`,
      );
    }
    for (const [label, lines] of profiles) {
      console.log(`\nTop frames by self time, server process, ${label} under load (V8 sampling profiler, 100 µs):\n`);
      console.log('```');
      for (const l of lines) console.log(l);
      console.log('```');
    }
  } finally {
    gen.close();
    for (const a of apis) await a.app.close();
    vigil.close();
    rmSync(home, { recursive: true, force: true });
  }
}

if (process.argv.includes('--load-child')) await child();
else await server();
