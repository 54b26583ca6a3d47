/** The sign-in page: a browser wallet (EIP-1193 personal_sign) when the page has one, else a local key. */
import { ApiError } from './api.js';
import { h, replace } from './dom.js';
import { login, type Session } from './session.js';
import { addressOf, parsePrivateKey, personalSign } from './sign.js';

interface Eip1193 {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
}

function wallet(): Eip1193 | undefined {
  return (window as unknown as { ethereum?: Eip1193 }).ethereum;
}

/** personal_sign's message parameter: the UTF-8 bytes as 0x-hex, the form every EIP-1193 wallet accepts. */
function hexUtf8(text: string): string {
  return `0x${[...new TextEncoder().encode(text)].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

function explain(err: unknown): string {
  if (err instanceof ApiError) return `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}

/** Renders the sign-in page; resolves `done` with the session once signed in. */
export function renderLogin(main: HTMLElement, done: (s: Session) => void): void {
  const status = h('p', { id: 'login-status', role: 'status', 'aria-live': 'polite' });
  const fail = (err: unknown): void => {
    status.className = 'error';
    status.textContent = `Sign-in failed: ${explain(err)}`;
  };

  const provider = wallet();
  const walletPart = provider
    ? h(
        'section',
        { class: 'card', 'aria-labelledby': 'wallet-h' },
        h('h2', { id: 'wallet-h' }, 'Browser wallet'),
        h('p', {}, 'Sign the Sign-In with Ethereum message in your wallet.'),
        h(
          'button',
          {
            id: 'wallet-login',
            type: 'button',
            class: 'primary',
            onclick: () => {
              status.className = '';
              status.textContent = 'Waiting for the wallet…';
              void (async () => {
                const accounts = (await provider.request({ method: 'eth_requestAccounts' })) as string[];
                const address = accounts[0];
                if (!address) throw new Error('the wallet gave no account');
                done(await login(address.toLowerCase(), async (message) => (await provider.request({ method: 'personal_sign', params: [hexUtf8(message), address] })) as string));
              })().catch(fail);
            },
          },
          'Sign in with wallet',
        ),
      )
    : null;

  const keyInput = h('input', { id: 'key', type: 'password', autocomplete: 'off', spellcheck: 'false', placeholder: '0x…', 'aria-describedby': 'key-help' });
  const fileInput = h('input', {
    id: 'keyfile',
    type: 'file',
    accept: '.json,.txt,.key',
    onchange: () => {
      const file = fileInput.files?.[0];
      if (file) void file.text().then((t) => (keyInput.value = t.trim()));
    },
  });
  const form = h(
    'form',
    {
      id: 'key-form',
      class: 'card',
      'aria-labelledby': 'key-h',
      onsubmit: (e: Event) => {
        e.preventDefault();
        status.className = '';
        status.textContent = 'Signing in…';
        void (async () => {
          const key = parsePrivateKey(keyInput.value);
          keyInput.value = '';
          done(await login(addressOf(key), (message) => Promise.resolve(personalSign(key, message))));
        })().catch(fail);
      },
    },
    h('h2', { id: 'key-h' }, 'Local key'),
    h('label', { for: 'key' }, 'Private key'),
    keyInput,
    h('p', { id: 'key-help', class: 'help' }, 'Signed in this page; the key is never sent or stored. For a single-user host: the key of `vigil key show`.'),
    h('label', { for: 'keyfile' }, 'or load a key file (key.json or hex)'),
    fileInput,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in with key'),
  );
  replace(main, h('h1', {}, 'Sign in to Vigil'), walletPart, form, status);
}
