import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isVigilError } from '../core/errors.js';
import { LineFramer } from './framer.js';

const messages = [
  '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}',
  '{"return": {}, "id": "v1"}',
  '{"event": "STOP", "data": {}, "timestamp": {"seconds": 1, "microseconds": 2}}',
  '{"return": {"status": "running", "comment": "ünïcødé ✓ 𝄞"}, "id": "v2"}',
];
const stream = Buffer.from(messages.join('\r\n') + '\n', 'utf8');

test('a stream split at every position yields the same lines', () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    const framer = new LineFramer();
    const got = [...framer.push(stream.subarray(0, cut)), ...framer.push(stream.subarray(cut))];
    assert.deepEqual(got, messages, `split at byte ${cut}`);
    assert.equal(framer.pendingBytes, 0);
  }
});

test('a stream split at every pair of positions yields the same lines', () => {
  for (let a = 0; a <= stream.length; a += 3) {
    for (let b = a; b <= stream.length; b += 5) {
      const framer = new LineFramer();
      const got = [
        ...framer.push(stream.subarray(0, a)),
        ...framer.push(stream.subarray(a, b)),
        ...framer.push(stream.subarray(b)),
      ];
      assert.deepEqual(got, messages, `split at ${a} and ${b}`);
    }
  }
});

test('byte-by-byte feeding works and blank lines are skipped', () => {
  const framer = new LineFramer();
  const got: string[] = [];
  for (const byte of Buffer.from('\n\n{"a": 1}\n\r\n{"b": 2}\n')) got.push(...framer.push(Buffer.from([byte])));
  assert.deepEqual(got, ['{"a": 1}', '{"b": 2}']);
});

test('a line over the bound is a typed error, with or without its newline', () => {
  const framer = new LineFramer(64);
  assert.deepEqual(framer.push(Buffer.from('x'.repeat(64) + '\n')), ['x'.repeat(64)]);
  assert.throws(() => framer.push(Buffer.from('y'.repeat(65) + '\n')), (err) => isVigilError(err, 'VIGIL_QMP_FRAME_TOO_LARGE'));
  const growing = new LineFramer(64);
  growing.push(Buffer.from('z'.repeat(40)));
  assert.throws(() => growing.push(Buffer.from('z'.repeat(40))), (err) => isVigilError(err, 'VIGIL_QMP_FRAME_TOO_LARGE'));
  assert.equal(growing.pendingBytes, 0, 'the framer drops what it held');
});

test('the framer does not keep a reference to the caller\'s buffer', () => {
  const framer = new LineFramer();
  const chunk = Buffer.from('{"partial": ');
  framer.push(chunk);
  chunk.fill(0x20);
  assert.deepEqual(framer.push(Buffer.from('1}\n')), ['{"partial": 1}']);
});
