/**
 * The REST API (fastify): signed requests (seed 003's v1, Vigil's v2), per-VM roles, one error mapper, an
 * OpenAPI document built from the same route specs that register the routes. Handlers only parse and call the
 * services; they never talk to QEMU.
 */
import fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import { loadRecoverer, type Recoverer } from '../auth/recover.js';
import { ReplayCache } from '../auth/replay-cache.js';
import { TokenBucketLimiter, rateLimitKey } from '../auth/rate-limit.js';
import { verifyRequest } from '../auth/verify.js';
import { AccessControl, type Caller } from '../auth/roles.js';
import { VigilError, toVigilError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { AccessRepo } from '../store/access-repo.js';
import { SessionRepo } from '../store/session-repo.js';
import { SiweVerifier } from '../auth/siwe.js';
import { SESSION_COOKIE } from './routes/session.js';
import type { Vigil } from '../vigil.js';
import type { VmSupervisor } from '../vm/supervisor.js';
import { KillswitchEngine } from '../killswitch/engine.js';
import { LinuxViews } from '../vmi/os/linux/views.js';
import type { HostAgent } from '../host/agent.js';
import { RAW, type ApiDeps, type RouteSpec } from './context.js';
import { EventBus } from './event-bus.js';
import { clientIp } from './client-ip.js';
import { httpStatusFor } from './http-errors.js';
import { OpenApiBuilder } from './openapi.js';
import { installBodyParsers } from './raw-body.js';
import { allRoutes } from './routes/index.js';
import { registerEvents } from './routes/events.js';
import { registerConsole } from './routes/console.js';
import { registerVmiEvents } from './routes/vmi-events.js';
import { dashboardDir, registerDashboard } from './static.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller of a signed route. */
    caller: Caller | undefined;
    /** The session token used instead of a signature. */
    sessionToken: string | undefined;
  }
}

/** API settings. */
export interface ApiOptions {
  vigil: Vigil;
  logger: Logger;
  supervisor?: VmSupervisor | undefined;
  /** The host agent (vigild's). */
  host?: HostAgent | undefined;
  /** The kill switch (vigild's); its routes answer 503-style errors without one. */
  killswitch?: KillswitchEngine | undefined;
  /** Accepted clock skew for X-Timestamp (default 300 s). */
  windowSec?: number;
  /** host:port that v2 signatures name; without it v2 is refused. */
  audience?: string | undefined;
  /** Refuse v1 signatures and sessions on destructive requests (DELETE, QMP with allowDangerous). */
  requireV2ForDestructive?: boolean;
  /** Force a recovery backend (tests of both paths). */
  recoverer?: Recoverer;
  /**
   * Signatures remembered for replay protection (default 2,000,000: 3,000 signed requests/s sustained over twice
   * a 300 s window is 1.8 million). When full, new signatures are refused rather than old ones forgotten.
   */
  replayCacheEntries?: number;
  /** Largest accepted body (default 1 MiB). */
  bodyLimit?: number;
  /** Per-IP requests per second before signature recovery (default 500/s, burst 1000). */
  ratePerSec?: number;
  imagesDir: string;
}

/** The API with its pieces, for vigild and tests. */
export interface Api {
  app: FastifyInstance;
  deps: ApiDeps;
  recoverer: Recoverer;
  /**
   * A lockdown's "API on the local socket only": from now on requests that did not come over a Unix socket are
   * refused, the TCP listener stops accepting, and its idle connections are closed.
   */
  restrictToLocalSocket(reason: string): void;
}

function sendError(reply: FastifyReply, err: unknown, log: Logger): void {
  const ve = toVigilError(err);
  const status = httpStatusFor(ve.code);
  if (status === 429) void reply.header('retry-after', String(typeof ve.context.retryAfterSec === 'number' ? Math.ceil(ve.context.retryAfterSec) : 1));
  if (status >= 500) log.error({ code: ve.code, err: ve.message, cause: ve.cause instanceof Error ? ve.cause.message : undefined }, 'API request failed');
  void reply.code(status).send({ error: { code: ve.code, message: ve.message } });
}

