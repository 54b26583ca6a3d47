/**
 * Request-signature costs, in process (no HTTP): secp256k1 recoveries/s with libsecp256k1 (native) and
 * @noble/curves (pure JS); full v1 verification/s (headers, window, Python-style canonical JSON of the body,
 * keccak, recovery, replay cache) and v2 verification/s, each for a small and a ~2.5 KB body; canonicalisation
 * alone; keccak-256 alone (pure JS, the per-byte cost v1 pays on the whole message).
 * Each figure is the median of several timed rounds after a warm-up. Prints a markdown table.
 * Run: `npx tsx bench/auth.ts [--seconds S] [--rounds N]`.
 */
import { hexToBytes } from '@noble/hashes/utils.js';
import { pythonJsonDumpsSorted } from '../src/auth/canonical-json.js';
import { personalMessageHash } from '../src/auth/eip191.js';
import { jsRecoverer, loadRecoverer, type Recoverer } from '../src/auth/recover.js';
import { ReplayCache } from '../src/auth/replay-cache.js';
import { addressOfPrivateKey, signRequestV1, signRequestV2 } from '../src/auth/sign-request.js';
import { verifyV1 } from '../src/auth/signature.js';
import type { SignedRequest } from '../src/auth/types.js';
import { verifyV2 } from '../src/auth/v2.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const SECONDS = arg('seconds', 1);
const ROUNDS = arg('rounds', 5);
const KEY = '0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318';
const ADDRESS = addressOfPrivateKey(KEY);
const T0 = 1_700_000_000;
const POOL = 2000;

/** Calls `op(i)` for about SECONDS per round; returns the median rate in operations per second. */
function rate(op: (i: number) => void): number {
  for (let i = 0; i < 200; i++) op(i);
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round(SECONDS * 1e9));
    let now = start;
    while (now < deadline) {
      for (let k = 0; k < 50; k++) op(n++);
      now = process.hrtime.bigint();
    }
    rates.push(n / (Number(now - start) / 1e9));
  }
  return rates.sort((a, b) => a - b)[Math.floor(rates.length / 2)]!;
}

const smallBody = (i: number): string => `{"name": "vm-${i}", "formfile": "NAME vm-${i}\\nVCPU 1"}`;
function largeBody(i: number): string {
  const disks = Array.from({ length: 12 }, (_, d) => `{"path": "/var/lib/vigil/images/vm-${i}-disk${d}.qcow2", "format": "qcow2", "bus": "virtio", "cache": "none", "size": ${d * 1073741824}}`);
  const nics = Array.from({ length: 8 }, (_, n) => `{"mac": "52:54:00:12:34:${(n + 16).toString(16)}", "model": "virtio-net-pci", "network": "bridge-${n}", "mtu": 1500.0}`);
  return `{"name": "vm-${i}", "vcpus": 4, "memory": "8G", "labels": {"team": "infra", "zone": "eu-west-1", "owner": "ops", "ünïcødé": "😀"}, "disks": [${disks.join(', ')}], "nics": [${nics.join(', ')}], "kernel": {"cmdline": "console=ttyS0 root=/dev/vda1 quiet", "path": "/boot/vmlinuz"}}`;
}

function v1Pool(body: (i: number) => string): SignedRequest[] {
  return Array.from({ length: POOL }, (_, i) => {
    const text = body(i);
    return { method: 'POST', rawPath: '/vm/create', headers: signRequestV1(KEY, { path: '/vm/create', body: text }, T0), rawBody: Buffer.from(text) };
  });
}

function v2Pool(body: (i: number) => string): SignedRequest[] {
  return Array.from({ length: POOL }, (_, i) => {
    const text = body(i);
    return {
      method: 'POST',
      rawPath: '/vms/web/start?force=1',
      headers: signRequestV2(KEY, { method: 'POST', audience: '127.0.0.1:3003', path: '/vms/web/start?force=1', body: text }, T0),
      rawBody: Buffer.from(text),
    };
  });
}

const fallbacks: string[] = [];
const native = loadRecoverer({ onFallback: (why) => fallbacks.push(why) });
if (native.name !== 'native') console.error(`warning: ${fallbacks.join('; ')}`);
const backends: Recoverer[] = native.name === 'native' ? [native, jsRecoverer()] : [native];

const small = v1Pool(smallBody);
const large = v1Pool(largeBody);
const v2Small = v2Pool(smallBody);
const v2Large = v2Pool(largeBody);
const hashes = small.map((_, i) => personalMessageHash(`/vm/create:${T0}:${pythonJsonDumpsSorted(smallBody(i))}`));
const sigs = small.map((r) => hexToBytes(r.headers['X-Signature']!));

const rows: [string, string, number][] = [];
const largeBytes = Buffer.byteLength(largeBody(0));
for (const recoverer of backends) {
  rows.push(['secp256k1 recovery (hash given)', recoverer.name, rate((i) => void recoverer.recoverAddress(hashes[i % POOL]!, sigs[i % POOL]!.subarray(0, 64), sigs[i % POOL]![64]! - 27))]);
  for (const [label, pool] of [
    [`v1 verify, ${Buffer.byteLength(smallBody(0))} B body`, small],
    [`v1 verify, ${largeBytes} B body`, large],
    [`v2 verify, ${Buffer.byteLength(smallBody(0))} B body`, v2Small],
    [`v2 verify, ${largeBytes} B body`, v2Large],
  ] as const) {
    let replay = new ReplayCache({ windowSec: 300, maxEntries: 10_000_000 });
    const opts = () => ({ now: T0, windowSec: 300, recoverer, replay, isKnownSigner: (a: string) => a === ADDRESS, audience: '127.0.0.1:3003' });
    // A fresh replay cache whenever the pool wraps, so each verification is a first use.
    const op = (i: number): void => {
      if (i % POOL === 0) replay = new ReplayCache({ windowSec: 300, maxEntries: 10_000_000 });
      const req = pool[i % POOL]!;
      if (label.startsWith('v2')) verifyV2(req, opts());
      else verifyV1(req, opts());
    };
    rows.push([label, recoverer.name, rate(op)]);
  }
}
rows.push([`canonical JSON only, ${Buffer.byteLength(smallBody(0))} B body`, '-', rate((i) => void pythonJsonDumpsSorted(smallBody(i % 64)))]);
const largeText = largeBody(1);
const largeMessage = `/vm/create:${T0}:${pythonJsonDumpsSorted(largeText)}`;
rows.push([`EIP-191 keccak-256 only, ${Buffer.byteLength(largeMessage)} B message`, '-', rate(() => void personalMessageHash(largeMessage))]);
rows.push([`canonical JSON only, ${largeBytes} B body`, '-', rate(() => void pythonJsonDumpsSorted(largeText))]);

console.log(`Node ${process.version}, ${ROUNDS} rounds of ${SECONDS} s, median\n`);
console.log('| operation | backend | ops/s |');
console.log('|---|---|---:|');
for (const [op, backend, r] of rows) console.log(`| ${op} | ${backend} | ${Math.round(r).toLocaleString('en-US')} |`);
