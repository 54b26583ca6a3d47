/**
 * The dashboard shell: sign-in, the navigation, a hash router (so no page path can shadow an API route), and
 * the one /events stream the pages subscribe to. No framework: a handful of pages built with `h()` keep the
 * bundle small and the CSP strict (no inline script, no eval).
 */
import './style.css';
import { SIGNED_OUT } from './api.js';
import type { Page, PageContext } from './context.js';
import { flash, h, replace } from './dom.js';
import { EventStream } from './events.js';
import { renderLogin } from './login.js';
import { imagesPage } from './pages/images.js';
import { introspectionIndexPage, introspectionVmPage } from './pages/introspection.js';
import { alarmsPage } from './pages/alarms.js';
import { auditPage } from './pages/audit.js';
import { killswitchPage } from './pages/killswitch.js';
import { vmDetailPage } from './pages/vm-detail.js';
import { vmFormPage } from './pages/vm-form.js';
import { vmListPage } from './pages/vm-list.js';
import { logout, resume, type Session } from './session.js';

const main = document.getElementById('main')!;
const nav = document.getElementById('nav')!;
const who = document.getElementById('who')!;
const live = h('span', { id: 'live', class: 'live offline', title: 'live updates' }, 'offline');
const events = new EventStream((state) => {
  live.className = `live ${state}`;
  live.textContent = state;
});

let session: Session | undefined;
const leave: (() => void)[] = [];

const routes: [RegExp, Page, string?][] = [
  [/^\/vms$/, vmListPage, 'VMs'],
  [/^\/new$/, vmFormPage],
  [/^\/vms\/([^/]+)$/, vmDetailPage],
  [/^\/vms\/([^/]+)\/introspection$/, introspectionVmPage],
  [/^\/images$/, imagesPage, 'Images'],
  [/^\/killswitch$/, killswitchPage, 'Kill switch'],
  [/^\/audit$/, auditPage, 'Audit log'],
  [/^\/alarms$/, alarmsPage, 'Host alarms'],
  [/^\/introspection$/, introspectionIndexPage, 'Processes'],
];

function renderNav(): void {
  const path = location.hash.slice(1) || '/vms';
  const links: [string, string][] = [['#/vms', 'VMs'], ['#/images', 'Images']];
  if (session?.hostRole) links.push(['#/killswitch', 'Kill switch'], ['#/audit', 'Audit log'], ['#/alarms', 'Host alarms']);
  links.push(['#/introspection', 'Processes']);
  replace(nav, h('ul', {}, ...links.map(([href, text]) => h('li', {}, h('a', { href, 'aria-current': path.startsWith(href.slice(1)) ? 'page' : undefined }, text)))));
  replace(
    who,
    session
      ? h(
          'span',
          {},
          live,
          ' ',
          h('span', { class: 'addr', title: session.address }, `${session.address.slice(0, 6)}…${session.address.slice(-4)}`),
          session.hostRole ? h('span', { class: 'badge' }, session.hostRole) : null,
          ' ',
          h('button', { type: 'button', id: 'logout', onclick: () => void signOut() }, 'Sign out'),
        )
      : null,
  );
}

async function route(): Promise<void> {
  for (const fn of leave.splice(0)) fn();
  flash('');
  if (!session) {
    replace(nav);
    replace(who);
    renderLogin(main, (s) => {
      session = s;
      events.start();
      if (!location.hash || location.hash === '#/login') location.hash = '#/vms';
      else void route();
    });
    return;
  }
  renderNav();
  const path = location.hash.slice(1) || '/vms';
  for (const [re, page] of routes) {
    const m = re.exec(path);
    if (!m) continue;
    const ctx: PageContext = { session, events, onLeave: (fn) => leave.push(fn) };
    main.replaceChildren();
    try {
      await page(main, ctx, m.slice(1).map(decodeURIComponent));
    } catch (err) {
      flash(err instanceof Error ? err.message : String(err));
    }
    return;
  }
  replace(main, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/vms' }, 'Back to the VMs')));
}

async function signOut(): Promise<void> {
  events.stop();
  session = undefined;
  await logout();
  location.hash = '#/login';
  void route();
}

// After a navigation, focus moves to the new page's content (screen readers announce it; Tab starts there).
window.addEventListener('hashchange', () => void route().then(() => main.focus({ preventScroll: true })));
window.addEventListener(SIGNED_OUT, () => {
  if (!session) return;
  events.stop();
  session = undefined;
  void route().then(() => flash('Your session ended; sign in again.'));
});

void (async () => {
  session = await resume();
  if (session) events.start();
  await route();
})();
