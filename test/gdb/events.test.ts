/**
 * Events against a real QEMU guest (TCG, two vCPUs): a breakpoint at a kernel address derived from a paused
 * vCPU's RIP, hit with the right vCPU and registers; step-then-re-arm keeps it armed; a write watchpoint on
 * jiffies fires; register writes and skip through handler actions; a burst arrives complete and in order in
 * handlers and in a slow async iterator; the consistent-view helper.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Guest } from '../../guest/launch.js';
import { VmiCpu } from '../../src/vmi/cpu/vcpu.js';
import { VmiEvents } from '../../src/vmi/events/events.js';
import type { VmiEvent } from '../../src/vmi/events/types.js';
import { bootGdbGuest } from './guest-gdb.js';

let guest: Guest;
let jiffies: bigint;
let events: VmiEvents;
/** A kernel address both vCPUs pass again and again: where vCPU 0 sat when we paused (the idle loop). */
let hot = 0n;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

before(async () => {
  ({ guest, jiffies } = await bootGdbGuest());
  events = new VmiEvents(await VmiCpu.open(guest.gdbSocket));
  await events.start();
  // vCPU 0 in the kernel (CS RPL 0): the idle loop once init has settled, not a user process finishing its start.
  for (let i = 0; i < 100; i++) {
    await sleep(100);
    const r = await events.withPaused((cpu) => cpu.registers(0));
    if (((r.cs ?? 3n) & 3n) === 0n && (r.rip ?? 0n) >= 0xffff800000000000n) {
      hot = r.rip ?? 0n;
      break;
    }
  }
  assert.ok(hot !== 0n, 'vCPU 0 never seen in the kernel');
});

after(async () => {
  await events?.close();
  await guest?.stop();
});

test('a breakpoint at a derived kernel address is hit with the right vCPU and its registers', async () => {
  const hit = deferred<{ event: VmiEvent; rip: bigint; cr3: bigint }>();
  let first = true;
  const sub = await events.subscribe({ trap: { type: 'breakpoint', address: hot } }, async (event, ctx) => {
    if (!first) return 'continue' as const;
    first = false;
    const regs = await ctx.registers();
    hit.resolve({ event, rip: regs.rip ?? 0n, cr3: regs.cr3 ?? 0n });
    return 'continue' as const;
  });
  const { event, rip, cr3 } = await within(hit.promise, 30_000, 'the breakpoint');
  await sub.unsubscribe();
  assert.equal(event.kind, 'breakpoint');
  assert.equal(event.address, hot);
  assert.equal(event.rip, hot);
  assert.equal(rip, hot, 'RIP of the reported vCPU is at the breakpoint');
  assert.ok(cr3 !== 0n);
  assert.ok(event.vcpu === 0 || event.vcpu === 1);
  assert.equal(event.thread?.tid, event.vcpu + 1, 'the stop reply thread is the reported vCPU');
  assert.deepEqual(event.subscriptions, [sub.id]);
  assert.equal(events.paused, false, 'the guest runs again');
});

test('a vCPU filter: a subscription for vCPU 1 sees only vCPU 1 hits', async () => {
  const seen: number[] = [];
  const all: number[] = [];
  const done = deferred<void>();
  const s1 = await events.subscribe({ trap: { type: 'breakpoint', address: hot }, vcpu: 1 }, (e) => {
    seen.push(e.vcpu);
  });
  const s2 = await events.subscribe({ trap: { type: 'breakpoint', address: hot } }, (e) => {
    all.push(e.vcpu);
    if (all.length >= 40 || (seen.length >= 3 && all.length > seen.length)) done.resolve();
  });
  await within(done.promise, 60_000, 'hits on both vCPUs');
  await s1.unsubscribe();
  await s2.unsubscribe();
  assert.ok(seen.length > 0, 'vCPU 1 hit the idle loop');
  assert.ok(seen.every((v) => v === 1));
  assert.equal(all.filter((v) => v === 1).length, seen.length);
});

