/**
 * Ethereum's personal-message hashing (EIP-191 version 0x45, what `personal_sign`, eth_account's
 * `encode_defunct` and ethers' `signMessage` hash) and the address of a public key.
 * keccak-256 is the original Keccak submission, not NIST SHA3-256 (different padding), hence @noble/hashes.
 */
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { VigilError } from '../core/errors.js';

const PREFIX = '\x19Ethereum Signed Message:\n';

/** keccak-256 of `"\x19Ethereum Signed Message:\n" + byteLength + bytes`; strings are taken as UTF-8. */
export function personalMessageHash(message: string | Uint8Array): Uint8Array {
  const bytes = typeof message === 'string' ? utf8ToBytes(message) : message;
  return keccak_256(concatBytes(utf8ToBytes(`${PREFIX}${bytes.length}`), bytes));
}

/** The lowercase `0x` address of an uncompressed public key (65 bytes starting 0x04, or the bare 64 bytes). */
export function addressFromPublicKey(pub: Uint8Array): string {
  let xy: Uint8Array;
  if (pub.length === 65 && pub[0] === 0x04) xy = pub.subarray(1);
  else if (pub.length === 64) xy = pub;
  else throw new VigilError('VIGIL_INVALID_INPUT', `an uncompressed secp256k1 public key is 65 bytes (0x04 || x || y), got ${pub.length}`);
  return `0x${bytesToHex(keccak_256(xy).subarray(12))}`;
}

/** EIP-55 mixed-case checksum form of an address (for display; comparisons use lowercase). */
export function checksumAddress(address: string): string {
  const lower = address.toLowerCase().replace(/^0x/, '');
  if (!/^[0-9a-f]{40}$/.test(lower)) throw new VigilError('VIGIL_INVALID_INPUT', `not an Ethereum address: ${address}`);
  const hash = bytesToHex(keccak_256(utf8ToBytes(lower)));
  let out = '0x';
  for (let i = 0; i < 40; i++) out += parseInt(hash[i]!, 16) >= 8 ? lower[i]!.toUpperCase() : lower[i]!;
  return out;
}

/** An Ethereum address as text: 0x and 40 hex digits, any case. */
export const ADDRESS_PATTERN = /^0x[0-9a-fA-F]{40}$/;