/** Builds the API (not yet listening). */
export async function buildApi(options: ApiOptions): Promise<Api> {
  const log = options.logger.child({ mod: 'api' });
  const windowSec = options.windowSec ?? 300;
  const recoverer = options.recoverer ?? loadRecoverer({ onFallback: (reason) => log.warn({ reason }, 'native secp256k1 unavailable; using the pure-JS fallback (slower)') });
  const replay = new ReplayCache({ windowSec, maxEntries: options.replayCacheEntries ?? 2_000_000 });
  const limiter = new TokenBucketLimiter({ ratePerSec: options.ratePerSec ?? 500, burst: (options.ratePerSec ?? 500) * 2 });
  const accessRepo = new AccessRepo(options.vigil.db);
  const deps: ApiDeps = {
    vigil: options.vigil,
    access: new AccessControl(accessRepo),
    accessRepo,
    logger: log,
    events: new EventBus(),
    sessions: new SessionRepo(options.vigil.db),
    siwe: new SiweVerifier(recoverer),
    challengeLimiter: new TokenBucketLimiter({ ratePerSec: 2, burst: 20 }),
    supervisor: options.supervisor,
    killswitch:
      options.killswitch ??
      new KillswitchEngine({ db: options.vigil.db, vms: options.vigil.vms, audit: options.vigil.audit, paths: options.vigil.paths, logger: options.logger }),
    imagesDir: options.imagesDir,
    host: options.host,
    linux: new LinuxViews({ paths: options.vigil.paths, store: options.vigil.db }),
  };
  const bodyLimit = options.bodyLimit ?? 1024 * 1024;
  const app = fastify({ logger: false, bodyLimit, return503OnClosing: true });
  installBodyParsers(app, bodyLimit);
  app.decorateRequest('caller', undefined);
  app.decorateRequest('sessionToken', undefined);
  await app.register(websocket);
  app.addHook('onClose', () => deps.linux.close());
  let restricted: string | undefined;
  // A Unix socket peer has no remote address; anything else is TCP.
  app.addHook('onRequest', (req, reply, done) => {
    if (restricted === undefined || req.socket.remoteAddress === undefined) return done();
    void reply.header('connection', 'close');
    sendError(reply, new VigilError('VIGIL_FORBIDDEN', `the API serves only its local socket since a lockdown (${restricted})`), log);
  });

  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof VigilError) return sendError(reply, err, log);
    const e = err as { statusCode?: number; code?: string; message: string };
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendError(reply, new VigilError('VIGIL_INVALID_INPUT', `body is larger than ${bodyLimit} bytes`), log);
    if (e.statusCode !== undefined && e.statusCode < 500) return sendError(reply, new VigilError('VIGIL_INVALID_INPUT', e.message), log);
    sendError(reply, err, log);
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, new VigilError('VIGIL_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`), log));

  const audit = (req: FastifyRequest, err: VigilError, principal: string): void => {
    const params = req.params as Record<string, string> | undefined;
    try {
      options.vigil.audit.append({
        time: new Date(),
        kind: 'api',
        vm: params?.id ?? '-',
        principal,
        command: `${req.method} ${req.routeOptions.url ?? req.url}`,
        args: {},
        class: 'api',
        outcome: 'refused',
        reason: err.message,
        error: err.code,
        durationMs: 0,
      });
    } catch (auditErr) {
      log.error({ err: String(auditErr) }, 'could not audit a refusal');
    }
  };

  // Refusals of unauthenticated requests are audited, but no faster than this per client: a flood of garbage
  // must not be able to fill the audit log.
  const auditLimiter = new TokenBucketLimiter({ ratePerSec: 5, burst: 50 });

  /** True when `origin` is the server the request was sent to (scheme and host as the browser addressed it). */
  const sameOrigin = (origin: string, req: FastifyRequest): boolean => {
    try {
      return new URL(origin).host === (req.headers.host ?? '');
    } catch {
      return false;
    }
  };

  /** A session token from `Authorization: Bearer` or the session cookie, if the request carries one. */
  const sessionTokenOf = (req: FastifyRequest): string | undefined => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (bearer) return bearer;
    const cookie = (req.headers.cookie ?? '').split(';').map((c) => c.trim()).find((c) => c.startsWith(`${SESSION_COOKIE}=`));
    return cookie ? cookie.slice(SESSION_COOKIE.length + 1) || undefined : undefined;
  };

  /** Verifies the signature (or the session token) and resolves the caller; refusals are audited. */
  const authenticate = (req: FastifyRequest, destructive: boolean): void => {
    const token = req.headers['x-signature'] === undefined && req.headers['x-auth-version'] === undefined ? sessionTokenOf(req) : undefined;
    if (token !== undefined) {
      const session = deps.sessions.lookup(token);
      if (!session) {
        const err = new VigilError('VIGIL_AUTH_EXPIRED', 'the session is unknown, expired or revoked; sign in again');
        if (auditLimiter.take(rateLimitKey(clientIp(req)), Date.now() / 1000)) audit(req, err, `ip:${clientIp(req)}`);
        throw err;
      }
      if (destructive && options.requireV2ForDestructive === true) {
        throw new VigilError('VIGIL_AUTH_VERSION', 'this request needs a v2 signature (X-Auth-Version: 2); sessions cannot make it', { context: { required: 2 } });
      }
      // A cookie is sent by the browser whichever page asks, including another origin on the same site (another
      // port on localhost): a cookie-authenticated request from a page that is not the dashboard is refused. A GET
      // is safe to answer, except a WebSocket upgrade, which is a live channel (console, events).
      const viaCookie = !/^Bearer\s/i.test(req.headers.authorization ?? '');
      const origin = req.headers.origin;
      const upgrade = (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
      if (viaCookie && origin !== undefined && (req.method !== 'GET' || upgrade) && !sameOrigin(origin, req)) {
        const err = new VigilError('VIGIL_FORBIDDEN', `a session cookie is accepted only from the dashboard's own origin, not ${origin}`);
        if (auditLimiter.take(rateLimitKey(clientIp(req)), Date.now() / 1000)) audit(req, err, session.address);
        throw err;
      }
      req.caller = deps.access.caller(session.address);
      req.sessionToken = token;
      return;
    }
    try {
      const signer = verifyRequest(
        { method: req.method, rawPath: req.raw.url ?? req.url, headers: req.headers as Record<string, string | undefined>, rawBody: req.rawBody },
        {
          now: Date.now() / 1000,
          windowSec,
          recoverer,
          replay,
          isKnownSigner: (address) => accessRepo.principal(address) !== undefined,
          rateLimit: { limiter, key: rateLimitKey(clientIp(req)) },
          ...(options.audience ? { audience: options.audience } : {}),
          requireV2: destructive && options.requireV2ForDestructive === true,
        },
      );
      req.caller = deps.access.caller(signer.address);
    } catch (err) {
      const ve = toVigilError(err);
      if (auditLimiter.take(rateLimitKey(clientIp(req)), Date.now() / 1000)) audit(req, ve, `ip:${clientIp(req)}`);
      throw ve;
    }
  };

  const openapi = new OpenApiBuilder();
  const register = <B>(spec: RouteSpec<B>): void => {
    openapi.add(spec);
    for (const url of [spec.url, ...(spec.aliases ?? [])]) {
      app.route({
        method: spec.method,
        url,
        handler: async (req, reply) => {
          // Destructive: deleting, and dangerous QMP (allowDangerous); v2 may be required for these.
          const destructive = spec.method === 'DELETE' || (spec.url.endsWith('/qmp') && (req.body as { allowDangerous?: unknown } | undefined)?.allowDangerous === true);
          if (spec.auth === 'signed') authenticate(req, destructive);
          let body = req.body as B;
          if (spec.body) {
            const parsed = spec.body.safeParse(req.body ?? {});
            if (!parsed.success) {
              const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`);
              throw new VigilError('VIGIL_INVALID_INPUT', `request body: ${problems.join('; ')}`, { context: { field: 'body', problems } });
            }
            body = parsed.data;
          }
          try {
            const result = await spec.handler({
              req,
              reply,
              sessionToken: req.sessionToken,
              caller: req.caller,
              body,
              params: req.params as Record<string, string>,
              query: req.query as Record<string, string | undefined>,
              deps,
            });
            void reply.code(spec.status ?? 200);
            if (typeof result === 'object' && result !== null && RAW in result) {
              const raw = result as { [RAW]: string; contentType: string };
              return reply.type(raw.contentType).send(raw[RAW]);
            }
            return result ?? {};
          } catch (err) {
            const ve = toVigilError(err);
            if ((ve.code === 'VIGIL_FORBIDDEN' || ve.code === 'VIGIL_GUARD_REFUSED' || ve.code === 'VIGIL_NOT_FOUND') && req.caller) audit(req, ve, req.caller.address);
            throw ve;
          }
        },
      });
    }
  };
  for (const spec of allRoutes()) register(spec);
  app.get('/openapi.json', () => openapi.document());
  registerEvents(app, deps, (req) => authenticate(req, false));
  registerConsole(app, deps, (req) => authenticate(req, false));
  registerVmiEvents(app, deps, (req) => authenticate(req, false));
  registerDashboard(app, dashboardDir());

  // State changes made through this process's services reach /events subscribers.
  // A VM that stops leaves no attached kernel behind (its RAM file would stay allocated while the fd is open).
  options.vigil.vms.onStateChange((e) => {
    if (e.to !== 'running' && e.to !== 'paused') void deps.linux.forget(e.vm);
  });
  options.vigil.vms.onStateChange((e) => deps.events.publish({ type: 'vm-state', vm: e.vm, time: e.time, data: { from: e.from, to: e.to, reason: e.reason } }));
  options.vigil.audit.onAppend((row) => deps.events.publish({ type: 'audit', vm: row.vm === '-' ? '' : row.vm, time: row.time, data: { ...row } }));
  options.host?.onEvent((e) => deps.events.publish({ type: 'host', vm: '', time: new Date().toISOString(), data: { ...e } }));
  deps.killswitch.onChange((status) =>
    deps.events.publish({ type: 'killswitch', vm: '', time: status.updatedAt, data: { state: status.state, inFlight: status.inFlight, trigger: status.trigger } }),
  );
  options.supervisor?.onQmpEvent((vm, event) => deps.events.publish({ type: 'qmp-event', vm, time: new Date().toISOString(), data: { ...event } }));
  return {
    app,
    deps,
    recoverer,
    restrictToLocalSocket(reason) {
      restricted = reason;
      // Upgraded sockets (console, /events, vCPU events) are past onRequest: close the ones that came over TCP.
      for (const client of app.websocketServer.clients) {
        const raw = (client as unknown as { _socket?: { remoteAddress?: string } })._socket;
        if (raw?.remoteAddress !== undefined) client.close(1008, 'the API serves only its local socket');
      }
      if (!app.server.listening) return;
      app.server.close();
      app.server.closeIdleConnections();
    },
  };
}
