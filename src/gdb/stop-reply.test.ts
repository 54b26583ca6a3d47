import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isVigilError } from '../core/errors.js';
import { formatThreadId, isStopReply, parseStopReply, parseSupported, parseThreadId, parseThreadList } from './stop-reply.js';

test('thread ids: multiprocess and plain forms round-trip', () => {
  assert.deepEqual(parseThreadId('p01.02'), { pid: 1, tid: 2 });
  assert.deepEqual(parseThreadId('p1'), { pid: 1, tid: -1 });
  assert.deepEqual(parseThreadId('1f'), { tid: 31 });
  assert.deepEqual(parseThreadId('-1'), { tid: -1 });
  assert.equal(formatThreadId({ pid: 1, tid: 10 }), 'p1.a');
  assert.equal(formatThreadId({ tid: -1 }), '-1');
  assert.throws(() => parseThreadId('pzz.1'), (e) => isVigilError(e, 'VIGIL_GDB_PROTOCOL'));
});

test('stop replies: T with thread, breakpoint kind, watchpoint and registers; S; W; X', () => {
  const t = parseStopReply('T05thread:p01.02;hwbreak:;10:39878b89ffffffff;core:1;');
  assert.ok(t.kind === 'signal');
  assert.equal(t.signal, 5);
  assert.deepEqual(t.thread, { pid: 1, tid: 2 });
  assert.equal(t.breakpoint, 'hw');
  assert.equal(t.registers.get(16)?.readBigUInt64LE(0), 0xffffffff898b8739n);
  assert.equal(t.extra.core, '1');
  const w = parseStopReply('T05thread:p01.01;watch:ffffffff8a005000;');
  assert.ok(w.kind === 'signal');
  assert.deepEqual(w.watch, { kind: 'watch', address: 0xffffffff8a005000n });
  const a = parseStopReply('T05thread:01;awatch:1000;');
  assert.ok(a.kind === 'signal' && a.watch?.kind === 'awatch' && a.thread?.tid === 1 && a.thread.pid === undefined);
  assert.deepEqual(parseStopReply('S02'), { kind: 'signal', signal: 2, registers: new Map(), extra: {} });
  assert.deepEqual(parseStopReply('W00'), { kind: 'exited', code: 0 });
  assert.deepEqual(parseStopReply('X09;process:2a'), { kind: 'terminated', signal: 9, pid: 42 });
  assert.throws(() => parseStopReply('OK'), (e) => isVigilError(e, 'VIGIL_GDB_PROTOCOL'));
  assert.ok(isStopReply('T02thread:01;') && isStopReply('S05') && isStopReply('W00') && !isStopReply('OK') && !isStopReply('E14') && !isStopReply('ff'));
});

test('qSupported features and thread lists', () => {
  const f = parseSupported('PacketSize=1000;qXfer:features:read+;vContSupported+;multiprocess+;QStartNoAckMode-');
  assert.equal(f.get('PacketSize'), '1000');
  assert.equal(f.get('qXfer:features:read'), true);
  assert.equal(f.get('QStartNoAckMode'), false);
  assert.deepEqual(parseThreadList('mp01.01,p01.02'), { ids: [{ pid: 1, tid: 1 }, { pid: 1, tid: 2 }], done: false });
  assert.deepEqual(parseThreadList('l'), { ids: [], done: true });
  assert.throws(() => parseThreadList('x'), (e) => isVigilError(e, 'VIGIL_GDB_PROTOCOL'));
});
