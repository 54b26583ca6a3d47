/** Who is signed in: the address from /auth/login and the host role found by probing what the API allows. */
import { api, ApiError } from './api.js';

/** The signed-in principal as the dashboard knows it. */
export interface Session {
  address: string;
  hostRole: 'admin' | 'auditor' | undefined;
}

const KEY = 'vigil.address';

/** Signs in with a signed challenge (the cookie is set by the reply) and learns the host role. */
export async function login(address: string, sign: (message: string) => Promise<string>): Promise<Session> {
  const challenge = await api<{ message: string }>('POST', '/auth/challenge', { address });
  const signature = await sign(challenge.message);
  const done = await api<{ address: string }>('POST', '/auth/login', { message: challenge.message, signature });
  sessionStorage.setItem(KEY, done.address);
  return { address: done.address, hostRole: await probeHostRole() };
}

/** The host role, from which host-only routes answer (the API has no whoami route). */
export async function probeHostRole(): Promise<Session['hostRole']> {
  try {
    await api('GET', '/principals');
    return 'admin';
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 403) throw err;
  }
  try {
    await api('GET', '/audit?limit=1');
    return 'auditor';
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 403) throw err;
    return undefined;
  }
}

/** The session of an earlier sign-in in this tab, if its cookie still works. */
export async function resume(): Promise<Session | undefined> {
  const address = sessionStorage.getItem(KEY);
  if (!address) return undefined;
  try {
    return { address, hostRole: await probeHostRole() };
  } catch {
    sessionStorage.removeItem(KEY);
    return undefined;
  }
}

/** Revokes the session on the server and forgets it here. */
export async function logout(): Promise<void> {
  sessionStorage.removeItem(KEY);
  await api('POST', '/auth/logout').catch(() => undefined);
}
