/**
 * The signed REST API over real HTTP on a socket, with real QEMU behind it: the seed's Python client flow,
 * refusals with the right codes, roles and teams, the QMP guard through the API, audit, metrics, OpenAPI and
 * WebSocket events filtered by role.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Wallet } from 'ethers';
import WebSocket from 'ws';
import { buildApi, type Api } from '../../src/api/server.js';
import { silentLogger } from '../../src/core/log.js';
import { AccessRepo } from '../../src/store/access-repo.js';
import { Vigil } from '../../src/vigil.js';
import { PyClient } from '../helpers/api-client.js';
import { runVigil } from '../helpers/cli.js';
import { testHome, type TestHome } from '../helpers/vigil-home.js';

let h: TestHome;
let vigil: Vigil;
let api: Api;
let url: string;
let admin: PyClient;
let alice: PyClient;
let bob: PyClient;
let carol: PyClient;
let stranger: PyClient;

before(async () => {
  h = await testHome();
  // KVM guests hang on the machines we test on: `accel: auto` (a formfile cannot say) means TCG here.
  h.write('config/config.yaml', 'qemu:\n  accel: tcg\n');
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  api = await buildApi({ vigil, logger: silentLogger, imagesDir: h.home });
  url = await api.app.listen({ host: '127.0.0.1', port: 0 });
  const mk = (): PyClient => new PyClient(url, Wallet.createRandom().privateKey);
  [admin, alice, bob, carol, stranger] = [mk(), mk(), mk(), mk(), mk()];
  const repo = new AccessRepo(vigil.db);
  repo.upsertPrincipal(admin.address, 'admin');
  for (const c of [alice, bob, carol]) repo.upsertPrincipal(c.address, null);
});

after(async () => {
  await api?.app.close();
  h?.killAll();
  vigil?.close();
});

test('GET /health needs no signature; replies carry Date', async () => {
  const res = await fetch(`${url}/health`);
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { status: string }).status, 'ok');
  assert.ok(res.headers.get('date'));
});

test("the seed's Python client flow: POST /vm/create with a formfile, body in insertion order, data_str sorted", async () => {
  const res = await alice.call('POST', '/vm/create', new Map<string, string>([['name', 'seedvm'], ['formfile', 'NAME seedvm\nVCPU 1']]));
  assert.equal(res.status, 201, res.text);
  assert.equal(res.body.role, 'Owner');
  assert.equal((res.body.definition as { cpus: number }).cpus, 1);
});

test('refusals: expired, future, replayed, tampered body, wrong path, unknown signer, unsigned', async () => {
  const now = Math.floor(Date.now() / 1000);
  const codeOf = (r: { status: number; body: { error?: { code: string } } }): string => `${r.status} ${r.body.error?.code}`;
  assert.equal(codeOf(await alice.call('GET', '/vms', undefined, { timestamp: now - 301 })), '401 VIGIL_AUTH_EXPIRED');
  assert.equal(codeOf(await alice.call('GET', '/vms', undefined, { timestamp: now + 301 })), '401 VIGIL_AUTH_EXPIRED');
  assert.equal((await alice.call('GET', '/vms')).status, 200);
  assert.equal(codeOf(await alice.call('GET', '/vms', undefined, { headers: alice.lastHeaders })), '401 VIGIL_AUTH_REPLAY');
  const data = new Map<string, string>([['name', 'tampered']]);
  assert.equal(codeOf(await alice.call('POST', '/vms', data, { sendBody: '{"name": "evil"}' })), '401 VIGIL_AUTH_BAD_SIGNATURE');
  assert.equal(codeOf(await alice.call('GET', '/vms/seedvm', undefined, { signPath: '/vms' })), '401 VIGIL_AUTH_BAD_SIGNATURE');
  assert.equal(codeOf(await stranger.call('GET', '/vms')), '401 VIGIL_AUTH_BAD_SIGNATURE');
  const unsigned = await fetch(`${url}/vms`);
  assert.equal(unsigned.status, 401);
  assert.equal(((await unsigned.json()) as { error: { code: string } }).error.code, 'VIGIL_AUTH_MISSING');
  const refusals = vigil.audit.query({ kind: 'api', outcome: 'refused' });
  assert.ok(refusals.some((r) => r.error === 'VIGIL_AUTH_REPLAY'), 'refusals are audited with their reason');
});

test('a caller with no role gets 404, as if the VM did not exist; roles decide the rest', async () => {
  assert.equal((await bob.call('GET', '/vms/seedvm')).status, 404);
  assert.deepEqual((await bob.call('GET', '/vms')).body.vms, []);
  assert.equal((await alice.call('PUT', '/vms/seedvm/permissions', { subject: bob.address, role: 'Operator' })).status, 200);
  const asBob = await bob.call('GET', '/vms');
  assert.deepEqual((asBob.body.vms as { id: string; role: string }[]).map((v) => [v.id, v.role]), [['seedvm', 'Operator']]);
  const started = await bob.call('POST', '/vms/seedvm/start');
  assert.equal(started.status, 200, started.text);
  assert.equal(started.body.state, 'running');
  const patch = await bob.call('PATCH', '/vms/seedvm', { cpus: 2 });
  assert.equal(patch.status, 403);
  assert.match(patch.body.error!.message, /needs the Manager role; you are Operator/);
  assert.equal((await bob.call('POST', '/vms/seedvm/qmp', { command: 'query-status' })).status, 403);
  assert.equal((await carol.call('POST', '/vms/seedvm/stop')).status, 404);
  const audited = vigil.audit.query({ kind: 'api', vm: 'seedvm', outcome: 'refused' }).map((r) => r.principal);
  assert.ok(audited.includes(bob.address) && audited.includes(carol.address));
  // The QMP commands behind Bob's start are audited under his address.
  assert.ok(vigil.audit.query({ vm: 'seedvm', command: 'cont' }).some((r) => r.principal === bob.address));
});

test('POST /vm/boot_complete: unsigned, authenticated by the per-boot token QEMU hands the guest', async () => {
  const { readFileSync } = await import('node:fs');
  const record = vigil.vms.record('seedvm')!;
  const argv = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').split('\0');
  assert.ok(argv.includes(`name=opt/vigil/boot_token,string=${record.bootId}`), 'the token reaches the guest through fw_cfg');
  const post = (token: string): Promise<Response> =>
    fetch(`${url}/vm/boot_complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  assert.equal((await post('0123456789abcdef0123456789abcdef')).status, 404);
  const ok = await post(record.bootId!);
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { id: 'seedvm', booted: true });
  assert.equal(vigil.vms.stateHistory('seedvm').at(-1)!.reason, 'guest reported boot complete');
});

test('teams: members get the team role on the team\'s VMs', async () => {
  assert.equal((await alice.call('POST', '/teams', { name: 'ops' })).status, 201);
  assert.equal((await alice.call('PUT', `/teams/ops/members/${carol.address}`, {})).status, 200);
  assert.equal((await carol.call('PUT', `/teams/ops/members/${bob.address}`, {})).status, 403, 'only team admins add members');
  assert.equal((await alice.call('PUT', '/vms/seedvm/permissions', { subject: 'team:ops', role: 'Manager' })).status, 200);
  const patch = await carol.call('PATCH', '/vms/seedvm', { tags: ['team-managed'] });
  assert.equal(patch.status, 200, patch.text);
  assert.deepEqual(patch.body.changed, ['tags']);
  assert.equal((await carol.call('DELETE', '/vms/seedvm')).status, 403, 'Manager is not Owner');
});

test('QMP through the API: the guard, roles and host admin for dangerous commands', async () => {
  const status = await carol.call('POST', '/vms/seedvm/qmp', { command: 'query-status' });
  assert.equal(status.status, 200, status.text);
  assert.equal((status.body.return as { status: string }).status, 'running');
  const refused = await alice.call('POST', '/vms/seedvm/qmp', { command: 'human-monitor-command', arguments: { 'command-line': 'info status' } });
  assert.equal(`${refused.status} ${refused.body.error?.code}`, '403 VIGIL_GUARD_REFUSED');
  const notAdmin = await alice.call('POST', '/vms/seedvm/qmp', { command: 'human-monitor-command', arguments: { 'command-line': 'info status' }, allowDangerous: true });
  assert.equal(notAdmin.status, 403);
  assert.match(notAdmin.body.error!.message, /host admin/);
  const ok = await admin.call('POST', '/vms/seedvm/qmp', { command: 'human-monitor-command', arguments: { 'command-line': 'info status' }, allowDangerous: true });
  assert.equal(ok.status, 200, ok.text);
  assert.match(String(ok.body.return), /VM status: running/);
});

test('audit, metrics and images need host roles; OpenAPI lists the routes', async () => {
  assert.equal((await alice.call('GET', '/audit')).status, 403);
  const audit = await admin.call('GET', '/audit?kind=api&limit=5');
  assert.equal(audit.status, 200);
  assert.equal((audit.body.entries as unknown[]).length, 5);
  const metrics = await admin.call('GET', '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.text, /vigil_vms\{state="running"\} 1/);
  assert.equal((await alice.call('GET', '/metrics')).status, 403);
  const images = await alice.call('GET', '/images');
  assert.equal(images.status, 200);
  const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
  for (const p of ['/vms', '/vms/{id}/start', '/vm/create', '/teams', '/audit', '/events']) assert.ok(doc.paths[p], p);
});

test('vigil api: `vigil init` registers the host key; JSON replies are printed as JSON, text replies (/metrics) as they came', async () => {
  assert.equal((await runVigil(['init'], h.env)).code, 0);
  const vms = await runVigil(['api', 'GET', '/vms', '--url', url], h.env);
  assert.equal(vms.code, 0, vms.stderr);
  assert.ok(Array.isArray((JSON.parse(vms.stdout) as { vms: unknown[] }).vms));
  const metrics = await runVigil(['api', 'GET', '/metrics', '--url', url], h.env);
  assert.equal(metrics.code, 0, metrics.stderr);
  assert.match(metrics.stdout, /^# HELP /m);
  assert.match(metrics.stdout, /^vigil_vms\{state="running"\} \d+$/m);
});

test('bad bodies are refused with the field named; unknown routes are JSON 404s', async () => {
  const bad = await alice.call('POST', '/vms', { name: 'x y', memory: 'lots' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error?.code, 'VIGIL_CONFIG_INVALID');
  assert.match(bad.body.error.message, /memory/);
  const unknown = await alice.call('PUT', '/vms/seedvm/permissions', { subject: bob.address, role: 'Owner', extra: 1 });
  assert.equal(unknown.status, 400);
  assert.match(unknown.body.error!.message, /extra/);
  const none = await alice.call('GET', '/nope');
  assert.equal(`${none.status} ${none.body.error?.code}`, '404 VIGIL_NOT_FOUND');
});

test('GET /events streams state changes to callers who may see the VM, and only to them', async () => {
  const open = async (c: PyClient): Promise<{ ws: WebSocket; got: { type: string; vm: string; data: Record<string, unknown> }[] }> => {
    const headers = await c.sign('/events', undefined, Math.floor(Date.now() / 1000));
    const ws = new WebSocket(`${url.replace('http', 'ws')}/events`, { headers });
    const got: { type: string; vm: string; data: Record<string, unknown> }[] = [];
    ws.on('message', (m: Buffer) => got.push(JSON.parse(m.toString()) as (typeof got)[number]));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return { ws, got };
  };
  const asCarol = await open(carol);
  const asOutsider = await open(bob);
  new AccessRepo(vigil.db).revoke('seedvm', bob.address);
  const stopped = await alice.call('POST', '/vms/seedvm/stop', { force: true });
  assert.equal(stopped.status, 200, stopped.text);
  await new Promise((r) => setTimeout(r, 300));
  const carolStates = asCarol.got.filter((e) => e.type === 'vm-state').map((e) => e.data.to);
  assert.deepEqual(carolStates, ['stopping', 'stopped']);
  assert.equal(asCarol.got.filter((e) => e.type === 'audit').length > 0, true, 'a Manager sees the VM\'s audit entries');
  assert.equal(asOutsider.got.filter((e) => e.type === 'vm-state').length, 0, 'a caller with no role sees nothing of the VM');
  asCarol.ws.close();
  asOutsider.ws.close();
  // The creator of a VM is its Owner before the 'defined' event goes out, so it sees its own VM appear.
  const asAlice = await open(alice);
  assert.equal((await alice.call('POST', '/vms', { name: 'fresh', memory: '64M', accel: 'tcg' })).status, 201);
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(asAlice.got.some((e) => e.type === 'vm-state' && e.vm === 'fresh' && e.data.to === 'defined'));
  asAlice.ws.close();
});

test('DELETE needs Owner; the VM and its grants are gone', async () => {
  const res = await alice.call('DELETE', '/vms/seedvm?force=true');
  assert.equal(res.status, 200, res.text);
  assert.equal((await alice.call('GET', '/vms/seedvm')).status, 404);
  assert.deepEqual(new AccessRepo(vigil.db).grants('seedvm'), []);
});

test('over HTTP: unicode, Python floats, big integers and reordered keys verify; high-s, 64-byte and sha3 signatures do not', async () => {
  const { pyFloat } = await import('../auth/python-json.js');
  const { SECP256K1_N } = await import('../../src/auth/signature.js');
  const { sha3_256 } = await import('@noble/hashes/sha3.js');
  const { secp256k1 } = await import('@noble/curves/secp256k1.js');
  // Signatures that verify reach validation: a 400 naming the field, not a 401.
  const body = new Map<string, unknown>([
    ['name', 'ünï-vm'],
    ['memory', pyFloat(64)],
    ['zeta', 123456789012345678901234567890n],
    ['description', 'caméra ✓ 😀 "quoted" \\ back\nslash'],
  ]);
  const res = await alice.call('POST', '/vms', body as never);
  assert.equal(res.status, 400, res.text);
  assert.match(res.body.error!.message, /zeta|name/);
  assert.equal((await alice.call('POST', '/vms', { name: 'univm', memory: '64M', accel: 'tcg' })).status, 201);
  const ok = await alice.call('PATCH', '/vms/univm', new Map<string, unknown>([['tags', ['é', '日本']], ['description', 'ünïcødé ✓ 😀']]) as never);
  assert.equal(ok.status, 200, ok.text);

  const now = Math.floor(Date.now() / 1000);
  const good = await alice.sign('/vms', undefined, now - 7);
  const sig = good['X-Signature']!;
  const r = sig.slice(0, 64);
  const s = BigInt(`0x${sig.slice(64, 128)}`);
  const v = parseInt(sig.slice(128), 16);
  const highS = { ...good, 'X-Signature': `${r}${(SECP256K1_N - s).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}`, 'X-Recovery-ID': v === 27 ? '1' : '0' };
  const short = { ...good, 'X-Signature': sig.slice(0, 128) };
  const message = `/vms:${now - 8}:`;
  const nist = secp256k1.sign(sha3_256(new TextEncoder().encode(`\x19Ethereum Signed Message:\n${message.length}${message}`)), Buffer.from(alice.wallet.privateKey.slice(2), 'hex'), { prehash: false, format: 'recovered' });
  const sha3Headers = { 'X-Signature': `${Buffer.from(nist.subarray(1)).toString('hex')}${(27 + nist[0]!).toString(16)}`, 'X-Recovery-ID': String(nist[0]), 'X-Timestamp': String(now - 8) };
  for (const [what, headers] of [['high-s', highS], ['64-byte', short], ['sha3-256', sha3Headers]] as const) {
    const refused = await fetch(`${url}/vms`, { headers });
    assert.equal(refused.status, 401, what);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'VIGIL_AUTH_BAD_SIGNATURE', what);
  }
});
