/**
 * QMP round trip: Vigil's client against a raw-socket baseline, on the same real QEMU in the same run.
 * `query-status` sequentially (latency p50/p99, throughput) and with 32 commands in flight (throughput).
 * Run: `make bench` or `npx tsx bench/qmp.ts [--seq N] [--pipe N] [--rounds N]`.
 */
import { createConnection, type Socket } from 'node:net';
import { bootGuest } from '../guest/launch.js';
import { silentLogger } from '../src/core/log.js';
import { QmpClient } from '../src/qmp/client.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const SEQ = arg('seq', 3000);
const PIPE = arg('pipe', 10000);
const ROUNDS = arg('rounds', 8);
const IN_FLIGHT = 32;
const WARMUP = 500;

/** The least a QMP user can do: write a line, read a line, JSON.parse it, match the id. */
class RawQmp {
  private buf = '';
  private waiters = new Map<number, () => void>();
  private seq = 0;
  private constructor(private readonly socket: Socket) {}

  static async open(path: string): Promise<RawQmp> {
    const socket = createConnection({ path });
    const raw = new RawQmp(socket);
    let greeted!: () => void;
    const greeting = new Promise<void>((r) => (greeted = r));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      raw.buf += chunk;
      let nl = raw.buf.indexOf('\n');
      while (nl !== -1) {
        const msg = JSON.parse(raw.buf.slice(0, nl)) as { id?: number; QMP?: unknown };
        raw.buf = raw.buf.slice(nl + 1);
        if (msg.QMP) greeted();
        else if (msg.id !== undefined) {
          const w = raw.waiters.get(msg.id);
          raw.waiters.delete(msg.id);
          w?.();
        }
        nl = raw.buf.indexOf('\n');
      }
    });
    await greeting;
    // Same capabilities as the client (oob): with it QEMU reads commands on an I/O thread, which changes its timing.
    await new Promise<void>((resolve) => {
      const id = ++raw.seq;
      raw.waiters.set(id, resolve);
      socket.write(`{"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":${id}}\n`);
    });
    return raw;
  }

  execute(command: string): Promise<void> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.waiters.set(id, resolve);
      this.socket.write(`{"execute":"${command}","id":${id}}\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

type Exec = () => Promise<unknown>;

async function sequential(exec: Exec, n: number): Promise<{ lat: number[]; opsPerSec: number; cpuUsPerOp: number }> {
  const lat: number[] = new Array<number>(n);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await exec();
    lat[i] = performance.now() - s;
  }
  const cpu = process.cpuUsage(cpu0);
  return { lat, opsPerSec: n / ((performance.now() - t0) / 1000), cpuUsPerOp: (cpu.user + cpu.system) / n };
}

async function pipelined(exec: Exec, n: number): Promise<number> {
  let issued = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (issued < n) {
      issued++;
      await exec();
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return n / ((performance.now() - t0) / 1000);
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const guest = await bootGuest({ name: 'bench-qmp' });
try {
  const client = new QmpClient({ logger: silentLogger });
  await client.connect({ path: guest.qmpSocket });
  const viaClient: Exec = () => client.execute('query-status');
  // Warm both paths (JIT, QEMU's caches) before measuring.
  await sequential(viaClient, WARMUP);
  await client.close();
  const raw = await RawQmp.open(guest.qmpSocket);
  const viaRaw: Exec = () => raw.execute('query-status');
  await sequential(viaRaw, WARMUP);
  raw.close();

  const results = {
    raw: { lat: [] as number[], seq: [] as number[], pipe: [] as number[], cpu: [] as number[] },
    client: { lat: [] as number[], seq: [] as number[], pipe: [] as number[], cpu: [] as number[] },
  };
  const runRaw = async (): Promise<void> => {
    const r = await RawQmp.open(guest.qmpSocket);
    const rs = await sequential(() => r.execute('query-status'), SEQ);
    results.raw.lat.push(...rs.lat);
    results.raw.seq.push(rs.opsPerSec);
    results.raw.cpu.push(rs.cpuUsPerOp);
    results.raw.pipe.push(await pipelined(() => r.execute('query-status'), PIPE));
    r.close();
  };
  const runClient = async (): Promise<void> => {
    const c = new QmpClient({ logger: silentLogger });
    await c.connect({ path: guest.qmpSocket });
    const cs = await sequential(() => c.execute('query-status'), SEQ);
    results.client.lat.push(...cs.lat);
    results.client.seq.push(cs.opsPerSec);
    results.client.cpu.push(cs.cpuUsPerOp);
    results.client.pipe.push(await pipelined(() => c.execute('query-status'), PIPE));
    await c.close();
  };
  for (let round = 0; round < ROUNDS; round++) {
    // QEMU serves one monitor connection at a time: alternate, never overlap; swap the order each round.
    if (round % 2 === 0) {
      await runRaw();
      await runClient();
    } else {
      await runClient();
      await runRaw();
    }
  }
  const perRound = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(' ');
  console.log(`per round (medians below), sequential ops/s: raw ${perRound(results.raw.seq)} | client ${perRound(results.client.seq)}`);
  console.log(`per round, pipelined ops/s:  raw ${perRound(results.raw.pipe)} | client ${perRound(results.client.pipe)}`);

  const mean = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const row = (name: string, r: typeof results.raw): { name: string; p50: number; p99: number; seq: number; pipe: number; cpu: number } => {
    const sorted = [...r.lat].sort((a, b) => a - b);
    return { name, p50: pct(sorted, 50) * 1000, p99: pct(sorted, 99) * 1000, seq: mean(r.seq), pipe: mean(r.pipe), cpu: mean(r.cpu) };
  };
  const rows = [row('raw socket', results.raw), row('vigil QmpClient', results.client)];
  const [rawRow, clientRow] = rows as [(typeof rows)[0], (typeof rows)[0]];
  console.log(`QEMU ${client.greeting?.QMP.version.qemu.major}.${client.greeting?.QMP.version.qemu.minor}.${client.greeting?.QMP.version.qemu.micro}, TCG guest running, ${ROUNDS} rounds x ${SEQ} sequential + ${PIPE} pipelined (${IN_FLIGHT} in flight)`);
  console.log('| path | p50 µs | p99 µs | sequential ops/s | 32 in flight ops/s | Node CPU µs/op (sequential) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.name} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.seq.toFixed(0)} | ${r.pipe.toFixed(0)} | ${r.cpu.toFixed(1)} |`);
  const overhead = (a: number, b: number): string => `${(((a - b) / b) * 100).toFixed(1)} %`;
  console.log(`client overhead: p50 ${overhead(clientRow.p50, rawRow.p50)}, p99 ${overhead(clientRow.p99, rawRow.p99)}, ` +
    `sequential throughput ${overhead(rawRow.seq, clientRow.seq)}, pipelined throughput ${overhead(rawRow.pipe, clientRow.pipe)}; ` +
    `CPU the client adds per call: ${(clientRow.cpu - rawRow.cpu).toFixed(1)} µs = ${(((clientRow.cpu - rawRow.cpu) / rawRow.p50) * 100).toFixed(1)} % of the raw round trip`);
} finally {
  await guest.stop();
}
