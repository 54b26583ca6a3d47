/** Dashboard login: Sign-In with Ethereum -> a short-lived, revocable session token (HttpOnly cookie or bearer). */
import { ADDRESS_PATTERN } from '../../auth/eip191.js';
import { z } from 'zod';
import { rateLimitKey } from '../../auth/rate-limit.js';
import { clientIp } from '../client-ip.js';
import { VigilError } from '../../core/errors.js';
import { callerOf, type RouteContext, type RouteSpec } from '../context.js';

const challengeBody = z.strictObject({ address: z.string().regex(ADDRESS_PATTERN, 'an address is 0x followed by 40 hex digits') });
const loginBody = z.strictObject({ message: z.string().min(1).max(4000), signature: z.string().min(1).max(200) });

/** Session lifetime. */
export const SESSION_TTL_SEC = 8 * 3600;
/** The cookie that carries the session token. */
export const SESSION_COOKIE = 'vigil_session';

/** The login routes. */
export function sessionRoutes(): RouteSpec[] {
  const routes: RouteSpec[] = [
    {
      method: 'POST',
      url: '/auth/challenge',
      summary: 'a Sign-In with Ethereum (EIP-4361) message to personal-sign (unsigned)',
      tag: 'auth',
      auth: 'none',
      body: challengeBody,
      handler: (ctx: RouteContext<z.infer<typeof challengeBody>>) => {
        // Unsigned and cheap to ask for: limit it per client so no one can crowd out everyone's sign-in.
        if (!ctx.deps.challengeLimiter.take(rateLimitKey(clientIp(ctx.req)), Date.now() / 1000)) {
          throw new VigilError('VIGIL_RATE_LIMITED', 'too many sign-in challenges from this client; try again in a few seconds', { context: { retryAfterSec: 5 } });
        }
        const host = ctx.req.headers.host ?? 'localhost';
        const c = ctx.deps.siwe.challenge(ctx.body.address, host, `http://${host}/`);
        return { message: c.message, nonce: c.nonce, expiresAt: new Date(c.expiresAt).toISOString() };
      },
    },
    {
      method: 'POST',
      url: '/auth/login',
      summary: 'redeem a signed challenge for a session token (also set as an HttpOnly cookie)',
      tag: 'auth',
      auth: 'none',
      body: loginBody,
      handler: (ctx: RouteContext<z.infer<typeof loginBody>>) => {
        const address = ctx.deps.siwe.redeem(ctx.body.message, ctx.body.signature);
        if (!ctx.deps.accessRepo.principal(address)) throw new VigilError('VIGIL_FORBIDDEN', `${address} is not registered on this host; ask an admin to add it`);
        const session = ctx.deps.sessions.create(address, SESSION_TTL_SEC);
        ctx.reply.header('set-cookie', `${SESSION_COOKIE}=${session.token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_TTL_SEC}`);
        return { address, token: session.token, expiresAt: session.expiresAt };
      },
    },
    {
      method: 'POST',
      url: '/auth/logout',
      summary: 'revoke the current session (or, with a signed request, every session of the caller)',
      tag: 'auth',
      auth: 'signed',
      handler: (ctx) => {
        const caller = callerOf(ctx);
        const revoked = ctx.sessionToken ? (ctx.deps.sessions.revoke(ctx.sessionToken) ? 1 : 0) : ctx.deps.sessions.revokeAll(caller.address);
        ctx.reply.header('set-cookie', `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`);
        return { revoked };
      },
    },
  ];
  return routes;
}
