/** Picks the verifier a signed request asks for (X-Auth-Version) under the server's and the route's policy. */
import { VigilError } from '../core/errors.js';
import { headerValue } from './headers.js';
import { verifyV1 } from './signature.js';
import type { SignedRequest, VerifiedSigner, VerifyOptions } from './types.js';
import { verifyV2 } from './v2.js';

/** Options for verifyRequest: the shared ones plus the v2 policy. */
export interface VerifyRequestOptions extends VerifyOptions {
  /** The host:port v2 clients sign for; without it v2 is disabled on this server. */
  audience?: string;
  /** Refuse v1 (for destructive routes, or keys registered as v2-only). */
  requireV2?: boolean;
}

/** Verifies a request with v1 (no X-Auth-Version) or v2 (`X-Auth-Version: 2`); throws VIGIL_AUTH_* errors. */
export function verifyRequest(req: SignedRequest, opts: VerifyRequestOptions): VerifiedSigner {
  const version = headerValue(req.headers, 'X-Auth-Version');
  if (version === undefined) {
    if (opts.requireV2 === true) {
      throw new VigilError('VIGIL_AUTH_VERSION', 'this request needs a v2 signature (X-Auth-Version: 2)', { context: { version: 1, required: 2 } });
    }
    return verifyV1(req, opts);
  }
  if (version !== '2' || opts.audience === undefined) {
    throw new VigilError('VIGIL_AUTH_VERSION', `X-Auth-Version ${JSON.stringify(version)} is not accepted by this server`, {
      context: { version, required: opts.audience === undefined ? 1 : 2 },
    });
  }
  return verifyV2(req, { ...opts, audience: opts.audience });
}
