/**
 * The introspection, images and snapshot/stats pages in a real headless Chromium against a real vigild and one
 * real test guest (TCG, `introspection: true`, a qcow2 disk in the images directory): the guest's init and a
 * process its init script started are listed, filtered and in the tree; a non-Owner gets the 403 explained (at
 * phone width); the images page lists an image made with qemu-img, creates one and an overlay from its form,
 * converts one and deletes one; a snapshot is taken, listed, restored and deleted from the VM page, whose stats
 * fill in. Screenshots go to test-artifacts/web/.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Wallet } from 'ethers';
import { chromium, type Browser, type Page } from 'playwright-core';
import { silentLogger } from '../../src/core/log.js';
import { AccessRepo } from '../../src/store/access-repo.js';
import { Vigil } from '../../src/vigil.js';
import { PyClient } from '../helpers/api-client.js';
import { guestYaml, testHome, type TestHome } from '../helpers/vigil-home.js';
import { startVigild, type Vigild } from '../helpers/vigild.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHOTS = fileURLToPath(new URL('../../test-artifacts/web/', import.meta.url));

// busybox runs `busybox* <applet>`: a process with a name of our own and arguments to find in the list.
const INIT = `ln -s /bin/busybox /bin/busyboxweb
/bin/busyboxweb sleep 4242 &
modprobe dummy`;

const adminKey = Wallet.createRandom().privateKey;
const managerKey = Wallet.createRandom().privateKey;

let h: TestHome;
let vigil: Vigil;
let daemon: Vigild;
let url: string;
let admin: PyClient;
let browser: Browser;
let page: Page;
let imagesDir: string;
const pageErrors: string[] = [];

async function shot(p: Page, name: string): Promise<void> {
  await p.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
}

async function signIn(p: Page, key: string): Promise<void> {
  await p.goto(`${url}/`);
  await p.getByLabel('Private key').fill(key);
  await p.getByRole('button', { name: 'Sign in with key' }).click();
  await p.locator('#vm-table tr[data-vm="insp"]').waitFor();
}

async function waitForSerial(pattern: RegExp, timeoutMs: number): Promise<void> {
  const log = vigil.vms.files('insp').serialLog;
  for (const t0 = Date.now(); Date.now() - t0 < timeoutMs; await sleep(200)) {
    if (existsSync(log) && pattern.test(readFileSync(log, 'utf8'))) return;
  }
  throw new Error(`not on the serial console: ${pattern}`);
}

before(async () => {
  const build = spawnSync('npm', ['run', '--silent', 'build:web'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(build.status, 0, build.stderr);
  mkdirSync(SHOTS, { recursive: true });
  h = await testHome(INIT);
  h.write('config/config.yaml', 'qemu:\n  accel: tcg\n');
  imagesDir = join(h.home, 'images');
  mkdirSync(imagesDir, { recursive: true });
  const disk = join(imagesDir, 'insp-disk.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);
  vigil = Vigil.open({ paths: h.paths, logger: silentLogger, principal: 'tester' });
  vigil.add([h.write('insp.yaml', guestYaml(h, 'insp', `introspection: true\ndisks:\n  - file: ${disk}\n`))]);
  vigil.add([h.write('plain.yaml', guestYaml(h, 'plain'))]);
  const access = new AccessRepo(vigil.db);
  access.upsertPrincipal(new Wallet(adminKey).address, 'admin');
  access.upsertPrincipal(new Wallet(managerKey).address, null);
  daemon = startVigild({ ...h.env, VMM_IMAGES_DIR: imagesDir });
  url = (await daemon.waitForLog((l) => l.msg === 'vigild ready')).api as string;
  admin = new PyClient(url, adminKey);
  assert.equal((await admin.call('PUT', '/vms/insp/permissions', { subject: new Wallet(managerKey).address, role: 'Manager' })).status, 200);
  assert.equal((await admin.call('POST', '/vms/insp/start')).status, 200);
  await waitForSerial(/VIGIL-GUEST-READY/, 120_000);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    // Refused requests (the 409 of a stopped VM) are the API's answers, not page errors.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
  });
  page.on('dialog', (d) => void d.accept());
  await signIn(page, adminKey);
});

after(async () => {
  await browser?.close();
  daemon?.process.kill('SIGKILL');
  h?.killAll();
  vigil?.close();
});

test("the Owner opens the introspection page from the VM page: uname, init and the init script's process, tree, modules", async () => {
  await page.goto(`${url}/#/vms/insp`);
  await page.locator('#introspect-link').click();
  await page.locator('#vmi-ps tbody tr[data-pid="1"]').waitFor({ timeout: 60_000 });
  assert.match(await page.locator('#vmi-uname').innerText(), /Linux vigil-guest \S+ x86_64/);
  const init = await page.locator('#vmi-ps tbody tr[data-pid="1"]').locator('td').allInnerTexts();
  assert.equal(init[1], '0', 'init’s parent is pid 0');
  const ours = page.locator('#vmi-ps tbody tr', { hasText: 'busyboxweb' });
  assert.equal(await ours.count(), 1);
  assert.match(await ours.innerText(), /busyboxweb[\s\S]*\/bin\/busyboxweb sleep 4242/);
  const ourPid = Number(await ours.getAttribute('data-pid'));
  assert.equal(await page.locator('#vmi-no-introspection').count(), 0, 'defined with introspection: true: no notice');
  // The script's child hangs under init in the tree.
  assert.equal(await page.locator(`#vmi-tree li[data-pid="1"] li[data-pid="${ourPid}"]`).count(), 1);
  assert.equal(await page.locator('#vmi-mods tr[data-module="dummy"]').count(), 1, 'the module the init script loaded');

  // Filter by text, hide kernel threads, sort by PID descending.
  const all = await page.locator('#vmi-ps tbody tr').count();
  await page.getByLabel('Filter processes').fill('4242');
  assert.equal(await page.locator('#vmi-ps tbody tr').count(), 1);
  await page.getByLabel('Filter processes').fill('');
  await page.getByLabel('Show kernel threads').uncheck();
  const userland = await page.locator('#vmi-ps tbody tr').count();
  assert.ok(userland < all && userland >= 3, `${userland} of ${all} without kernel threads`);
  await page.locator('#vmi-ps button[data-sort="pid"]').click();
  assert.equal(await page.locator('#vmi-ps th[aria-sort="descending"]').count(), 1);
  assert.equal(await page.evaluate('document.activeElement?.dataset.sort'), 'pid', 'the sort button keeps the focus');
  const pids: number[] = (await page.locator('#vmi-ps tbody tr').allInnerTexts()).map((row) => Number(/^\d+/.exec(row.trim())?.[0]));
  assert.ok(pids.length === userland && pids.every(Number.isInteger), String(pids));
  assert.deepEqual(pids, [...pids].sort((a, b) => b - a));
  await page.getByLabel('Show kernel threads').check();
  await shot(page, '11-introspection');

  // Refresh and auto-refresh read the guest again (each read is audited as a memory read).
  const before = vigil.audit.query({ command: 'vmi-linux-ps' }).length;
  await page.locator('#vmi-refresh').click();
  await page.locator('#vmi-status').filter({ hasText: /^Read at/ }).waitFor();
  await page.getByLabel(/Refresh every/).check();
  for (const t0 = Date.now(); vigil.audit.query({ command: 'vmi-linux-ps' }).length < before + 2; await sleep(250)) {
    assert.ok(Date.now() - t0 < 20_000, 'auto-refresh read the guest again');
  }
  await page.getByLabel(/Refresh every/).uncheck();
  assert.ok(vigil.audit.query({ command: 'vmi-linux-ps' }).every((r) => r.outcome === 'ok'));
});

test('a VM without introspection: true is explained, and a stopped VM too', async () => {
  await page.goto(`${url}/#/vms/plain/introspection`);
  await page.locator('#vmi-error').waitFor();
  assert.match(await page.locator('#vmi-no-introspection').innerText(), /introspection: true/);
  assert.match(await page.locator('#vmi-error').innerText(), /not running[\s\S]*Start it/);
  assert.equal(await page.locator('#vmi-ps tbody tr').count(), 0, 'no table rows made up');
  await page.goto(`${url}/#/introspection`);
  await page.locator('#vmi-vms a').first().waitFor();
  assert.deepEqual(await page.locator('#vmi-vms a').allInnerTexts(), ['insp', 'plain']);
});

test('the images page lists the qemu-img image in use, creates, converts and deletes images from its forms', async () => {
  await page.goto(`${url}/#/images`);
  const disk = page.locator('#images-table tr[data-image="insp-disk.qcow2"]');
  await disk.waitFor();
  assert.match(await disk.innerText(), /qcow2[\s\S]*64 MiB[\s\S]*running: insp/);
  assert.equal(await disk.locator('button[data-delete]').isDisabled(), true, 'an image a running VM uses cannot be deleted');
  assert.match(await page.locator('#images-dir').innerText(), new RegExp(imagesDir));

  await page.getByLabel('Image name', { exact: true }).fill('web-made.qcow2');
  await page.getByLabel('Size', { exact: true }).fill('32M');
  await page.getByRole('button', { name: 'Create image' }).click();
  const made = page.locator('#images-table tr[data-image="web-made.qcow2"]');
  await made.waitFor();
  assert.match(await made.innerText(), /qcow2[\s\S]*32 MiB[\s\S]*no/);
  assert.ok(existsSync(join(imagesDir, 'web-made.qcow2')));
  // An overlay on it, chosen in the backing list: its chain shows the base.
  await page.getByLabel('Image name', { exact: true }).fill('web-overlay.qcow2');
  await page.getByLabel('Backing image (qcow2 only)').selectOption('web-made.qcow2');
  await page.getByRole('button', { name: 'Create image' }).click();
  await page.locator('#images-table tr[data-image="web-overlay.qcow2"]').filter({ hasText: 'web-made.qcow2 (qcow2)' }).waitFor();
  // A bad name: the API's message is shown by the form.
  await page.getByLabel('Image name', { exact: true }).fill('../escape.qcow2');
  await page.getByLabel('Size', { exact: true }).fill('1M');
  await page.getByRole('button', { name: 'Create image' }).click();
  await page.locator('#img-error').filter({ hasText: /\S/ }).waitFor();
  await shot(page, '12-images');

  // Convert the made image to raw.
  await page.getByLabel('Source image').selectOption('web-made.qcow2');
  await page.getByLabel('New image name').fill('web-made.raw');
  await page.getByLabel('New format').selectOption('raw');
  await page.getByRole('button', { name: 'Convert' }).click();
  const raw = page.locator('#images-table tr[data-image="web-made.raw"]');
  await raw.waitFor({ timeout: 60_000 });
  assert.match(await raw.innerText(), /raw[\s\S]*32 MiB/);

  // Delete (the confirmation is accepted by the page's dialog handler).
  await page.locator('#images-table button[data-delete="web-overlay.qcow2"]').click();
  await page.locator('#images-table tr[data-image="web-overlay.qcow2"]').waitFor({ state: 'detached' });
  assert.equal(existsSync(join(imagesDir, 'web-overlay.qcow2')), false);
});

test('the VM page takes, lists, restores and deletes a snapshot, and shows live stats', async () => {
  await page.goto(`${url}/#/vms/insp`);
  await page.locator('#stats-facts dd[data-stat="CPU"]').filter({ hasText: '% of one core' }).waitFor({ timeout: 20_000 });
  assert.match(await page.locator('#stats-facts').innerText(), /Uptime\s+\d+[smh]/);
  assert.match(await page.locator('#stats-facts dd[data-stat="RSS"]').innerText(), /MiB/);
  await page.locator('#stats-disks tbody tr').first().waitFor();
  await page.locator('#snap-table tbody', { hasText: 'No snapshots.' }).waitFor();
  await page.getByLabel('Snapshot name').fill('web-snap1');
  await page.getByRole('button', { name: 'Take snapshot' }).click();
  const row = page.locator('#snap-table tr[data-snapshot="web-snap1"]');
  await row.waitFor({ timeout: 180_000 });
  assert.match(await row.innerText(), /memory and disks/);
  assert.match(await page.locator('#snap-status').innerText(), /Snapshot web-snap1: done in/);
  const listed = (await admin.call('GET', '/vms/insp/snapshots')).body as { snapshots: { name: string }[] };
  assert.deepEqual(listed.snapshots.map((s) => s.name), ['web-snap1']);
  await shot(page, '13-vm-snapshots-stats');
  // Restore it (confirmed), audited under the signed-in key; the VM runs on.
  await row.locator('button[data-restore]').click();
  await page.locator('#snap-status').filter({ hasText: /Restore web-snap1: done in/ }).waitFor({ timeout: 120_000 });
  assert.equal(vigil.audit.query({ vm: 'insp', command: 'snapshot-load' }).at(-1)?.principal, new Wallet(adminKey).address.toLowerCase());
  await page.locator('h1 .state[data-state="running"]').waitFor();
  await row.locator('button[data-delete]').click();
  await row.waitFor({ state: 'detached', timeout: 120_000 });
  assert.deepEqual(((await admin.call('GET', '/vms/insp/snapshots')).body as { snapshots: unknown[] }).snapshots, []);
  assert.deepEqual(pageErrors, [], 'no script errors and no CSP violations');
});

test('a Manager (not Owner) sees the 403 explained on the introspection page, at phone width', async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const phone = await context.newPage();
  await signIn(phone, managerKey);
  await phone.goto(`${url}/#/vms/insp`);
  await phone.locator('#snap-form').waitFor();
  assert.equal(await phone.locator('#introspect-link').count(), 0, 'no link for a non-Owner');
  await phone.locator('#stats-facts dd').first().waitFor();
  await phone.locator('#snap-table tbody', { hasText: 'No snapshots.' }).waitFor();
  assert.ok(Number(await phone.evaluate('document.documentElement.scrollWidth')) <= 390, 'VM page with stats and snapshots fits 390px');
  await shot(phone, '16-vm-manager-390px');
  await phone.goto(`${url}/#/vms/insp/introspection`);
  const refusal = phone.locator('#vmi-error[data-status="403"]');
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /Owner role needed[\s\S]*Your role on 'insp' is Manager/);
  assert.equal(await phone.locator('#vmi-ps tbody tr').count(), 0);
  const width = await phone.evaluate('document.documentElement.scrollWidth');
  assert.ok(Number(width) <= 390, `no horizontal scrolling at 390px (scrollWidth ${String(width)})`);
  await shot(phone, '14-introspection-403-390px');
  await phone.goto(`${url}/#/images`);
  await phone.locator('#images-table tr[data-image="insp-disk.qcow2"]').waitFor();
  assert.ok(Number(await phone.evaluate('document.documentElement.scrollWidth')) <= 390, 'images page fits 390px');
  await shot(phone, '15-images-390px');
  await context.close();
});