test('step-then-re-arm: the handler sees the step after the breakpoint, and the breakpoint fires again', async () => {
  const got: VmiEvent[] = [];
  const done = deferred<void>();
  const sub = await events.subscribe({ trap: { type: 'breakpoint', address: hot } }, (e) => {
    got.push(e);
    if (got.filter((x) => x.kind === 'breakpoint').length >= 3) done.resolve();
    return e.kind === 'breakpoint' ? 'step-then-re-arm' : 'continue';
  });
  await within(done.promise, 30_000, 'three hits');
  await sub.unsubscribe();
  const [b1, s1, b2] = got;
  assert.equal(b1?.kind, 'breakpoint');
  assert.equal(s1?.kind, 'step');
  assert.equal(s1?.cause, b1?.seq);
  assert.equal(s1?.vcpu, b1?.vcpu);
  assert.notEqual(s1?.rip, hot, 'the step moved past the breakpoint');
  assert.equal(b2?.kind, 'breakpoint', 'the breakpoint is still armed');
  // QEMU 7.2 (this machine's) lets a single-step pass its own breakpoint; the layer learned it at the first step.
  assert.equal(events.stepPassesBreakpoint, true);
  assert.equal(b2?.seq, (s1?.seq ?? 0) + 1);
});

test('a write watchpoint on jiffies fires with the address and the write done', async () => {
  const hit = deferred<{ event: VmiEvent; value: bigint }>();
  const before = await events.withPaused(async (cpu) => (await cpu.readVirtual(jiffies, 8)).readBigUInt64LE(0));
  const sub = await events.subscribe({ trap: { type: 'watchpoint', address: jiffies, length: 8, access: 'write' } }, async (event, ctx) => {
    hit.resolve({ event, value: (await ctx.read(jiffies, 8)).readBigUInt64LE(0) });
    return 'continue' as const;
  });
  const { event, value } = await within(hit.promise, 30_000, 'the watchpoint');
  await sub.unsubscribe();
  assert.equal(event.kind, 'watchpoint');
  assert.equal(event.access, 'write');
  assert.equal(event.address, jiffies);
  assert.ok(value > before, `jiffies went from ${before} to ${value}`);
  assert.ok(event.rip >= 0xffff800000000000n, 'the writer is kernel code');
});

test('read (Z3) and access (Z4) watchpoints on jiffies fire with the access kind', async () => {
  for (const access of ['read', 'access'] as const) {
    const hit = deferred<VmiEvent>();
    const sub = await events.subscribe({ trap: { type: 'watchpoint', address: jiffies, length: 8, access } }, (e) => {
      hit.resolve(e);
    });
    const event = await within(hit.promise, 30_000, `the ${access} watchpoint`);
    await sub.unsubscribe();
    assert.equal(event.kind, 'watchpoint');
    assert.equal(event.access, access);
    assert.equal(event.address, jiffies);
  }
});

test('handler actions: set-registers and skip are applied, pause holds the guest until resume()', async () => {
  const held = deferred<VmiEvent>();
  // Subscribe all four while the guest is held: with only some of them armed the guest would run on with a
  // clobbered r11 or a RIP moved into the middle of an instruction.
  await events.pause();
  let origR11: bigint | undefined;
  const sub0 = await events.subscribe({ trap: { type: 'breakpoint', address: hot } }, async (_e, ctx) => {
    origR11 ??= (await ctx.registers()).r11;
  });
  const sub1 = await events.subscribe({ trap: { type: 'breakpoint', address: hot } }, () => ({ action: 'set-registers', registers: { r11: 0xabcdn } }));
  const sub2 = await events.subscribe({ trap: { type: 'breakpoint', address: hot } }, () => ({ action: 'skip', length: 1 }));
  const sub3 = await events.subscribe({ trap: { type: 'breakpoint', address: hot } }, (e) => {
    held.resolve(e);
    return 'pause';
  });
  await events.resume();
  try {
    const event = await within(held.promise, 30_000, 'the held breakpoint');
    // The handler has answered; pause() resolves once the event loop has applied the actions and holds the guest.
    await events.pause();
    assert.equal(events.paused, true);
    const regs = await events.withPaused((cpu) => cpu.registers(event.vcpu));
    assert.equal(regs.r11, 0xabcdn, 'set-registers applied');
    assert.equal(regs.rip, hot + 1n, 'skip moved RIP by the given length');
    assert.equal(events.paused, true, 'withPaused on a held guest leaves it held');
    // Put the vCPU back exactly as it was before resuming: the guest must not run a mangled instruction stream.
    const back = await events.withPaused(async (cpu) => {
      await cpu.setRegisters({ rip: hot, r11: origR11 ?? 0n }, event.vcpu);
      return cpu.register('rip', event.vcpu);
    });
    assert.equal(back, hot);
  } finally {
    for (const s of [sub0, sub1, sub2, sub3]) await s.unsubscribe();
    await events.resume();
  }
  assert.equal(events.paused, false);
});

