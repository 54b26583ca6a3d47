/**
 * Section 7: the web dashboard vigild serves at `/`. Prints its URL and, when Debian's chromium is installed,
 * signs in with the host key in headless Chromium and saves a screenshot of the VM list.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { keyPath, readKey } from '../../src/auth/keyfile.js';
import { heading, note, root, type Demo } from '../lib.js';

const CHROMIUM = '/usr/bin/chromium';

/** Runs the section. */
export async function dashboard(d: Demo): Promise<void> {
  heading('7. The web dashboard');
  const url = `${d.vigild!.api}/`;
  console.log(`vigild serves the dashboard at ${url}   (sign in with a registered key, e.g. ${keyPath(d.paths)})`);
  const page = await fetch(url);
  const html = await page.text();
  console.log(`$ curl -s ${url} | grep -o '<title>.*</title>'\nHTTP ${page.status} ${/<title>.*<\/title>/.exec(html)?.[0] ?? '(no title)'}`);
  if (page.status !== 200) throw new Error(`GET / answered ${page.status}: ${html.slice(0, 200)}`);
  if (!existsSync(CHROMIUM)) {
    note(`skipped the screenshot: ${CHROMIUM} is not installed (apt-get install chromium)`);
    return;
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  try {
    const tab = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await tab.goto(url);
    await tab.getByLabel('Private key').fill(readKey(keyPath(d.paths)).privateKey);
    await tab.getByRole('button', { name: 'Sign in with key' }).click();
    await tab.locator(`#vm-table tr[data-vm="${d.vm}"]`).waitFor({ timeout: 30000 });
    await tab.locator('#live.live').filter({ hasText: 'live' }).waitFor({ timeout: 30000 });
    const dir = join(root, 'test-artifacts');
    mkdirSync(dir, { recursive: true });
    const shot = join(dir, 'demo-dashboard.png');
    await tab.screenshot({ path: shot, fullPage: true });
    console.log(`headless Chromium signed in with the host key; the VM list: ${shot}`);
    console.log(`  ${(await tab.locator(`#vm-table tr[data-vm="${d.vm}"]`).innerText()).replace(/\s+/g, ' ')}`);
  } finally {
    await browser.close();
  }
}
