/**
 * The watch on vigild's liveness, against real processes: a SIGKILL is a death seen through the socket, a SIGTERM
 * with the marker a clean stop, a restarted process is watched again, and a pidfile naming a dead process with
 * no marker is a death seen without any connection.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startLiveness } from '../../../src/daemon/liveness.js';
import { watchVigild, type VigildEvent } from '../../../src/killswitch/guardian/watch.js';

const CHILD = fileURLToPath(new URL('./liveness-child.ts', import.meta.url));

async function child(dir: string): Promise<ChildProcess> {
  const c = spawn(process.execPath, ['--import', 'tsx', CHILD, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => c.stdout.once('data', () => resolve()));
  return c;
}

interface Collector {
  events: VigildEvent[];
  push(e: VigildEvent): void;
  /** The first event of `kind` (already seen or future), taken off the list. */
  next(kind: VigildEvent['kind']): Promise<VigildEvent>;
}

function collector(): Collector {
  const events: VigildEvent[] = [];
  const waiters: (() => void)[] = [];
  return {
    events,
    push(e: VigildEvent) {
      events.push(e);
      for (const w of waiters.splice(0)) w();
    },
    async next(kind) {
      for (;;) {
        const hit = events.find((e) => e.kind === kind);
        if (hit) {
          events.splice(events.indexOf(hit), 1);
          return hit;
        }
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
}

test('SIGKILL is a death through the socket; SIGTERM with the marker is a clean stop; restarts are watched', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-watch-'));
  const c = collector();
  const watch = watchVigild({ runtimeDir: dir, retryMs: 50, onEvent: (e) => c.push(e) });
  try {
    const a = await child(dir);
    assert.equal((await c.next('up')).pid, a.pid);
    const killedAt = Date.now();
    a.kill('SIGKILL');
    const death = await c.next('death');
    assert.deepEqual({ ...death, at: 0 }, { kind: 'death', pid: a.pid, how: 'socket-closed', at: 0 });
    assert.ok(death.kind === 'death' && death.at - killedAt < 1000);

    const b = await child(dir);
    assert.equal((await c.next('up')).pid, b.pid);
    b.kill('SIGTERM');
    assert.deepEqual(await c.next('clean-stop'), { kind: 'clean-stop', pid: b.pid });
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(c.events, [], 'nothing else was reported');
  } finally {
    watch.stop();
  }
});

test('a pidfile naming a dead process, with no marker, is a death seen without a connection', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-watch-'));
  const dead = spawn('true');
  await new Promise((r) => dead.on('exit', r));
  writeFileSync(join(dir, 'vigild.pid'), `${dead.pid}\n`);
  const events: VigildEvent[] = [];
  const watch = watchVigild({ runtimeDir: dir, retryMs: 50, onEvent: (e) => events.push(e) });
  await new Promise((r) => setTimeout(r, 300));
  watch.stop();
  assert.equal(events.length, 1, JSON.stringify(events));
  assert.equal(events[0]?.kind, 'death');
  assert.equal(events[0]?.kind === 'death' ? events[0].how : '', 'pidfile');
  // With the marker it is a clean stop.
  const dir2 = mkdtempSync(join(tmpdir(), 'vigil-watch-'));
  writeFileSync(join(dir2, 'vigild.pid'), `${dead.pid}\n`);
  writeFileSync(join(dir2, 'vigild.clean'), `${dead.pid}\n`);
  const events2: VigildEvent[] = [];
  const watch2 = watchVigild({ runtimeDir: dir2, retryMs: 50, onEvent: (e) => events2.push(e) });
  await new Promise((r) => setTimeout(r, 200));
  watch2.stop();
  assert.deepEqual(events2, [{ kind: 'clean-stop', pid: dead.pid }]);
});

test('a liveness socket that cannot be served does not stop vigild: the clean marker is still written', async () => {
  // A Unix socket path is limited to 107 bytes; this directory's is longer.
  const dir = join(mkdtempSync(join(tmpdir(), 'vigil-watch-')), 'x'.repeat(120));
  mkdirSync(dir);
  const liveness = await startLiveness(dir);
  await liveness.markCleanAndClose();
  assert.equal(readFileSync(join(dir, 'vigild.clean'), 'utf8'), `${process.pid}\n`);
});
