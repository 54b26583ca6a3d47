/**
 * FIM figures: baseline (init) and check of a 50,000-file tree generated under /tmp, as files/s and MB/s, beside
 * `sha256sum` over the same files (one process, and `xargs -P` over every core) and AIDE with a minimal config
 * (the same attributes: perms, inode, links, owner, group, size, mtime, sha256), all on a warm page cache in the
 * same run; the event loop's worst delay during Vigil's scans; hashing concurrency 1..64; and a honeypot
 * connection -> kill switch engaged latency over real QEMU (a VM with a user NIC, no OS needed for link-down).
 *
 * Run: `npx tsx bench/fim.ts [--files N] [--runs N] [--honeypot-runs N]`.
 */
import { execFileSync, execSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { silentLogger } from '../src/core/log.js';
import { hostConfigSchema } from '../src/host/config.js';
import { HostAgent } from '../src/host/agent.js';
import { Fim } from '../src/host/fim/fim.js';
import { resolveRules } from '../src/host/fim/policy.js';
import { scan } from '../src/host/fim/scan.js';
import { vigilActionSink } from '../src/host/lockdown/sink.js';
import { KillswitchEngine } from '../src/killswitch/engine.js';
import { AuditLog } from '../src/store/audit-log.js';
import { openStore } from '../src/store/db.js';
import { Vigil } from '../src/vigil.js';
import { vmDefinitionSchema } from '../src/vm/definition/schema.js';
import { readPidfile } from '../src/vm/process.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const FILES = arg('--files', 50_000);
const RUNS = arg('--runs', 3);
const HONEYPOT_RUNS = arg('--honeypot-runs', 10);
const PER_DIR = 100;
/** What `vigil fim` uses unless host.fim.concurrency says otherwise. */
const DEFAULT_CONCURRENCY = hostConfigSchema.parse({}).fim.concurrency;

const work = mkdtempSync(join(tmpdir(), 'vigil-bench-fim-'));
const tree = join(work, 'tree');

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

/** A deterministic tree: sizes from 0 to 64 KiB (most small, as in /etc or a source tree), 1 in 500 of 1 MiB. */
function generate(): number {
  let bytes = 0;
  let seed = 42;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const block = Buffer.alloc(1 << 20);
  for (let i = 0; i < block.length; i++) block[i] = (i * 31 + (i >> 7)) & 0xff;
  for (let i = 0; i < FILES; i++) {
    const dir = join(tree, `d${Math.floor(i / PER_DIR / 10)}`, `s${Math.floor(i / PER_DIR) % 10}`);
    if (i % PER_DIR === 0) mkdirSync(dir, { recursive: true });
    const size = i % 500 === 0 ? 1 << 20 : Math.floor(rand() ** 3 * 65536);
    const content = Buffer.from(block.subarray(0, size));
    // Every file distinct: its index in the first bytes.
    if (size >= 4) content.writeUInt32LE(i, 0);
    writeFileSync(join(dir, `f${i}.dat`), content);
    bytes += size;
  }
  return bytes;
}

function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

async function timedAsync(fn: () => Promise<unknown>): Promise<{ ms: number; lagMaxMs: number; lagP99Ms: number }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  h.disable();
  return { ms, lagMaxMs: h.max / 1e6, lagP99Ms: h.percentile(99) / 1e6 };
}

function row(name: string, ms: number, files: number, bytes: number, extra = ''): string {
  return `| ${name} | ${(ms / 1000).toFixed(2)} | ${Math.round(files / (ms / 1000)).toLocaleString('en')} | ${(bytes / 1e6 / (ms / 1000)).toFixed(0)} | ${extra} |`;
}

async function honeypotLatency(): Promise<number[]> {
  const home = join(work, 'home');
  const vigil = Vigil.open({ home, logger: silentLogger, principal: 'bench' });
  vigil.define(vmDefinitionSchema.parse({ name: 'hp', memory: '64M', accel: 'tcg', nics: [{ type: 'user' }], killswitch: { devices: 'all' } }));
  await vigil.start('hp');
  const engine = new KillswitchEngine({ db: vigil.db, vms: vigil.vms, audit: vigil.audit, paths: vigil.paths, logger: silentLogger });
  let resolveEngaged: (() => void) | undefined;
  const agent = new HostAgent({
    config: hostConfigSchema.parse({ honeypots: [{ name: 'trap', host: '127.0.0.1', port: 0, readTimeoutMs: 50, perPeerPerMinute: 1000, actions: [{ type: 'killswitch' }] }] }),
    paths: vigil.paths,
    db: vigil.db,
    audit: vigil.audit,
    logger: silentLogger,
    sink: vigilActionSink({ vms: vigil.vms, killswitch: engine, logger: silentLogger }),
    onEvent: (e) => {
      if (e.type === 'action' && e.outcome.action === 'killswitch' && e.outcome.outcome === 'ok') resolveEngaged?.();
    },
  });
  const { port } = (await agent.start()).honeypots[0]!;
  const samples: number[] = [];
  try {
    for (let i = 0; i < HONEYPOT_RUNS + 1; i++) {
      const engaged = new Promise<void>((r) => (resolveEngaged = r));
      const t0 = performance.now();
      const s = connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      await engaged;
      const ms = performance.now() - t0;
      if (engine.status().state !== 'engaged') throw new Error('the kill switch is not engaged');
      if (i > 0) samples.push(ms); // the first one opens QMP paths cold
      // The honeypot may have closed it already (its read timeout): no waiting for a 'close' that came and went.
      s.destroy();
      await engine.release({ source: 'bench' });
    }
  } finally {
    await agent.stop();
    const pid = readPidfile(join(vigil.paths.runtime, 'vms', 'hp', 'qemu.pid'));
    if (pid) process.kill(pid, 'SIGKILL');
    vigil.close();
  }
  return samples;
}

