/** The local signing key: one secp256k1 private key in a 0600 JSON file in the config directory. */
import { existsSync, readFileSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { VigilError } from '../core/errors.js';
import type { VigilPaths } from '../core/paths.js';
import { addressOfPrivateKey, newPrivateKey } from './sign-request.js';

/** A loaded key. */
export interface KeyFile {
  address: string;
  privateKey: string;
  path: string;
}

/** Where the CLI's key lives. */
export function keyPath(paths: VigilPaths): string {
  return join(paths.config, 'key.json');
}

/** Normalises a private key given as hex (with or without 0x); throws VIGIL_INVALID_INPUT otherwise. */
export function normalizePrivateKey(text: string): string {
  const hex = text.trim().replace(/^0x/i, '');
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new VigilError('VIGIL_INVALID_INPUT', 'a private key is 32 bytes as 64 hex digits (0x optional)', { context: { field: 'key' } });
  return `0x${hex.toLowerCase()}`;
}

/** Reads the key file (VIGIL_NOT_FOUND with the fix when there is none). */
export function readKey(path: string): KeyFile {
  if (!existsSync(path)) throw new VigilError('VIGIL_NOT_FOUND', `no signing key at ${path}; run 'vigil init' (or 'vigil key new')`, { context: { path } });
  const data = JSON.parse(readFileSync(path, 'utf8')) as { privateKey?: string };
  const privateKey = normalizePrivateKey(data.privateKey ?? '');
  return { address: addressOfPrivateKey(privateKey), privateKey, path };
}

/** Writes a key file (0600); refuses to replace one unless `force`. */
export function writeKey(path: string, privateKey: string = newPrivateKey(), force = false): KeyFile {
  if (existsSync(path) && !force) throw new VigilError('VIGIL_INVALID_INPUT', `a key already exists at ${path}; pass --force to replace it (the old address loses access)`, { context: { path } });
  const key = normalizePrivateKey(privateKey);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const address = addressOfPrivateKey(key);
  writeFileSync(path, JSON.stringify({ address, privateKey: key }, null, 2) + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return { address, privateKey: key, path };
}
