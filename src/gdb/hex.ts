/** Hex and little-endian helpers shared by the register and memory code of the gdbstub client. */

/** Little-endian bytes -> unsigned bigint (how x86 registers travel in `g`/`p` replies). */
export function leToBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] as number);
  return v;
}

/** Unsigned bigint -> `size` little-endian bytes; throws RangeError when it does not fit. */
export function bigIntToLe(value: bigint, size: number): Buffer {
  if (value < 0n) value = (1n << BigInt(size * 8)) + value;
  if (value < 0n || value >> BigInt(size * 8) !== 0n) throw new RangeError(`value does not fit in ${size} bytes`);
  const out = Buffer.alloc(size);
  let v = value;
  for (let i = 0; i < size; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** An address as the protocol writes it: lower-case hex without leading zeros or 0x. */
export function addrHex(addr: bigint | number): string {
  return BigInt(addr).toString(16);
}

/** `0x`-prefixed hex, zero-padded to 16 digits (how Vigil prints 64-bit values). */
export function hex64(v: bigint): string {
  return `0x${v.toString(16).padStart(16, '0')}`;
}
