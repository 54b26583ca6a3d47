/**
 * The dashboard in a real headless Chromium (Debian's, driven by playwright-core) against a real vigild and a
 * real test guest under TCG: sign-in with a local key and with an injected EIP-1193 wallet, start, console and
 * stop of a VM, the kill switch engaged and released with the state seen live, the audit log's chain check, the
 * VM form's field errors, the host alarms page (a honeypot connection seen live, the listening ports with their
 * processes, a lockdown run after its confirmation), and a ReadOnly user who sees no life-cycle buttons and gets
 * the host alarms' 403 explained (at phone width). Screenshots of each page go to test-artifacts/web/.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Wallet, getBytes, isHexString } from 'ethers';
import { chromium, type Browser, type Page } from 'playwright-core';
import { silentLogger } from '../../src/core/log.js';
import { AccessRepo } from '../../src/store/access-repo.js';
import { Vigil } from '../../src/vigil.js';
import { PyClient } from '../helpers/api-client.js';
import { guestYaml, testHome, type TestHome } from '../helpers/vigil-home.js';
import { startVigild, type Vigild } from '../helpers/vigild.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHOTS = fileURLToPath(new URL('../../test-artifacts/web/', import.meta.url));

const GADGETS = `nics:
  - type: user
devices:
  - { id: usbc, driver: qemu-xhci }
  - { id: kbd0, driver: usb-kbd, props: { bus: usbc.0 } }
killswitch:
  devices: [kbd0, class:network]
  deadlineMs: 5000
`;

const adminKey = Wallet.createRandom().privateKey;
const readerWallet = new Wallet(Wallet.createRandom().privateKey);
const auditorKey = Wallet.createRandom().privateKey;

let h: TestHome;
let vigil: Vigil;
let daemon: Vigild;
let url: string;
let admin: PyClient;
let browser: Browser;
let page: Page;
/** The host agent's honeypot (config.yaml's host.honeypots). */
let trapPort: number;
/** Script errors and CSP violations the admin's page reported, over the whole file. */
const pageErrors: string[] = [];

async function shot(p: Page, name: string): Promise<void> {
  await p.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
}

