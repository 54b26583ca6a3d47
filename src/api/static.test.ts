/** The dashboard's static serving: exact asset paths only, cache headers by kind, the CSP on every reply. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fastify from 'fastify';
import { DASHBOARD_CSP, registerDashboard } from './static.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-web-'));
after(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'assets'));
writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Vigil</title>');
writeFileSync(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
writeFileSync(join(dir, 'assets', 'index-abc123.js.map'), '{}');
writeFileSync(join(dir, 'secret.txt'), 'not an asset?');

test('index.html at / is revalidated, hashed assets are immutable, both carry the CSP', async () => {
  const app = fastify();
  registerDashboard(app, dir);
  const index = await app.inject({ method: 'GET', url: '/' });
  assert.equal(index.statusCode, 200);
  assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(index.headers['cache-control'], 'no-cache');
  assert.equal(index.headers['content-security-policy'], DASHBOARD_CSP);
  assert.equal(index.headers['x-content-type-options'], 'nosniff');
  const js = await app.inject({ method: 'GET', url: '/assets/index-abc123.js' });
  assert.equal(js.statusCode, 200);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal((await app.inject({ method: 'GET', url: '/assets/index-abc123.js.map' })).statusCode, 404, 'source maps are not served');
  assert.equal((await app.inject({ method: 'GET', url: '/assets/../index.html' })).statusCode, 404, 'dot segments match no asset');
  assert.equal((await app.inject({ method: 'GET', url: '/assets/nothing.js' })).statusCode, 404, 'only files of the build');
  assert.equal((await app.inject({ method: 'GET', url: '/%2e%2e/%2e%2e/etc/passwd' })).statusCode, 404, 'no path reaches the file system');
  await app.close();
});

test('the CSP allows scripts only from this origin, no eval, no framing', () => {
  assert.match(DASHBOARD_CSP, /script-src 'self'(;|$)/);
  assert.doesNotMatch(DASHBOARD_CSP, /unsafe-eval/);
  assert.match(DASHBOARD_CSP, /object-src 'none'/);
  assert.match(DASHBOARD_CSP, /frame-ancestors 'none'/);
});

test('without a build, / says how to make one', async () => {
  const app = fastify();
  registerDashboard(app, undefined);
  const res = await app.inject({ method: 'GET', url: '/' });
  assert.equal(res.statusCode, 503);
  assert.match(res.body, /npm run build:web/);
  await app.close();
});
