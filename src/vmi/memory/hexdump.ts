/** A hex dump in xxd's layout (address, 16 bytes in pairs, printable ASCII), with the guest address in the left column. */

/** The dump of `data` whose first byte sits at `address` (number or bigint: virtual addresses exceed 2^53). */
export function hexdump(data: Buffer, address: number | bigint = 0): string {
  const base = BigInt(address);
  const width = base + BigInt(data.length) > 0xffff_ffffn ? 16 : 8;
  const lines: string[] = [];
  for (let off = 0; off < data.length; off += 16) {
    const row = data.subarray(off, Math.min(off + 16, data.length));
    let hex = '';
    for (let i = 0; i < 16; i++) {
      const b = row[i];
      hex += b === undefined ? '  ' : b.toString(16).padStart(2, '0');
      if (i % 2 === 1) hex += ' ';
    }
    let text = '';
    for (const b of row) text += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
    lines.push(`${(base + BigInt(off)).toString(16).padStart(width, '0')}: ${hex} ${text}`);
  }
  return lines.join('\n');
}