/** A TCP port nothing listens on now. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

before(async () => {
  // The test checks the dashboard as built from these sources, as vigild serves it (dist/web).
  const build = spawnSync('npm', ['run', '--silent', 'build:web'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  mkdirSync(SHOTS, { recursive: true });
  h = await testHome();
  trapPort = await freePort();
  // The host agent: one honeypot (its port is allowed as the agent's own; vigild's API port is not) and one lockdown.
  h.write(
    'config/config.yaml',
    `qemu:\n  accel: tcg\nhost:\n  honeypots:\n    - { name: trap, host: 127.0.0.1, port: ${trapPort}, readTimeoutMs: 200, actions: [{ type: log }] }\n  lockdowns:\n    drill: [{ type: log }]\n`,
  );
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  vigil.add([h.write('web1.yaml', guestYaml(h, 'web1', GADGETS))]);
  const access = new AccessRepo(vigil.db);
  access.upsertPrincipal(new Wallet(adminKey).address, 'admin');
  access.upsertPrincipal(readerWallet.address, null);
  access.upsertPrincipal(new Wallet(auditorKey).address, 'auditor');
  daemon = startVigild(h.env);
  url = (await daemon.waitForLog((l) => l.msg === 'vigild ready')).api as string;
  admin = new PyClient(url, adminKey);
  assert.equal((await admin.call('PUT', '/vms/web1/permissions', { subject: readerWallet.address, role: 'ReadOnly' })).status, 200);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
});

after(async () => {
  await browser?.close();
  daemon?.process.kill('SIGKILL');
  h?.killAll();
  vigil?.close();
});

test('vigild serves the dashboard with a strict CSP and cache headers, API routes untouched', async () => {
  const index = await fetch(`${url}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type') ?? '', /text\/html/);
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  const csp = index.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /frame-ancestors 'none'/);
  const asset = /src="(\/assets\/[^"]+\.js)"/.exec(await index.text())?.[1];
  assert.ok(asset);
  const js = await fetch(`${url}${asset}`);
  assert.equal(js.status, 200);
  assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal((await fetch(`${url}/health`)).status, 200);
  assert.equal((await fetch(`${url}/vms`)).status, 401, 'API routes still need a signature or session');
  assert.equal((await fetch(`${url}/no-such-thing`)).status, 404);
});

test('sign in with a local key; the VM list shows the VM', async () => {
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    // Failed requests (the form's expected 400) are the API's answers, not page errors.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
  });
  await page.goto(`${url}/`);
  await page.getByLabel('Private key').waitFor();
  assert.equal(await page.locator('#wallet-login').count(), 0, 'no wallet in this page: no wallet button');
  await shot(page, '01-login');
  await page.getByLabel('Private key').fill(adminKey);
  await page.getByRole('button', { name: 'Sign in with key' }).click();
  await page.locator('#vm-table tr[data-vm="web1"]').waitFor();
  await page.locator('#live.live').filter({ hasText: 'live' }).waitFor();
  const row = page.locator('#vm-table tr[data-vm="web1"]');
  assert.match(await row.innerText(), /web1[\s\S]*defined[\s\S]*1[\s\S]*256 MiB[\s\S]*no[\s\S]*Owner/);
  await shot(page, '02-vm-list');
  assert.deepEqual(pageErrors, [], 'no script errors and no CSP violations');
});

test('start the VM from its page, see it running live, read its serial console, stop it', async () => {
  await page.goto(`${url}/#/vms/web1`);
  const start = page.locator('#lifecycle button[data-verb="start"]');
  await start.waitFor();
  assert.equal(await page.locator('#lifecycle button[data-verb="pause"]').isDisabled(), true, 'pause is off while the VM is not running');
  await start.click();
  await page.locator('h1 .state[data-state="running"]').waitFor({ timeout: 60000 });
  assert.match(await page.locator('#devices').innerText(), /kbd0[\s\S]*usb-kbd/);
  await page.locator('#open-console').click();
  await page.locator('#console-status').filter({ hasText: 'Connected' }).waitFor();
  // The console opens on the log's tail, then streams: the guest's ready line shows, and a typed command runs.
  const term = page.locator('#console .xterm-rows');
  await term.filter({ hasText: 'VIGIL-GUEST-READY' }).waitFor({ timeout: 90000 });
  await page.locator('#console .xterm').click();
  await page.keyboard.type('echo web-$((6*7))');
  await page.keyboard.press('Enter');
  await term.filter({ hasText: 'web-42' }).waitFor({ timeout: 30000 }).catch(async (err: unknown) => {
    throw new Error(`console: ${String(err)}; terminal shows: ${await term.innerText()}`);
  });
  await shot(page, '03-vm-detail-running');
  const consoleAudit = vigil.audit.query({ command: 'GET /vms/:id/console' });
  assert.equal(consoleAudit.at(-1)?.outcome, 'ok', 'attaching the console is audited');

  // Back on the list, the state is there and changes live when the VM stops.
  await page.goto(`${url}/#/vms`);
  await page.locator('#vm-table tr[data-vm="web1"] .state[data-state="running"]').waitFor();
  const stopped = admin.call('POST', '/vms/web1/stop', { force: true });
  await page.locator('#vm-table tr[data-vm="web1"] .state[data-state="stopped"]').waitFor({ timeout: 30000 });
  assert.equal((await stopped).status, 200);

  // Start again from the page for the kill switch, then stop it from the page too.
  await page.goto(`${url}/#/vms/web1`);
  await page.locator('#lifecycle button[data-verb="start"]').click();
  await page.locator('h1 .state[data-state="running"]').waitFor({ timeout: 60000 });
});

test('engage and release the kill switch from the panel; an engage from elsewhere shows up live', async () => {
  await page.goto(`${url}/#/killswitch`);
  const button = page.locator('#ks-toggle');
  await page.locator('#ks-state[data-state="armed"]').waitFor();
  assert.equal(await button.innerText(), 'Engage kill switch');
  await page.getByLabel('Reason (audited)').fill('dashboard test');
  await button.click();
  await page.locator('#ks-state[data-state="engaged"]').waitFor({ timeout: 30000 });
  await page.locator('.vm-outcome[data-vm="web1"] tr[data-device="kbd0"] .outcome-detached').waitFor();
  assert.match(await page.locator('.vm-outcome[data-vm="web1"]').innerText(), /safe/);
  assert.match(await page.locator('#ks-report').innerText(), /engage[\s\S]*api[\s\S]*dashboard test/);
  await shot(page, '04-killswitch-engaged');
  await button.click();
  await page.locator('#ks-state[data-state="armed"]').waitFor({ timeout: 30000 });
  await page.locator('#ks-last-action').filter({ hasText: 'release' }).waitFor();

  // Not clicked here: another client engages; the page follows the killswitch events.
  const engaged = admin.call('POST', '/killswitch/engage', { reason: 'from the CLI' });
  await page.locator('#ks-state[data-state="engaged"]').waitFor({ timeout: 30000 });
  assert.equal((await engaged).status, 200);
  assert.equal(await button.innerText(), 'Release kill switch');
  const released = admin.call('POST', '/killswitch/release', {});
  await page.locator('#ks-state[data-state="armed"]').waitFor({ timeout: 30000 });
  assert.equal((await released).status, 200);
  await shot(page, '05-killswitch-armed');
});

test('the audit log lists the actions with filters and a verified chain', async () => {
  await page.goto(`${url}/#/audit`);
  await page.locator('#audit-verify .ok').waitFor();
  assert.match(await page.locator('#audit-verify').innerText(), /Chain verified/);
  await page.getByLabel('Kind').fill('killswitch');
  await page.getByRole('button', { name: 'Apply' }).click();
  // Every row left is a kill switch row (the unfiltered list had others), and there are some.
  await page.locator('#audit-table tbody tr', { hasNotText: 'killswitch' }).first().waitFor({ state: 'detached' });
  assert.ok((await page.locator('#audit-table tbody tr').count()) > 0);
  await shot(page, '06-audit');
});

test('host alarms: the monitors, a honeypot connection seen live, the ports with their processes, a lockdown after confirmation', async () => {
  await page.goto(`${url}/#/alarms`);
  await page.locator('#alarms-monitors li[data-honeypot="trap"]').waitFor();
  assert.match(await page.locator('#alarms-monitors li[data-honeypot="trap"]').innerText(), new RegExp(`127\\.0\\.0\\.1:${trapPort}`));
  assert.equal(await page.locator('#alarms-monitors dd[data-fact="lockdowns"]').innerText(), 'drill');
  // The listening ports: vigild's own API port with vigild's pid, flagged (not in the allowlist); the honeypot allowed.
  const apiPort = Number(new URL(url).port);
  const apiRow = page.locator(`#ports-table tr[data-proto="tcp"][data-port="${apiPort}"]`);
  await apiRow.waitFor();
  assert.equal(await apiRow.getAttribute('data-allowed'), 'false');
  assert.match(await apiRow.innerText(), /NOT ALLOWED/);
  assert.equal(await apiRow.locator(`[data-pid="${daemon.process.pid}"]`).count(), 1, `the API port is held by vigild (pid ${daemon.process.pid})`);
  assert.equal(await page.locator(`#ports-table tr[data-port="${trapPort}"]`).getAttribute('data-allowed'), 'true');
  await page.locator('#alarms-count').filter({ hasText: /live/ }).waitFor();
  assert.equal(await page.locator('#alarms-list li[data-source="honeypot"]').count(), 0);

  // Someone knocks on the honeypot: the alarm and its action's outcome appear without a reload.
  await new Promise<void>((resolve, reject) => {
    const sock = connect(trapPort, '127.0.0.1', () => sock.end('SSH-2.0-probe\r\n'));
    sock.on('error', reject);
    sock.on('close', () => resolve());
  });
  const alarm = page.locator('#alarms-list li[data-source="honeypot"][data-name="trap"]', { hasText: 'connection to honeypot trap' });
  await alarm.locator('li[data-action="log"][data-outcome="ok"]').waitFor({ timeout: 10_000 });
  assert.match(await alarm.innerText(), /from 127\.0\.0\.1:\d+/);
  const times = await Promise.all((await page.locator('#alarms-list > li .alarm-head time').all()).map(async (t) => (await t.getAttribute('datetime')) ?? ''));
  assert.deepEqual(times, [...times].sort().reverse(), 'newest first');

  // A lockdown asks first; Cancel runs nothing and gives the focus back.
  await page.getByRole('button', { name: 'Lockdown drill…' }).click();
  assert.equal(await page.evaluate('document.activeElement?.dataset.confirm'), 'drill', 'the confirm button takes the focus');
  await page.getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await page.evaluate('document.activeElement?.dataset.lockdownRun'), 'drill');
  // Escape goes back too.
  await page.keyboard.press('Enter');
  await page.getByLabel('Reason for drill (audited)').waitFor();
  await page.keyboard.press('Escape');
  await page.getByLabel('Reason for drill (audited)').waitFor({ state: 'detached' });
  assert.equal(await page.evaluate('document.activeElement?.dataset.lockdownRun'), 'drill');
  assert.equal(vigil.audit.query({ command: 'alarm lockdown' }).length, 0, 'cancelled: nothing ran');
  // Confirmed from the keyboard, with a reason.
  await page.keyboard.press('Enter');
  await page.getByLabel('Reason for drill (audited)').fill('web drill');
  await page.getByRole('button', { name: 'Confirm: run lockdown drill' }).click();
  await page.locator('#lockdown-result [data-lockdown-done="drill"]').waitFor();
  assert.match(await page.locator('#lockdown-result').innerText(), /Lockdown drill: 1 action\(s\), 0 not ok[\s\S]*log \(lockdown drill\): ok/);
  const drill = page.locator('#alarms-list li[data-source="lockdown"][data-name="drill"]');
  await drill.locator('li[data-action="log"][data-outcome="ok"]').waitFor();
  assert.match(await drill.innerText(), new RegExp(`lockdown drill by api \\(${new Wallet(adminKey).address.toLowerCase()}\\)`));
  const audited = vigil.audit.query({ command: 'alarm lockdown' });
  assert.equal(audited.length, 1);
  assert.equal((audited[0]!.args.by as { detail?: string }).detail, 'web drill');
  await shot(page, '17-alarms');

  // Left and opened again, the page rebuilds the same history from the audit log.
  await page.goto(`${url}/#/vms`);
  await page.goto(`${url}/#/alarms`);
  await page.locator('#alarms-list li[data-source="lockdown"] li[data-outcome="ok"]').waitFor();
  await page.locator('#alarms-list li[data-source="honeypot"][data-name="trap"] li[data-action="log"][data-outcome="ok"]').first().waitFor();
  assert.equal(await page.locator('#alarms-list > li').first().getAttribute('data-source'), 'lockdown', 'the lockdown is the newest');

  // An auditor, at phone width: the same monitors, history and ports, no lockdown control; the page fits.
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const phone = await context.newPage();
  await phone.goto(`${url}/`);
  await phone.getByLabel('Private key').fill(auditorKey);
  await phone.getByRole('button', { name: 'Sign in with key' }).click();
  await phone.locator('nav a[href="#/alarms"]').click();
  await phone.locator(`#ports-table tr[data-port="${apiPort}"]`).waitFor();
  await phone.locator('#alarms-list li[data-source="lockdown"] li[data-outcome="ok"]').waitFor();
  assert.equal(await phone.locator('#lockdowns button').count(), 0, 'no lockdown control for an auditor');
  assert.match(await phone.locator('#lockdowns').innerText(), /Configured: drill\. Only a host admin can run a lockdown/);
  // Live for the auditor too.
  await new Promise<void>((resolve, reject) => {
    const sock = connect(trapPort, '127.0.0.1', () => sock.end());
    sock.on('error', reject);
    sock.on('close', () => resolve());
  });
  await phone.locator('#alarms-list li[data-source="honeypot"]', { hasText: 'connection to honeypot trap' }).nth(1).waitFor({ timeout: 10_000 });
  assert.match(await phone.locator('#alarms-announce').innerText(), /New honeypot alarm/);
  const width = await phone.evaluate('document.documentElement.scrollWidth');
  assert.ok(Number(width) <= 390, `no horizontal scrolling at 390px (scrollWidth ${String(width)})`);
  await shot(phone, '18-alarms-390px');
  await context.close();
  assert.deepEqual(pageErrors, [], 'no script errors and no CSP violations');
});

test('the VM form shows the API validation error on the field, then defines the VM', async () => {
  await page.goto(`${url}/#/new`);
  await page.getByLabel('Name', { exact: true }).fill('formvm');
  await page.getByLabel('vCPUs').fill('0');
  await page.getByLabel('Memory').fill('256M');
  await page.getByLabel('Kernel command line').fill('');
  await page.getByRole('button', { name: 'Define VM' }).click();
  await page.locator('#f-cpus[aria-invalid="true"]').waitFor();
  assert.notEqual(await page.locator('#f-cpus-error').innerText(), '');
  assert.equal(await page.locator('#f-name').getAttribute('aria-invalid'), null);
  await shot(page, '07-vm-form-error');
  await page.getByLabel('vCPUs').fill('2');
  await page.getByRole('button', { name: 'Define VM' }).click();
  await page.locator('h1').filter({ hasText: 'formvm' }).waitFor();
  assert.equal(vigil.vms.get('formvm').definition.cpus, 2);
});

test('a ReadOnly user signs in with a browser wallet and sees no life-cycle buttons, at phone width', async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const phone = await context.newPage();
  // The wallet side of EIP-1193 personal_sign: the message arrives as 0x-hex UTF-8 and is signed by an ethers Wallet.
  const asked: string[] = [];
  await phone.exposeFunction('__testWalletSign', (hex: string) => {
    assert.ok(isHexString(hex), 'personal_sign gets the message as hex');
    asked.push(new TextDecoder().decode(getBytes(hex)));
    return readerWallet.signMessage(getBytes(hex));
  });
  await phone.addInitScript(`window.ethereum = {
    request: async ({ method, params }) => {
      if (method === 'eth_requestAccounts') return ['${readerWallet.address}'];
      if (method === 'personal_sign') return window.__testWalletSign(params[0]);
      throw new Error('unsupported ' + method);
    },
  };`);
  await phone.goto(`${url}/`);
  await phone.getByRole('button', { name: 'Sign in with wallet' }).click();
  await phone.locator('#vm-table tr[data-vm="web1"]').waitFor();
  assert.equal(asked.length, 1);
  assert.match(asked[0]!, new RegExp(`wants you to sign in with your Ethereum account:\\n${readerWallet.address}`, 'i'));
  assert.match(await phone.locator('#vm-table tr[data-vm="web1"]').innerText(), /ReadOnly/);
  assert.equal(await phone.locator('tr[data-vm="formvm"]').count(), 0, 'no role on formvm: not listed');
  assert.equal(await phone.locator('nav a[href="#/killswitch"]').count(), 0, 'no host role: no kill switch link');
  await shot(phone, '08-readonly-list-390px');
  await phone.goto(`${url}/#/vms/web1`);
  await phone.locator('#no-lifecycle').waitFor();
  assert.equal(await phone.locator('#lifecycle button').count(), 0);
  assert.equal(await phone.locator('#open-console').count(), 0, 'the console needs Operator');
  assert.equal(await phone.locator('#permissions').count(), 0, 'the permissions editor needs Owner');
  const width = await phone.evaluate('document.documentElement.scrollWidth');
  assert.ok(Number(width) <= 390, `no horizontal scrolling at 390px (scrollWidth ${String(width)})`);
  await shot(phone, '09-readonly-detail-390px');
  // No host role: the host alarms page explains the refusal instead of showing anything.
  await phone.goto(`${url}/#/alarms`);
  const denied = phone.locator('#alarms-error[data-status="403"]');
  await denied.waitFor();
  assert.match(await denied.innerText(), /Host admin or auditor role needed[\s\S]*auditor role/);
  assert.equal(await phone.locator('#ports-table').count(), 0);
  assert.ok(Number(await phone.evaluate('document.documentElement.scrollWidth')) <= 390, 'the refusal fits 390px');
  await shot(phone, '19-alarms-403-390px');
  // The console socket refuses a ReadOnly session outright.
  const refused = await phone.evaluate(`new Promise((resolve) => {
    const ws = new WebSocket('ws://' + location.host + '/vms/web1/console');
    ws.onopen = () => resolve('open');
    ws.onerror = () => resolve('refused');
  })`);
  assert.equal(refused, 'refused');
  const refusal = vigil.audit.query({ command: 'GET /vms/:id/console', outcome: 'refused' }).at(-1);
  assert.equal(refusal?.principal, readerWallet.address.toLowerCase(), 'the refusal is audited with the caller');
  assert.equal(refusal?.error, 'VIGIL_FORBIDDEN');
  await context.close();
});

test('the owner sees QMP events live, manages permissions and stops the VM from its page', async () => {
  await page.goto(`${url}/#/vms/web1`);
  await page.locator('#permissions tbody tr').first().waitFor();
  // The kill switch unplugs kbd0: QEMU's DEVICE_DELETED reaches the page through /events.
  assert.equal((await admin.call('POST', '/killswitch/engage', {})).status, 200);
  await page.locator('#qmp-events li').filter({ hasText: 'DEVICE_DELETED' }).first().waitFor();
  assert.equal((await admin.call('POST', '/killswitch/release', {})).status, 200);
  assert.match(await page.locator('#permissions').innerText(), new RegExp(readerWallet.address.toLowerCase()));
  await page.getByLabel('Subject').fill(readerWallet.address);
  await page.getByLabel('Role', { exact: true }).selectOption('Operator');
  await page.getByRole('button', { name: 'Grant' }).click();
  await page.locator('#permissions tbody tr').filter({ hasText: 'Operator' }).waitFor();
  await page.locator('#lifecycle button[data-verb="force-stop"]').click();
  await page.locator('h1 .state[data-state="stopped"]').waitFor({ timeout: 30000 });
  await shot(page, '10-vm-detail-stopped');
  assert.equal(vigil.vms.get('web1').state, 'stopped');
  // Over every page, the console and the kill switch included: no script error, no CSP violation.
  assert.deepEqual(pageErrors, []);
});
