/**
 * The image routes over signed HTTP with real qemu-img (no QEMU guest): any registered principal lists images;
 * creating and converting need Manager on some VM or host admin; deleting an image a VM definition names needs
 * Owner on that VM.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Wallet } from 'ethers';
import { buildApi, type Api } from '../../src/api/server.js';
import { silentLogger } from '../../src/core/log.js';
import { AccessRepo } from '../../src/store/access-repo.js';
import { vmDefinitionSchema } from '../../src/vm/definition/schema.js';
import { Vigil } from '../../src/vigil.js';
import { PyClient } from '../helpers/api-client.js';
import { testHome, type TestHome } from '../helpers/vigil-home.js';

let h: TestHome;
let vigil: Vigil;
let api: Api;
let dir: string;
let admin: PyClient;
let manager: PyClient;
let reader: PyClient;
let stranger: PyClient;

before(async () => {
  h = await testHome();
  dir = join(h.home, 'images');
  mkdirSync(dir);
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  api = await buildApi({ vigil, logger: silentLogger, imagesDir: dir });
  const url = await api.app.listen({ host: '127.0.0.1', port: 0 });
  const mk = (): PyClient => new PyClient(url, Wallet.createRandom().privateKey);
  [admin, manager, reader, stranger] = [mk(), mk(), mk(), mk()];
  const repo = new AccessRepo(vigil.db);
  repo.upsertPrincipal(admin.address, 'admin');
  repo.upsertPrincipal(manager.address, null);
  repo.upsertPrincipal(reader.address, null);
  vigil.define(vmDefinitionSchema.parse({ name: 'web', memory: '64M', accel: 'tcg', disks: [{ file: join(dir, 'web.qcow2') }] }));
  repo.grant('web', manager.address, 'Manager', admin.address);
  repo.grant('web', reader.address, 'ReadOnly', admin.address);
});

after(async () => {
  await api?.app.close();
  vigil?.close();
});

test('create and convert need Manager on some VM (or host admin); listing needs a registered principal', async () => {
  assert.equal((await reader.call('POST', '/images', { name: 'r.qcow2', size: '1M' })).status, 403);
  const made = await manager.call('POST', '/images', { name: 'web.qcow2', size: '8M', format: 'qcow2' });
  assert.equal(made.status, 201, made.text);
  assert.equal(made.body.format, 'qcow2');
  assert.equal((await admin.call('POST', '/images', { name: 'scratch.raw', size: 1048576, format: 'raw' })).status, 201);
  const bad = await admin.call('POST', '/images', { name: '../x.raw', size: '1M', format: 'raw' });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error!.message, /images directory/);

  const list = await reader.call('GET', '/images');
  assert.equal(list.status, 200);
  const images = list.body.images as { name: string; format: string; definedIn: string[] }[];
  assert.deepEqual(images.map((i) => [i.name, i.format, i.definedIn]), [['scratch.raw', 'raw', []], ['web.qcow2', 'qcow2', ['web']]]);
  assert.equal((await stranger.call('GET', '/images')).status, 401, 'an unknown signer is not authenticated');
  assert.equal((await reader.call('GET', '/images/web.qcow2')).body.virtualSize, 8 * 1024 * 1024);

  assert.equal((await reader.call('POST', '/images/web.qcow2/convert', { dst: 'web.raw', format: 'raw' })).status, 403);
  const conv = await manager.call('POST', '/images/web.qcow2/convert', { dst: 'web.raw', format: 'raw' });
  assert.equal(conv.status, 201, conv.text);
  assert.equal(conv.body.format, 'raw');
});

test("deleting an image a VM's definition names needs Owner on that VM", async () => {
  const refused = await manager.call('DELETE', '/images/web.qcow2');
  assert.equal(refused.status, 403);
  assert.match(refused.body.error!.message, /Owner role on every VM that uses it \(web\)/);
  assert.equal((await manager.call('DELETE', '/images/web.raw')).status, 200, 'an image no VM names: Manager is enough');
  assert.equal((await admin.call('DELETE', '/images/web.qcow2')).status, 200);
  assert.equal(existsSync(join(dir, 'web.qcow2')), false);
  assert.equal((await admin.call('DELETE', '/images/web.qcow2')).status, 404);
});