test('a burst of 300 breakpoint hits arrives complete and in order, in handlers and in a slow iterator', async () => {
  const N = 300;
  const handled: number[] = [];
  const done = deferred<void>();
  // Unfiltered: every event the layer numbers must reach it, so its seqs must have no gaps.
  const iter = events.events({ highWaterMark: 8 });
  const sub = await events.subscribe({ trap: { type: 'breakpoint', address: hot } }, (e) => {
    handled.push(e.seq);
    if (handled.length === N) {
      done.resolve();
      return 'pause';
    }
    return 'continue';
  });
  const consumed: VmiEvent[] = [];
  const consumer = (async () => {
    for await (const e of iter) {
      consumed.push(e);
      if (consumed.length % 10 === 0) await sleep(20); // slower than the guest: the queue must hold the guest, not drop
      if (e.seq === handled[N - 1]) break;
    }
  })();
  await within(done.promise, 120_000, `${N} hits`);
  await sub.unsubscribe();
  await events.resume();
  await within(consumer, 60_000, 'the iterator to drain');
  const seqs = consumed.map((e) => e.seq);
  const first = seqs[0] ?? 0;
  const others = consumed.filter((e) => e.kind !== 'breakpoint').map((e) => `#${e.seq} ${e.kind} vcpu ${e.vcpu} rip 0x${e.rip.toString(16)}`);
  assert.deepEqual(
    seqs,
    Array.from({ length: seqs.length }, (_, i) => first + i),
    'the iterator saw every numbered event, in order',
  );
  assert.deepEqual(
    consumed.filter((e) => e.kind === 'breakpoint' && e.address === hot).map((e) => e.seq),
    handled,
    `the handler saw the same breakpoint events in the same order (other events: ${others.join(', ') || 'none'})`,
  );
  assert.equal(handled.length, N);
  // Seen once in several runs with two vCPUs: one extra `stop` (SIGTRAP away from any breakpoint) in the burst,
  // most likely both vCPUs reaching the breakpoint at once. It is reported, not lost; more would be a bug.
  assert.ok(others.length <= 2, `at most a stray stop or two besides the breakpoints: ${others.join(', ')}`);
});

test('pause(), step() on a held guest reports a step event to subscribers and iterators, resume() lets it run', async () => {
  const seen: VmiEvent[] = [];
  const sub = await events.subscribe({ kind: 'step', vcpu: 1 }, (e) => {
    seen.push(e);
  });
  const stream = events.events({ filter: { kind: 'step' } });
  await events.pause();
  assert.equal(events.paused, true);
  const before = await events.withPaused((cpu) => cpu.register('rip', 1));
  const step = await events.step(1);
  assert.equal(step.kind, 'step');
  assert.equal(step.vcpu, 1);
  assert.notEqual(step.rip, before);
  assert.equal(events.paused, true, 'still held after a step');
  const fromStream = await stream.next();
  assert.equal(fromStream.done, false);
  assert.equal(fromStream.value.seq, step.seq);
  assert.deepEqual(
    seen.map((e) => e.seq),
    [step.seq],
  );
  await stream.return?.();
  await sub.unsubscribe();
  await events.resume();
  assert.equal(events.paused, false);
});

test('withPaused: a consistent view of both vCPUs, and the guest runs again afterwards', async () => {
  assert.equal(events.paused, false);
  const view = await events.withPaused(async (cpu) => {
    const a = await cpu.registers(0);
    const b = await cpu.registers(1);
    const again = await cpu.register('rip', 0);
    return { a, b, again };
  });
  assert.equal(view.a.rip, view.again, 'nothing moved while paused');
  assert.ok((view.b.cr3 ?? 0n) !== 0n);
  assert.equal(events.paused, false);
  const j1 = await events.withPaused(async (cpu) => (await cpu.readVirtual(jiffies, 8)).readBigUInt64LE(0));
  await sleep(100);
  const j2 = await events.withPaused(async (cpu) => (await cpu.readVirtual(jiffies, 8)).readBigUInt64LE(0));
  assert.ok(j2 > j1, 'the guest kept running between views');
});
