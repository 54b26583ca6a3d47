/**
 * Linux evdev `struct input_event` records as read from /dev/input/event*: on 64-bit hosts 24 bytes, a timeval
 * (tv_sec i64, tv_usec i64) then type u16, code u16, value i32, in host (little-endian) byte order. Reads may
 * split records anywhere (a FIFO does), so the framer keeps the remainder.
 */

/** Size of one record on a 64-bit host. */
export const INPUT_EVENT_SIZE = 24;
/** Event types and codes the hotkey trigger reads. */
export const EV_SYN = 0;
/** A key or button changed. */
export const EV_KEY = 1;
/** The kernel dropped events: the key state must be rebuilt. */
export const SYN_DROPPED = 3;

/** One decoded record. */
export interface InputEvent {
  sec: number;
  usec: number;
  type: number;
  code: number;
  /** For EV_KEY: 1 press, 0 release, 2 autorepeat. */
  value: number;
}

/** Decodes a stream of input_event records, whatever the read boundaries. */
export class InputEventFramer {
  private rest: Buffer = Buffer.alloc(0);

  /** Feeds one chunk; returns the whole records it completed. The chunk is not kept (callers may reuse it). */
  push(chunk: Buffer): InputEvent[] {
    const data = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk;
    const whole = data.length - (data.length % INPUT_EVENT_SIZE);
    const events: InputEvent[] = [];
    for (let off = 0; off < whole; off += INPUT_EVENT_SIZE) {
      events.push({
        sec: Number(data.readBigInt64LE(off)),
        usec: Number(data.readBigInt64LE(off + 8)),
        type: data.readUInt16LE(off + 16),
        code: data.readUInt16LE(off + 18),
        value: data.readInt32LE(off + 20),
      });
    }
    this.rest = Buffer.from(data.subarray(whole));
    return events;
  }

  /** Bytes of an incomplete record held back. */
  get pending(): number {
    return this.rest.length;
  }

  /** Drops a partial record (the device was reopened). */
  reset(): void {
    this.rest = Buffer.alloc(0);
  }
}

/** Encodes records as the kernel writes them (recordings for tests and the benchmark). */
export function encodeInputEvents(events: Partial<InputEvent>[]): Buffer {
  const buf = Buffer.alloc(events.length * INPUT_EVENT_SIZE);
  events.forEach((e, i) => {
    const off = i * INPUT_EVENT_SIZE;
    buf.writeBigInt64LE(BigInt(e.sec ?? 0), off);
    buf.writeBigInt64LE(BigInt(e.usec ?? 0), off + 8);
    buf.writeUInt16LE(e.type ?? 0, off + 16);
    buf.writeUInt16LE(e.code ?? 0, off + 18);
    buf.writeInt32LE(e.value ?? 0, off + 20);
  });
  return buf;
}

/** A key press or release as a keyboard sends it: EV_KEY then the SYN_REPORT that closes the frame. */
export function keyRecords(code: number, value: 0 | 1 | 2, at = Date.now()): Partial<InputEvent>[] {
  const sec = Math.floor(at / 1000);
  const usec = (at % 1000) * 1000;
  return [
    { sec, usec, type: EV_KEY, code, value },
    { sec, usec, type: EV_SYN, code: 0, value: 0 },
  ];
}
