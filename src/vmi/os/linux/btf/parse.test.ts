/** The BTF parser on hand-built blobs: the kinds Vigil reads, anonymous members, bitfields, and broken blobs. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isVigilError } from '../../../../core/errors.js';
import { parseBtf } from './parse.js';

/** A BTF blob from (name, info, sizeOrType, extra u32s) types and the string table. */
function blob(strings: string[], types: [number, number, number, number[]][]): Buffer {
  const str = Buffer.from(`\0${strings.join('\0')}\0`, 'latin1');
  const words: number[] = [];
  for (const [nameOff, info, sizeOrType, extra] of types) words.push(nameOff, info, sizeOrType, ...extra);
  const typeBuf = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => typeBuf.writeUInt32LE(w >>> 0, i * 4));
  const h = Buffer.alloc(24);
  h.writeUInt16LE(0xeb9f, 0);
  h.writeUInt8(1, 2);
  h.writeUInt32LE(24, 4);
  h.writeUInt32LE(0, 8);
  h.writeUInt32LE(typeBuf.length, 12);
  h.writeUInt32LE(typeBuf.length, 16);
  h.writeUInt32LE(str.length, 20);
  return Buffer.concat([h, typeBuf, str]);
}

const kind = (k: number, vlen = 0, flag = false): number => ((flag ? 1 : 0) << 31) | (k << 24) | vlen;

test('structs with anonymous unions, typedefs, pointers, arrays and bitfields', () => {
  const names = ['int', 'char', 'task', 'pid', 'comm', 'u32_t', 'next', 'flags', 'bits', 'inner'];
  const s = Buffer.from(`\0${names.join('\0')}\0`, 'latin1');
  const o = (n: string): number => s.indexOf(Buffer.from(`\0${n}\0`, 'latin1')) + 1;
  const btf = parseBtf(
    blob(names, [
      [o('int'), kind(1), 4, [(1 << 24) | 32]], // 1: int, signed
      [o('char'), kind(1), 1, [8]], // 2: char
      [0, kind(3), 0, [2, 1, 16]], // 3: char[16]
      [0, kind(2), 4, []], // 4: pointer to struct task
      [o('u32_t'), kind(8), 1, []], // 5: typedef u32_t -> int
      [0, kind(5, 2), 8, [o('flags'), 5, 0, o('inner'), 4, 0]], // 6: anonymous union { u32_t flags; task *inner }
      [o('task'), kind(4, 4, true), 48, [o('pid'), 1, 0, 0, 6, 64, o('comm'), 3, 128, o('bits'), 1, (3 << 24) | 260]], // 7: struct task, kind_flag
      [0, kind(10), 7, []], // 8: const struct task
    ]),
  );
  assert.equal(btf.types.length, 9);
  assert.equal(btf.struct('task').size, 48);
  assert.equal(btf.member('task', 'pid').byteOffset, 0);
  assert.equal(btf.member('task', 'flags').byteOffset, 8, 'found through the anonymous union');
  assert.equal(btf.member('task', 'inner').byteOffset, 8);
  assert.equal(btf.member('task', 'comm').byteOffset, 16);
  assert.equal(btf.sizeOf(btf.member('task', 'comm').type), 16);
  const bits = btf.member('task', 'bits');
  assert.deepEqual([bits.bitOffset, bits.bitSize], [260, 3]);
  assert.equal(btf.resolve(8).name, 'task', 'const resolves to the struct');
  assert.equal(btf.sizeOf(5), 4, 'typedef to int');
  assert.equal(btf.get(1).int?.signed, true);
  assert.throws(() => btf.member('task', 'nope'), (e: unknown) => isVigilError(e, 'VIGIL_VMI_BTF') && /struct task has no member nope/.test(e.message));
  assert.throws(() => btf.struct('mm_struct'), /the kernel's BTF has no struct mm_struct/);
});

test('broken blobs are refused with the reason, never half-parsed', () => {
  const good = blob(['int'], [[1, kind(1), 4, [32]]]);
  assert.throws(() => parseBtf(Buffer.from('not btf at all, not at all')), (e: unknown) => isVigilError(e, 'VIGIL_VMI_BTF') && /no BTF header/.test(e.message));
  assert.throws(() => parseBtf(good.subarray(0, good.length - 2)), /the header says \d+ bytes but only \d+ are there/);
  const unknownKind = blob(['int'], [[1, kind(25), 4, []]]);
  assert.throws(() => parseBtf(unknownKind), /unknown kind 25/);
  const overrun = blob(['s'], [[1, kind(4, 100), 8, [1, 1, 0]]]);
  assert.throws(() => parseBtf(overrun), /runs past the type section/);
});