async function main(): Promise<void> {
  process.stdout.write(`generating ${FILES} files under ${tree} ...\n`);
  const bytes = generate();
  const files = FILES;
  process.stdout.write(`${files} files, ${(bytes / 1e6).toFixed(1)} MB; ${cpus().length} cores\n`);
  const list = join(work, 'files.list');
  execSync(`find ${tree} -type f -print0 > ${list}`);
  // Warm the page cache once, so every tool reads from memory.
  execSync(`xargs -0 cat < ${list} > /dev/null`, { shell: '/bin/bash' });

  // The machine's own scheduling noise: the loop's worst delay while this process does nothing at all.
  const idle = await timedAsync(() => new Promise((r) => setTimeout(r, 15000)));
  process.stdout.write(`idle event loop over 15 s: worst delay ${idle.lagMaxMs.toFixed(1)} ms, p99 ${idle.lagP99Ms.toFixed(1)} ms; load average ${execSync('cat /proc/loadavg').toString().trim()}\n`);
  const results: Record<string, number[]> = {};
  const lag: { max: number[]; p99: number[] } = { max: [], p99: [] };
  const add = (k: string, ms: number): void => void (results[k] ??= []).push(ms);
  const rules = resolveRules(hostConfigSchema.parse({ fim: { defaults: false, rules: [{ path: tree }] } }).fim.rules);

  const aideConf = join(work, 'aide.conf');
  writeFileSync(
    aideConf,
    `database_in=file:${work}/aide.db\ndatabase_out=file:${work}/aide.db.new\ngzip_dbout=no\nreport_url=stdout\nFull = p+i+n+u+g+s+m+sha256\n${tree} Full\n`,
  );

  for (let run = 0; run < RUNS; run++) {
    add('sha256sum (1 process)', timed(() => execSync(`xargs -0 sha256sum < ${list} > /dev/null`, { shell: '/bin/bash' })));
    add(`sha256sum (xargs -P ${cpus().length})`, timed(() => execSync(`xargs -0 -P ${cpus().length} -n 2000 sha256sum < ${list} > /dev/null`, { shell: '/bin/bash' })));

    rmSync(join(work, 'vigil.db'), { force: true });
    rmSync(join(work, 'vigil.db-wal'), { force: true });
    rmSync(join(work, 'vigil.db-shm'), { force: true });
    const db = openStore(join(work, 'vigil.db'));
    const fim = new Fim({ db, audit: new AuditLog(db), logger: silentLogger, rules: () => Promise.resolve(rules), concurrency: DEFAULT_CONCURRENCY, principal: 'bench' });
    const init = await timedAsync(() => fim.init());
    add(`vigil fim init (scan + store), concurrency ${DEFAULT_CONCURRENCY}`, init.ms);
    const check = await timedAsync(async () => {
      const r = await fim.check();
      if (r.bits !== 0) throw new Error('the tree changed under the benchmark');
    });
    add(`vigil fim check (verify + scan + diff), concurrency ${DEFAULT_CONCURRENCY}`, check.ms);
    lag.max.push(Math.max(init.lagMaxMs, check.lagMaxMs));
    lag.p99.push(Math.max(init.lagP99Ms, check.lagP99Ms));
    db.close();

    rmSync(join(work, 'aide.db'), { force: true });
    add('AIDE --init', timed(() => execFileSync('aide', ['--config', aideConf, '--init'], { stdio: 'ignore' })));
    execSync(`mv ${work}/aide.db.new ${work}/aide.db`);
    add('AIDE --check', timed(() => execFileSync('aide', ['--config', aideConf, '--check'], { stdio: 'ignore' })));
    process.stdout.write(`round ${run + 1}/${RUNS} done\n`);
  }

  process.stdout.write(`\n| tool | s | files/s | MB/s | note |\n|---|---:|---:|---:|---|\n`);
  for (const [name, xs] of Object.entries(results)) process.stdout.write(row(name, median(xs), files, bytes, `median of ${xs.length}`) + '\n');
  process.stdout.write(`\nevent loop during Vigil's init/check: worst delay ${median(lag.max).toFixed(1)} ms, p99 ${median(lag.p99).toFixed(1)} ms (median over rounds)\n`);

  process.stdout.write(`\nscan only (no store), by hashing concurrency:\n| concurrency | s | files/s | MB/s | loop max delay ms |\n|---:|---:|---:|---:|---:|\n`);
  for (const c of [1, 4, 16, 64]) {
    const t = await timedAsync(() => scan(rules, { concurrency: c }));
    process.stdout.write(`| ${c} | ${(t.ms / 1000).toFixed(2)} | ${Math.round(files / (t.ms / 1000)).toLocaleString('en')} | ${(bytes / 1e6 / (t.ms / 1000)).toFixed(0)} | ${t.lagMaxMs.toFixed(1)} |\n`);
  }

  const hp = await honeypotLatency();
  process.stdout.write(`\nhoneypot connection -> kill switch engaged (${hp.length} runs): p50 ${median(hp).toFixed(1)} ms, p99 ${pct(hp, 99).toFixed(1)} ms, min ${Math.min(...hp).toFixed(1)} ms\n`);
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => rmSync(work, { recursive: true, force: true }));
