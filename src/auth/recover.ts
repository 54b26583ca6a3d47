/**
 * secp256k1 public-key recovery, the API's hot path, behind one interface with two backends:
 * libsecp256k1 through the `secp256k1` npm package (prebuilt binary, ~30x faster) and @noble/curves (pure
 * JavaScript) when the binary cannot load on this host.
 *
 * We load `secp256k1/bindings.js` rather than the package's main entry: the main entry silently falls back to
 * the `elliptic` library when the binary fails, which would hide exactly the condition the server must warn
 * about. A one-recovery self-test then proves the binary computes what it should before we trust it.
 */
import { createRequire } from 'node:module';
import { secp256k1 as nobleSecp256k1 } from '@noble/curves/secp256k1.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import type * as secp256k1Types from 'secp256k1';
import { VigilError } from '../core/errors.js';
import { addressFromPublicKey, personalMessageHash } from './eip191.js';

/** A signature-recovery backend: the signer's lowercase `0x` address from a hash, r||s and the recovery id. */
export interface Recoverer {
  readonly name: 'native' | 'js';
  /** The lowercase address whose key produced `sig64` (r||s) over `hash32`; throws VIGIL_AUTH_BAD_SIGNATURE. */
  recoverAddress(hash32: Uint8Array, sig64: Uint8Array, recid: number): string;
}

/** Options for loadRecoverer. */
export interface LoadRecovererOptions {
  /** `native` (default) tries libsecp256k1 first; `js` goes straight to @noble/curves. */
  prefer?: 'native' | 'js';
  /** Called with the reason when `native` was wanted but could not be used (the server logs a warning). */
  onFallback?: (reason: string) => void;
  /** Module to load as the native binding (tests point it elsewhere to exercise the fallback). */
  nativeModule?: string;
}

type NativeSecp256k1 = Pick<typeof secp256k1Types, 'ecdsaRecover'>;

function checkArgs(hash32: Uint8Array, sig64: Uint8Array, recid: number): void {
  if (hash32.length !== 32 || sig64.length !== 64 || (recid !== 0 && recid !== 1)) {
    throw new VigilError('VIGIL_AUTH_BAD_SIGNATURE', 'recovery needs a 32-byte hash, a 64-byte r||s and a recovery id of 0 or 1', {
      context: { reason: 'length' },
    });
  }
}

function recoverFailed(cause: unknown): VigilError {
  return new VigilError('VIGIL_AUTH_BAD_SIGNATURE', 'no public key can be recovered from this signature (r or s out of range)', {
    cause,
    context: { reason: 'recover' },
  });
}

/** The pure-JavaScript backend (@noble/curves). */
export function jsRecoverer(): Recoverer {
  const { Signature } = nobleSecp256k1;
  return {
    name: 'js',
    recoverAddress(hash32, sig64, recid) {
      checkArgs(hash32, sig64, recid);
      let pub: Uint8Array;
      try {
        pub = Signature.fromBytes(sig64, 'compact').addRecoveryBit(recid).recoverPublicKey(hash32).toBytes(false);
      } catch (err) {
        throw recoverFailed(err);
      }
      return addressFromPublicKey(pub);
    },
  };
}

function nativeRecoverer(lib: NativeSecp256k1): Recoverer {
  return {
    name: 'native',
    recoverAddress(hash32, sig64, recid) {
      checkArgs(hash32, sig64, recid);
      let pub: Uint8Array;
      try {
        pub = lib.ecdsaRecover(sig64, recid, hash32, false);
      } catch (err) {
        throw recoverFailed(err);
      }
      return addressFromPublicKey(pub);
    },
  };
}

// personal_sign("Some data") by 0x2c7536e3…, the widely published web3 example.
const SELF_TEST = {
  message: 'Some data',
  sig: 'b91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd6007e74cd82e037b800186422fc2da167c747ef045e5d18a5f5d4300f8e1a029',
  recid: 1,
  address: '0x2c7536e3605d9c16a7a3d7b1898e529396a65c23',
};

function selfTest(r: Recoverer): void {
  const got = r.recoverAddress(personalMessageHash(SELF_TEST.message), hexToBytes(SELF_TEST.sig), SELF_TEST.recid);
  if (got !== SELF_TEST.address) throw new Error(`self-test recovered ${got}, expected ${SELF_TEST.address}`);
}

/** The fastest working recovery backend: native libsecp256k1 unless it cannot load, then @noble/curves. */
export function loadRecoverer(options: LoadRecovererOptions = {}): Recoverer {
  if (options.prefer === 'js') return jsRecoverer();
  try {
    const lib = createRequire(import.meta.url)(options.nativeModule ?? 'secp256k1/bindings.js') as NativeSecp256k1;
    const native = nativeRecoverer(lib);
    selfTest(native);
    return native;
  } catch (err) {
    const reason = `native secp256k1 unavailable, using the pure-JavaScript fallback (much slower): ${err instanceof Error ? err.message : String(err)}`;
    options.onFallback?.(reason);
    return jsRecoverer();
  }
}
