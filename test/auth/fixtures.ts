/** The test key and vectors, and verifier options built around them. */
import { loadRecoverer, jsRecoverer, type Recoverer } from '../../src/auth/recover.js';
import { ReplayCache } from '../../src/auth/replay-cache.js';
import type { VerifyOptions } from '../../src/auth/types.js';

/** The test key and its (EIP-55) address. */
export const PRIVATE_KEY = '0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318';
export const ADDRESS = '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23';
/** The address as the verifiers return it. */
export const ADDRESS_LOWER = ADDRESS.toLowerCase();

/** personal-sign of `Some data` by the test key. */
export const SOME_DATA_SIG =
  '0xb91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd6007e74cd82e037b800186422fc2da167c747ef045e5d18a5f5d4300f8e1a0291c';
/** The v1 message; `\\n` is a backslash and an n, because data_str is JSON text. */
export const CREATE_MESSAGE = '/vm/create:1700000000:{"formfile": "NAME my-vm\\nVCPU 1", "name": "my-vm"}';
/** personal-sign of CREATE_MESSAGE (v = 0x1c, X-Recovery-ID 1), without 0x. */
export const CREATE_SIG =
  '82d1ac05a9cd03365e916770242109ebf21a2aade0a57b0fb7b566f55bbd149a727cbb1520b76dab52f27a7d6824080d98978bc4ee9685f0ca81f7c8e0e6a08a1c';
/** The vector's X-Timestamp. */
export const T0 = 1_700_000_000;

/** Both recovery backends, so every test runs against each. */
export function backends(): Recoverer[] {
  const native = loadRecoverer({
    onFallback: (reason) => {
      throw new Error(`the native backend must load in this test environment: ${reason}`);
    },
  });
  return [native, jsRecoverer()];
}

/** Verifier options at `now` with a fresh replay cache; only the test key (and `extra`) are registered. */
export function verifyOptions(recoverer: Recoverer, now = T0, extra: string[] = []): VerifyOptions {
  const known = new Set([ADDRESS_LOWER, ...extra.map((a) => a.toLowerCase())]);
  return { now, windowSec: 300, recoverer, replay: new ReplayCache({ windowSec: 300 }), isKnownSigner: (a) => known.has(a) };
}
