/**
 * Signing in the page with a local key (no wallet): EIP-191 personal_sign with @noble/curves and @noble/hashes,
 * the libraries the server verifies with. The key stays in this function's scope: it is neither stored nor sent.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';

/** A private key from pasted text or a key file: 64 hex digits (0x optional), or Vigil's key.json. */
export function parsePrivateKey(text: string): Uint8Array {
  let candidate = text.trim();
  if (candidate.startsWith('{')) {
    try {
      const key = (JSON.parse(candidate) as { privateKey?: unknown }).privateKey;
      candidate = typeof key === 'string' ? key : '';
    } catch {
      throw new Error('the key file is not valid JSON');
    }
  }
  const hex = candidate.replace(/^0x/i, '');
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error('a private key is 64 hex digits (0x optional), or a Vigil key.json');
  const key = hexToBytes(hex);
  if (!secp256k1.utils.isValidSecretKey(key)) throw new Error('this is not a valid secp256k1 private key');
  return key;
}

/** The lowercase 0x address of a private key. */
export function addressOf(key: Uint8Array): string {
  return `0x${bytesToHex(keccak_256(secp256k1.getPublicKey(key, false).subarray(1)).subarray(12))}`;
}

/** personal_sign: `0x` + r || s || v (v 27/28) over the EIP-191 hash of the UTF-8 message. */
export function personalSign(key: Uint8Array, message: string): string {
  const bytes = utf8ToBytes(message);
  const hash = keccak_256(concatBytes(utf8ToBytes(`\x19Ethereum Signed Message:\n${bytes.length}`), bytes));
  const rec = secp256k1.sign(hash, key, { prehash: false, format: 'recovered' });
  return `0x${bytesToHex(rec.subarray(1))}${(27 + (rec[0] ?? 0)).toString(16)}`;
}
