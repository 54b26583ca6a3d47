/**
 * The role matrix, table-driven: every VM route x every role x (own VM, team VM, foreign VM). No QEMU runs:
 * a permitted call fails later for a reason that is not about permission (a missing disk, a stopped VM), so
 * the status tells permission apart without side effects. Also: v2 signatures, v2-only destructive routes,
 * Sign-In with Ethereum sessions, and the pure-JS recovery backend.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Wallet } from 'ethers';
import { jsRecoverer } from '../../src/auth/recover.js';
import { VM_ROLES, type VmRole } from '../../src/auth/roles.js';
import { signRequestV2 } from '../../src/auth/sign-request.js';
import { buildApi, type Api } from '../../src/api/server.js';
import { silentLogger } from '../../src/core/log.js';
import { AccessRepo } from '../../src/store/access-repo.js';
import { vmDefinitionSchema } from '../../src/vm/definition/schema.js';
import { Vigil } from '../../src/vigil.js';
import { PyClient, type Reply } from '../helpers/api-client.js';
import { testHome, type TestHome } from '../helpers/vigil-home.js';

let h: TestHome;
let vigil: Vigil;
let api: Api;
let url: string;
let repo: AccessRepo;
const users = new Map<VmRole, PyClient>();
let owner: PyClient;

type Relation = 'own' | 'team' | 'foreign';
const vmOf = (role: VmRole, rel: Relation): string => (rel === 'foreign' ? 'foreign' : `${rel}-${role}`.toLowerCase());

/** Puts the world back as the matrix expects it (a permitted DELETE removes a VM). */
function ensureWorld(): void {
  const names = ['foreign', ...VM_ROLES.flatMap((r) => [vmOf(r, 'own'), vmOf(r, 'team')])];
  for (const name of names) {
    try {
      vigil.vms.get(name);
    } catch {
      // A disk that is not there: a permitted start fails with 422 after the role check, and no QEMU runs.
      vigil.define(vmDefinitionSchema.parse({ name, memory: '64M', accel: 'tcg', disks: [{ file: `/nonexistent/${name}.qcow2` }] }));
    }
    repo.grant(name, owner.address, 'Owner', owner.address);
  }
  for (const role of VM_ROLES) {
    const u = users.get(role)!;
    repo.grant(vmOf(role, 'own'), u.address, role, owner.address);
    if (!repo.teamExists(`t-${role}`)) repo.createTeam(`t-${role}`, owner.address);
    repo.setMember(`t-${role}`, u.address, false);
    repo.grant(vmOf(role, 'team'), `team:t-${role}`, role, owner.address);
    for (const rel of ['own', 'team'] as const) repo.grant(vmOf(role, rel), '0x000000000000000000000000000000000000dead', 'ReadOnly', owner.address);
  }
}

interface RouteCase {
  name: string;
  need: VmRole;
  call: (c: PyClient, vm: string) => Promise<Reply>;
}

