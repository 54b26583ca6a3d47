/**
 * The dashboard's built assets (Vite's output, dist/web) served at `/`. The file set is read once at start and
 * kept in memory: a few hundred KiB, no path from the request ever reaches the file system, and API routes
 * keep precedence because only the exact asset paths (and `/`) are registered. Hashed assets are cached for a
 * year; index.html is revalidated every time so a new build is picked up at once. Every reply carries a strict
 * Content-Security-Policy: scripts only from this origin, no inline script, no eval, no framing.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * script-src stays 'self' only. style-src allows inline styles because xterm.js sizes its rows and writes its
 * theme through a style element it creates at run time; styles cannot run script.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

/** Where the built dashboard is: beside the compiled API (dist/api -> dist/web) or, from source, in dist/web. */
export function dashboardDir(): string | undefined {
  const candidates = [fileURLToPath(new URL('../web/', import.meta.url)), fileURLToPath(new URL('../../dist/web/', import.meta.url))];
  return candidates.find((d) => existsSync(join(d, 'index.html')));
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...filesUnder(full));
    else out.push(full);
  }
  return out;
}

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY');
}

/** Registers `/` and each asset of the built dashboard; without a build, `/` says how to make one. */
export function registerDashboard(app: FastifyInstance, dir: string | undefined): void {
  if (dir === undefined) {
    app.get('/', (_req, reply) =>
      securityHeaders(reply).code(503).type('text/plain; charset=utf-8').send('The Vigil dashboard is not built. Run `npm run build:web` (or `make setup`) and restart vigild.\n'),
    );
    return;
  }
  for (const file of filesUnder(dir)) {
    const rel = relative(dir, file).split(sep).join('/');
    if (rel.endsWith('.map')) continue;
    const body = readFileSync(file);
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    // Vite names everything under assets/ by content hash: safe to cache forever.
    const cache = rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
    const send = (_req: unknown, reply: FastifyReply): FastifyReply => securityHeaders(reply).header('cache-control', cache).type(type).send(body);
    if (rel === 'index.html') app.get('/', send);
    else app.get(`/${rel}`, send);
  }
}
