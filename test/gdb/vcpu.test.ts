/**
 * The gdbstub client and the vCPU API against a real QEMU guest (TCG, two vCPUs): registers from the discovered
 * target description (CR3 included), vCPUs as threads, reads split by PacketSize, physical mode checked against
 * the guest's RAM file, register writes, single-step.
 */
import assert from 'node:assert/strict';
import { openSync, readSync, closeSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { Guest } from '../../guest/launch.js';
import { isVigilError } from '../../src/core/errors.js';
import { GdbClient } from '../../src/gdb/client.js';
import { VmiCpu } from '../../src/vmi/cpu/vcpu.js';
import { bootGdbGuest } from './guest-gdb.js';

let guest: Guest;
let jiffies: bigint;
let cpu: VmiCpu;

before(async () => {
  ({ guest, jiffies } = await bootGdbGuest());
  cpu = await VmiCpu.open(guest.gdbSocket);
});

after(async () => {
  await cpu?.close();
  await guest?.stop();
});

test('the target description is discovered: x86-64 registers with CR3, and two vCPUs', () => {
  const names = cpu.gdb.registers.map((r) => r.name);
  for (const r of ['rip', 'rsp', 'eflags', 'cr0', 'cr3', 'cr4', 'efer', 'fs_base', 'xmm0']) assert.ok(names.includes(r), `register ${r} in ${names.join(',')}`);
  assert.equal(cpu.gdb.register('rip').bitsize, 64);
  assert.ok(cpu.gdb.packetSize >= 1024, `PacketSize ${cpu.gdb.packetSize}`);
  assert.deepEqual(
    cpu.vcpus.map((v) => v.index),
    [0, 1],
  );
  assert.match(cpu.vcpus[1]?.description ?? '', /CPU#1/);
});

test('registers of every vCPU after boot: CR3 non-zero, long mode, RIP in the half its privilege level says', async () => {
  for (const v of cpu.vcpus) {
    const regs = await cpu.registers(v.index);
    assert.ok((regs.cr3 ?? 0n) !== 0n, `vcpu ${v.index} cr3`);
    assert.ok(((regs.efer ?? 0n) & 0x400n) !== 0n, `vcpu ${v.index} EFER.LMA`);
    assert.ok((regs.cr0 ?? 0n) & 0x80000000n, 'CR0.PG');
    // A vCPU may be in a user process (CS RPL 3) or in the kernel (RPL 0); RIP must lie in the matching half.
    const user = ((regs.cs ?? 0n) & 3n) === 3n;
    const rip = regs.rip ?? 0n;
    assert.ok(user ? rip > 0n && rip < 0x0000800000000000n : rip >= 0xffff800000000000n, `vcpu ${v.index} rip 0x${rip.toString(16)} with cs 0x${regs.cs?.toString(16)}`);
    assert.equal(await cpu.register('cr3', v.index), regs.cr3);
  }
});

test('memory: a read larger than PacketSize is split and equals small reads; jiffies reads as a counter', async () => {
  const rip = await cpu.register('rip', 0);
  const base = rip & ~0xfffn;
  const len = cpu.gdb.maxReadChunk * 3 + 100;
  const sent = cpu.gdb.stats.sent;
  const big = await cpu.readVirtual(base, len);
  assert.equal(big.length, len);
  assert.ok(cpu.gdb.stats.sent - sent >= 4, 'at least four m packets');
  const parts: Buffer[] = [];
  for (let off = 0; off < len; off += 500) parts.push(await cpu.readVirtual(base + BigInt(off), Math.min(500, len - off)));
  assert.deepEqual(Buffer.concat(parts), big);
  const j = (await cpu.readVirtual(jiffies, 8)).readBigUInt64LE(0);
  assert.ok(j > 0n, 'jiffies counts');
});

test('memory: an unmapped virtual address is a typed gdbstub error, not a hang', async () => {
  await assert.rejects(cpu.readVirtual(0x10n, 16), (e) => isVigilError(e, 'VIGIL_GDB_ERROR'));
});

test('physical mode: gdbstub reads of guest-physical pages equal the RAM file, and the mode switches back', async () => {
  const fd = openSync(guest.ramPath, 'r');
  try {
    for (const pa of [0x1000n, 0x100000n, 0x2000000n]) {
      const viaGdb = await cpu.readPhysical(pa, 4096);
      const file = Buffer.alloc(4096);
      readSync(fd, file, 0, 4096, Number(pa));
      assert.deepEqual(viaGdb, file, `page 0x${pa.toString(16)}`);
    }
  } finally {
    closeSync(fd);
  }
  assert.equal(await cpu.gdb.physicalMemoryMode(), false);
});

test('register write: set and restore a register of vCPU 1 without touching vCPU 0', async () => {
  const before0 = await cpu.registers(0);
  const orig = await cpu.register('r11', 1);
  await cpu.setRegisters({ r11: 0x1122334455667788n }, 1);
  assert.equal(await cpu.register('r11', 1), 0x1122334455667788n);
  assert.equal(await cpu.register('r11', 0), before0.r11);
  await cpu.setRegisters({ r11: orig }, 1);
  assert.equal(await cpu.register('r11', 1), orig);
  await assert.rejects(cpu.setRegisters({ nosuch: 1n }, 0), (e) => isVigilError(e, 'VIGIL_GDB_UNSUPPORTED'));
  assert.throws(() => cpu.vcpu(7), (e) => isVigilError(e, 'VIGIL_INVALID_INPUT') && /0\.\.1/.test(e.message));
});

test('single-step advances RIP of the stepped vCPU only', async () => {
  // Let the guest run a little first so vCPU 0 is not parked on the same instruction as at attach.
  await cpu.resume();
  await new Promise((r) => setTimeout(r, 50));
  await cpu.pause();
  const other = await cpu.register('rip', 1);
  let rip = await cpu.register('rip', 0);
  const seen = new Set<bigint>([rip]);
  for (let i = 0; i < 5; i++) {
    const stop = await cpu.step(0);
    assert.equal(stop.kind, 'signal');
    assert.equal(cpu.vcpuOfThread(stop.kind === 'signal' ? stop.thread : undefined), 0);
    const next = await cpu.register('rip', 0);
    assert.notEqual(next, rip, `step ${i} moved RIP`);
    rip = next;
    seen.add(rip);
  }
  assert.ok(seen.size >= 2);
  assert.equal(await cpu.register('rip', 1), other, 'vCPU 1 did not move');
});

test('a second debugger cannot attach while one is attached: a typed connect error, not a hang', async () => {
  const second = new GdbClient({ connectTimeoutMs: 1500 });
  await assert.rejects(second.connect({ path: guest.gdbSocket }), (e) => isVigilError(e, 'VIGIL_GDB_CONNECT'));
  assert.equal(second.state, 'idle');
});