const ROUTES: RouteCase[] = [
  { name: 'GET /vms/:id', need: 'ReadOnly', call: (c, vm) => c.call('GET', `/vms/${vm}`) },
  { name: 'POST start', need: 'Operator', call: (c, vm) => c.call('POST', `/vms/${vm}/start`) },
  { name: 'POST stop', need: 'Operator', call: (c, vm) => c.call('POST', `/vms/${vm}/stop`, { force: true }) },
  { name: 'POST restart', need: 'Operator', call: (c, vm) => c.call('POST', `/vms/${vm}/restart`) },
  { name: 'POST pause', need: 'Operator', call: (c, vm) => c.call('POST', `/vms/${vm}/pause`) },
  { name: 'POST resume', need: 'Operator', call: (c, vm) => c.call('POST', `/vms/${vm}/resume`) },
  { name: 'POST reset', need: 'Operator', call: (c, vm) => c.call('POST', `/vms/${vm}/reset`) },
  { name: 'GET logs', need: 'Operator', call: (c, vm) => c.call('GET', `/vms/${vm}/logs`) },
  { name: 'PATCH', need: 'Manager', call: (c, vm) => c.call('PATCH', `/vms/${vm}`, { description: `by ${c.address}` }) },
  { name: 'POST qmp', need: 'Manager', call: (c, vm) => c.call('POST', `/vms/${vm}/qmp`, { command: 'query-status' }) },
  { name: 'GET permissions', need: 'Owner', call: (c, vm) => c.call('GET', `/vms/${vm}/permissions`) },
  { name: 'PUT permissions', need: 'Owner', call: (c, vm) => c.call('PUT', `/vms/${vm}/permissions`, { subject: '0x000000000000000000000000000000000000beef', role: 'ReadOnly' }) },
  { name: 'DELETE permissions', need: 'Owner', call: (c, vm) => c.call('DELETE', `/vms/${vm}/permissions`, { subject: '0x000000000000000000000000000000000000dead' }) },
  { name: 'GET snapshots', need: 'ReadOnly', call: (c, vm) => c.call('GET', `/vms/${vm}/snapshots`) },
  { name: 'POST snapshot', need: 'Manager', call: (c, vm) => c.call('POST', `/vms/${vm}/snapshots`, { name: 's1' }) },
  { name: 'POST snapshot restore', need: 'Manager', call: (c, vm) => c.call('POST', `/vms/${vm}/snapshots/s1/restore`) },
  { name: 'DELETE snapshot', need: 'Manager', call: (c, vm) => c.call('DELETE', `/vms/${vm}/snapshots/s1`) },
  { name: 'GET stats', need: 'ReadOnly', call: (c, vm) => c.call('GET', `/vms/${vm}/stats`) },
  { name: 'DELETE vm', need: 'Owner', call: (c, vm) => c.call('DELETE', `/vms/${vm}`) },
];

before(async () => {
  h = await testHome();
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  api = await buildApi({ vigil, logger: silentLogger, imagesDir: h.home, audience: 'vigil.test:3003', requireV2ForDestructive: false });
  url = await api.app.listen({ host: '127.0.0.1', port: 0 });
  repo = new AccessRepo(vigil.db);
  owner = new PyClient(url, Wallet.createRandom().privateKey);
  repo.upsertPrincipal(owner.address, null);
  for (const role of VM_ROLES) {
    const c = new PyClient(url, Wallet.createRandom().privateKey);
    users.set(role, c);
    repo.upsertPrincipal(c.address, null);
  }
});

after(async () => {
  await api?.app.close();
  vigil?.close();
});

test('role matrix: every route x every role x (own, team, foreign)', async () => {
  const failures: string[] = [];
  let cells = 0;
  for (const route of ROUTES) {
    for (const role of VM_ROLES) {
      for (const rel of ['own', 'team', 'foreign'] as Relation[]) {
        ensureWorld();
        const vm = vmOf(role, rel);
        const res = await route.call(users.get(role)!, vm);
        cells += 1;
        const allowed = rel !== 'foreign' && VM_ROLES.indexOf(role) >= VM_ROLES.indexOf(route.need);
        const expect = rel === 'foreign' ? 'a 404 (the VM must look absent)' : allowed ? 'permitted (not 401/403/404)' : 'a 403';
        const ok = rel === 'foreign' ? res.status === 404 : allowed ? ![401, 403, 404].includes(res.status) : res.status === 403;
        if (!ok) failures.push(`${route.name} as ${role} on ${rel} VM: got ${res.status} ${res.body.error?.code ?? ''}, expected ${expect}`);
      }
    }
  }
  assert.equal(cells, ROUTES.length * 4 * 3);
  assert.deepEqual(failures, []);
});

test('a permitted start on a VM whose disk is missing fails with 422 and names the disk', async () => {
  ensureWorld();
  const res = await users.get('Operator')!.call('POST', '/vms/own-operator/start');
  assert.equal(res.status, 422);
  assert.match(res.body.error!.message, /disks\.0\.file: \/nonexistent\/own-operator\.qcow2/);
});

test('v2 signatures: accepted for the configured audience, refused for another or when replayed', async () => {
  ensureWorld();
  const key = Wallet.createRandom();
  repo.upsertPrincipal(key.address, null);
  repo.grant('foreign', key.address, 'ReadOnly', owner.address);
  const send = async (headers: Record<string, string>, path = '/vms/foreign'): Promise<Response> => fetch(url + path, { headers });
  const now = Date.now() / 1000;
  const good = signRequestV2(key.privateKey, { method: 'GET', audience: 'vigil.test:3003', path: '/vms/foreign' }, now);
  assert.equal((await send(good)).status, 200);
  assert.equal((await send(good)).status, 401, 'same nonce twice');
  const other = signRequestV2(key.privateKey, { method: 'GET', audience: 'elsewhere:3003', path: '/vms/foreign' }, now);
  assert.equal((await send(other)).status, 401);
});

