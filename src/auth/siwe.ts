/**
 * Sign-In with Ethereum (EIP-4361) for the dashboard: the server issues a message with a one-time nonce, the
 * wallet personal-signs it, the server checks the signature, the nonce, the domain and the times, then hands out
 * a short-lived session token.
 */
import { randomBytes } from 'node:crypto';
import { VigilError } from '../core/errors.js';
import { personalMessageHash } from './eip191.js';
import { parseSignature } from './signature.js';
import type { Recoverer } from './recover.js';
import { checksumAddress } from './eip191.js';

/** An issued challenge. */
export interface Challenge {
  message: string;
  nonce: string;
  expiresAt: number;
}

/** The EIP-4361 message for `address` at `domain`. */
export function siweMessage(p: { domain: string; uri: string; address: string; nonce: string; issuedAt: Date; expiresAt: Date; chainId?: number }): string {
  return [
    `${p.domain} wants you to sign in with your Ethereum account:`,
    checksumAddress(p.address),
    '',
    'Sign in to Vigil.',
    '',
    `URI: ${p.uri}`,
    'Version: 1',
    `Chain ID: ${p.chainId ?? 1}`,
    `Nonce: ${p.nonce}`,
    `Issued At: ${p.issuedAt.toISOString()}`,
    `Expiration Time: ${p.expiresAt.toISOString()}`,
  ].join('\n');
}

function field(message: string, name: string): string | undefined {
  return message.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
}

/** Issues and redeems challenges; nonces are single-use and expire. */
export class SiweVerifier {
  private readonly pending = new Map<string, { address: string; domain: string; expiresAt: number }>();

  constructor(
    private readonly recoverer: Recoverer,
    private readonly ttlSec = 300,
  ) {}

  /** A challenge for `address` signing in at `domain` (the host the browser is on). */
  challenge(address: string, domain: string, uri: string, now = Date.now()): Challenge {
    for (const [n, c] of this.pending) if (c.expiresAt <= now) this.pending.delete(n);
    if (this.pending.size > 10000) throw new VigilError('VIGIL_RATE_LIMITED', 'too many sign-in challenges pending; try again shortly');
    const nonce = randomBytes(12).toString('hex');
    const expiresAt = now + this.ttlSec * 1000;
    this.pending.set(nonce, { address: address.toLowerCase(), domain, expiresAt });
    return { nonce, expiresAt, message: siweMessage({ domain, uri, address, nonce, issuedAt: new Date(now), expiresAt: new Date(expiresAt) }) };
  }

  /** Checks a signed challenge and returns the signer's address; each nonce works once. */
  redeem(message: string, signature: string, now = Date.now()): string {
    const nonce = field(message, 'Nonce') ?? '';
    const pending = this.pending.get(nonce);
    this.pending.delete(nonce);
    const refuse = (why: string): VigilError => new VigilError('VIGIL_AUTH_BAD_SIGNATURE', `sign-in refused: ${why}`, { context: { reason: why } });
    if (!pending) throw refuse('unknown or already used nonce (ask for a new challenge)');
    if (pending.expiresAt <= now) throw refuse('the challenge expired');
    if (!message.startsWith(`${pending.domain} wants you to sign in`)) throw refuse(`the message is for another domain (expected ${pending.domain})`);
    const sig = parseSignature(signature);
    const address = this.recoverer.recoverAddress(personalMessageHash(message), sig.rs, sig.recid);
    if (address !== pending.address) throw refuse('the signature is not from the address the challenge was issued to');
    return address;
  }
}
