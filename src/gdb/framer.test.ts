import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isVigilError } from '../core/errors.js';
import { checksumHex, decodePayload, encodePacket, RspFramer, type RspFrame } from './framer.js';

/** A packet exactly as a stub would send it, checksum over the raw bytes. */
function wire(raw: string): string {
  return `$${raw}#${checksumHex(Buffer.from(raw, 'latin1'))}`;
}

function describe(frames: RspFrame[]): string[] {
  return frames.map((f) => (f.kind === 'ack' || f.kind === 'nack' ? f.kind : `${f.kind}:${f.ok ? 'ok' : 'bad'}:${f.payload.toString('latin1')}`));
}

// A stream with everything the framer must handle: acks, a plain packet, escapes, run-length encoding, a bad
// checksum, noise between packets, a notification and a packet whose payload contains '+' and '-'.
const STREAM = [
  '+',
  wire('OK'),
  '-',
  wire('T05thread:p01.02;swbreak:;'),
  wire('ab}\x03}\x04}]}\x0a'), // '}' escapes: 0x03^0x20='#', 0x04^0x20='$', ']'^0x20='}', 0x0a^0x20='*'
  wire('0* '), // '0' then 32-29=3 more: '0000'
  wire('x*"y'), // 'x' + 5 more, then 'y'
  '$bad#00',
  '\r\n',
  `%${'Stop:T05'}#${checksumHex(Buffer.from('Stop:T05'))}`,
  wire('+-+'),
].join('');

const EXPECTED = [
  'ack',
  'packet:ok:OK',
  'nack',
  'packet:ok:T05thread:p01.02;swbreak:;',
  'packet:ok:ab#$}*',
  'packet:ok:0000',
  'packet:ok:xxxxxxy',
  'packet:bad:bad',
  'notification:ok:Stop:T05',
  'packet:ok:+-+',
];

test('framer: the whole stream in one chunk', () => {
  const f = new RspFramer();
  assert.deepEqual(describe(f.push(Buffer.from(STREAM, 'latin1'))), EXPECTED);
  assert.equal(f.ignoredBytes, 2);
});

test('framer: the stream split in two at every position gives the same frames', () => {
  const bytes = Buffer.from(STREAM, 'latin1');
  for (let i = 0; i <= bytes.length; i++) {
    const f = new RspFramer();
    const frames = [...f.push(bytes.subarray(0, i)), ...f.push(bytes.subarray(i))];
    assert.deepEqual(describe(frames), EXPECTED, `split at ${i}`);
  }
});

test('framer: the stream split in three at every pair of positions, and byte by byte', () => {
  const bytes = Buffer.from(STREAM, 'latin1');
  for (let i = 0; i <= bytes.length; i += 3) {
    for (let j = i; j <= bytes.length; j += 2) {
      const f = new RspFramer();
      const frames = [...f.push(bytes.subarray(0, i)), ...f.push(bytes.subarray(i, j)), ...f.push(bytes.subarray(j))];
      assert.deepEqual(describe(frames), EXPECTED, `split at ${i},${j}`);
    }
  }
  const f = new RspFramer();
  const frames: RspFrame[] = [];
  for (const b of bytes) frames.push(...f.push(Buffer.from([b])));
  assert.deepEqual(describe(frames), EXPECTED);
});

test('framer: a packet over the bound is a typed error and the framer recovers', () => {
  const f = new RspFramer(16);
  assert.throws(() => f.push(Buffer.from(`$${'a'.repeat(17)}`)), (e) => isVigilError(e, 'VIGIL_GDB_PROTOCOL'));
  assert.deepEqual(describe(f.push(Buffer.from(wire('OK')))), ['packet:ok:OK']);
});

test('encodePacket escapes the four special bytes and round-trips through the framer', () => {
  const payload = Buffer.from([0x24, 0x23, 0x7d, 0x2a, 0x00, 0xff, 0x41]);
  const packet = encodePacket(payload);
  assert.equal(packet.toString('latin1', 0, 9), '$}\x04}\x03}]}\x0a');
  const [frame] = new RspFramer().push(packet);
  assert.ok(frame?.kind === 'packet' && frame.ok);
  assert.deepEqual(frame.payload, payload);
  assert.equal(encodePacket('qSupported').toString(), '$qSupported#37');
});

test('decodePayload: run-length after an escaped byte repeats the unescaped byte', () => {
  assert.equal(decodePayload(Buffer.from('}]*!')).toString('latin1'), '}}}}}');
});