test('Sign-In with Ethereum: challenge, login, session by bearer and cookie, logout revokes', async () => {
  ensureWorld();
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  repo.upsertPrincipal(wallet.address, null);
  repo.grant('foreign', wallet.address, 'Operator', owner.address);
  const post = (path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const challenge = (await (await post('/auth/challenge', { address: wallet.address })).json()) as { message: string };
  assert.match(challenge.message, /wants you to sign in with your Ethereum account:\n0x/);
  const login = await post('/auth/login', { message: challenge.message, signature: await wallet.signMessage(challenge.message) });
  assert.equal(login.status, 200);
  const { token } = (await login.json()) as { token: string };
  assert.match(login.headers.get('set-cookie') ?? '', /vigil_session=.*HttpOnly/);
  const reuse = await post('/auth/login', { message: challenge.message, signature: await wallet.signMessage(challenge.message) });
  assert.equal(reuse.status, 401, 'a nonce works once');
  const list = await fetch(`${url}/vms`, { headers: { authorization: `Bearer ${token}` } });
  assert.deepEqual(((await list.json()) as { vms: { id: string }[] }).vms.map((v) => v.id), ['foreign']);
  assert.equal((await fetch(`${url}/vms`, { headers: { cookie: `vigil_session=${token}` } })).status, 200);
  // The cookie from another origin on the same site (another localhost port): refused for anything but a plain GET.
  const host = new URL(url).host;
  const foreign = await fetch(`${url}/vms/foreign/pause`, { method: 'POST', headers: { cookie: `vigil_session=${token}`, origin: 'http://localhost:8080' } });
  assert.equal(foreign.status, 403);
  assert.match(((await foreign.json()) as { error: { message: string } }).error.message, /only from the dashboard's own origin/);
  assert.equal((await fetch(`${url}/vms`, { headers: { cookie: `vigil_session=${token}`, origin: 'http://localhost:8080' } })).status, 200, 'a plain GET');
  const own = await fetch(`${url}/vms/nosuchvm/pause`, { method: 'POST', headers: { cookie: `vigil_session=${token}`, origin: `http://${host}` } });
  assert.notEqual(own.status, 403, 'the dashboard itself is not refused');
  assert.equal((await post('/auth/logout', {}, { authorization: `Bearer ${token}` })).status, 200);
  assert.equal((await fetch(`${url}/vms`, { headers: { authorization: `Bearer ${token}` } })).status, 401);
  const stranger = new Wallet(Wallet.createRandom().privateKey);
  const c2 = (await (await post('/auth/challenge', { address: stranger.address })).json()) as { message: string };
  assert.equal((await post('/auth/login', { message: c2.message, signature: await stranger.signMessage(c2.message) })).status, 403, 'unregistered addresses cannot sign in');
  // Challenges are unsigned: one client cannot ask for them without limit.
  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) statuses.push((await post('/auth/challenge', { address: stranger.address })).status);
  assert.ok(statuses.includes(429));
  const limited = await post('/auth/challenge', { address: stranger.address });
  assert.equal(limited.status, 429);
  assert.ok(limited.headers.get('retry-after'));
});

test('the pure-JS recovery backend serves the same API; v2 can be required for destructive routes', async () => {
  const strict = await buildApi({ vigil, logger: silentLogger, imagesDir: h.home, recoverer: jsRecoverer(), audience: 'strict:1', requireV2ForDestructive: true });
  const strictUrl = await strict.app.listen({ host: '127.0.0.1', port: 0 });
  try {
    assert.equal(strict.recoverer.name, 'js');
    ensureWorld();
    const c = new PyClient(strictUrl, Wallet.createRandom().privateKey);
    repo.upsertPrincipal(c.address, null);
    repo.grant('foreign', c.address, 'Owner', owner.address);
    assert.equal((await c.call('GET', '/vms/foreign')).status, 200);
    const v1Delete = await c.call('DELETE', '/vms/foreign');
    assert.equal(`${v1Delete.status} ${v1Delete.body.error?.code}`, '401 VIGIL_AUTH_VERSION');
  } finally {
    await strict.app.close();
  }
});
