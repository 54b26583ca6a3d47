/**
 * Incremental framer for the GDB remote serial protocol. Bytes arrive in arbitrary chunks; out come acks ('+'),
 * nacks ('-'), packets (`$data#cs`) and notifications (`%data#cs`), each packet with its checksum verdict and its
 * payload already unescaped ('}' x^0x20) and run-length expanded ('*'). A packet that outgrows the bound is a
 * typed error, never an unbounded buffer.
 */
import { VigilError } from '../core/errors.js';

/** No sane reply of a gdbstub is larger (QEMU's is 4 KiB); bounded so a broken peer cannot eat memory. */
export const DEFAULT_MAX_PACKET_BYTES = 1024 * 1024;

/** One unit of the byte stream. */
export type RspFrame =
  | { kind: 'ack' }
  | { kind: 'nack' }
  /** `ok` is false when the checksum did not match: answer '-' so the peer sends it again. */
  | { kind: 'packet'; payload: Buffer; ok: boolean }
  | { kind: 'notification'; payload: Buffer; ok: boolean };

const DOLLAR = 0x24;
const PERCENT = 0x25;
const HASH = 0x23;
const ESCAPE = 0x7d;
const RUN = 0x2a;
const PLUS = 0x2b;
const MINUS = 0x2d;

type Phase = 'idle' | 'data' | 'cs1' | 'cs2';

/** Splits a byte stream into RSP frames; keeps state between pushes. */
export class RspFramer {
  private phase: Phase = 'idle';
  private notification = false;
  private raw: Buffer[] = [];
  private rawBytes = 0;
  private sum = 0;
  private cs1 = 0;
  private readonly maxPacketBytes: number;
  /** Bytes outside any packet that were neither '+' nor '-' (line noise, a stray ^C echo). */
  ignoredBytes = 0;

  constructor(maxPacketBytes: number = DEFAULT_MAX_PACKET_BYTES) {
    this.maxPacketBytes = maxPacketBytes;
  }

  /** Feeds a chunk; returns the frames it completes, in stream order. Throws VIGIL_GDB_PROTOCOL on an oversize packet. */
  push(chunk: Uint8Array): RspFrame[] {
    const out: RspFrame[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.phase === 'data') {
        // Copy the run up to '#' in one go: memory replies are kilobytes of hex.
        const hash = chunk.indexOf(HASH, i);
        const end = hash === -1 ? chunk.length : hash;
        if (this.rawBytes + (end - i) > this.maxPacketBytes) {
          const seen = this.rawBytes + (end - i);
          this.reset();
          throw new VigilError('VIGIL_GDB_PROTOCOL', `gdbstub packet exceeds ${this.maxPacketBytes} bytes; the connection was dropped`, {
            context: { maxPacketBytes: this.maxPacketBytes, seenBytes: seen },
          });
        }
        let sum = this.sum;
        for (let k = i; k < end; k++) sum += chunk[k] as number;
        this.sum = sum & 0xff;
        if (end > i) {
          this.raw.push(Buffer.from(chunk.subarray(i, end)));
          this.rawBytes += end - i;
        }
        i = end;
        if (hash !== -1) {
          this.phase = 'cs1';
          i++;
        }
        continue;
      }
      const b = chunk[i++] as number;
      switch (this.phase) {
        case 'idle':
          if (b === PLUS) out.push({ kind: 'ack' });
          else if (b === MINUS) out.push({ kind: 'nack' });
          else if (b === DOLLAR || b === PERCENT) {
            this.phase = 'data';
            this.notification = b === PERCENT;
            this.raw = [];
            this.rawBytes = 0;
            this.sum = 0;
          } else this.ignoredBytes++;
          break;
        case 'cs1':
          this.cs1 = b;
          this.phase = 'cs2';
          break;
        case 'cs2': {
          const expected = Number.parseInt(String.fromCharCode(this.cs1, b), 16);
          const ok = expected === this.sum;
          const raw = this.raw.length === 1 ? (this.raw[0] as Buffer) : Buffer.concat(this.raw, this.rawBytes);
          out.push({ kind: this.notification ? 'notification' : 'packet', payload: decodePayload(raw), ok });
          this.phase = 'idle';
          this.raw = [];
          this.rawBytes = 0;
          break;
        }
      }
    }
    return out;
  }

  /** Drops any partial packet. */
  reset(): void {
    this.phase = 'idle';
    this.raw = [];
    this.rawBytes = 0;
    this.sum = 0;
  }
}

/** Undoes the binary escape ('}' then byte ^ 0x20) and expands run-length encoding ('*' then count + 29). */
export function decodePayload(raw: Uint8Array): Buffer {
  // Most packets (all of QEMU's hex replies) have neither escapes nor runs: hand them back as they are.
  if (raw.indexOf(ESCAPE) === -1 && raw.indexOf(RUN) === -1) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i] as number;
    if (b === ESCAPE && i + 1 < raw.length) {
      out.push((raw[++i] as number) ^ 0x20);
    } else if (b === RUN && i + 1 < raw.length && out.length > 0) {
      const repeat = (raw[++i] as number) - 29;
      const last = out[out.length - 1] as number;
      for (let k = 0; k < repeat; k++) out.push(last);
    } else out.push(b);
  }
  return Buffer.from(out);
}

/** The modulo-256 sum of the bytes, as the two hex digits that follow '#'. */
export function checksumHex(bytes: Uint8Array): string {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return sum.toString(16).padStart(2, '0');
}

/** Frames a payload as `$data#cs`, escaping '$', '#', '}' and '*' so binary data (X, vFile) survives. */
export function encodePacket(payload: string | Uint8Array): Buffer {
  const src = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const body: number[] = [];
  for (const b of src) {
    if (b === DOLLAR || b === HASH || b === ESCAPE || b === RUN) body.push(ESCAPE, b ^ 0x20);
    else body.push(b);
  }
  const data = Buffer.from(body);
  return Buffer.concat([Buffer.from('$'), data, Buffer.from(`#${checksumHex(data)}`)]);
}
