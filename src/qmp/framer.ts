/**
 * Incremental framer for QMP's newline-delimited JSON. Bytes arrive in arbitrary chunks (a line can be split
 * anywhere, even inside a UTF-8 sequence); whole lines come out. A line longer than the bound is a typed error,
 * never an unbounded buffer.
 */
import { VigilError } from '../core/errors.js';

/** QMP messages may be large (query-qmp-schema is ~200 KiB) but never legitimately this large. */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

const NEWLINE = 0x0a;

/** Splits a byte stream into lines; bytes are decoded only once a whole line is present. */
export class LineFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly maxLineBytes: number;

  constructor(maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {
    this.maxLineBytes = maxLineBytes;
  }

  /** Bytes held for an incomplete line. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /**
   * Feeds a chunk and returns the complete lines it finishes (without the newline; `\r` before it dropped;
   * blank lines skipped). Throws VIGIL_QMP_FRAME_TOO_LARGE when a line outgrows the bound; the framer is
   * then reset and the stream should be abandoned.
   */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    let nl = chunk.indexOf(NEWLINE, start);
    while (nl !== -1) {
      const size = this.buffered + (nl - start);
      this.checkBound(size);
      let end = nl;
      if (this.buffered === 0) {
        // The common case: the whole line is inside this chunk; decode it in place.
        if (end > start && chunk[end - 1] === 0x0d) end -= 1;
        if (end > start) lines.push(chunk.toString('utf8', start, end));
      } else {
        const line = Buffer.concat([...this.chunks, chunk.subarray(start, nl)], size);
        this.chunks = [];
        this.buffered = 0;
        const stop = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
        if (stop > 0) lines.push(line.toString('utf8', 0, stop));
      }
      start = nl + 1;
      nl = chunk.indexOf(NEWLINE, start);
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.checkBound(this.buffered + rest.length);
      // Copy: the caller's buffer may be reused by the stream.
      this.chunks.push(Buffer.from(rest));
      this.buffered += rest.length;
    }
    return lines;
  }

  /** Drops any partial line. */
  reset(): void {
    this.chunks = [];
    this.buffered = 0;
  }

  private checkBound(size: number): void {
    if (size > this.maxLineBytes) {
      this.reset();
      throw new VigilError(
        'VIGIL_QMP_FRAME_TOO_LARGE',
        `QMP message exceeds the ${this.maxLineBytes}-byte line limit; the connection was dropped`,
        { context: { maxLineBytes: this.maxLineBytes, seenBytes: size } },
      );
    }
  }
}
