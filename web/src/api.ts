/** The API from the browser: same-origin fetches that carry the session cookie; errors keep the API's code. */

/** An API error reply: `{ error: { code, message } }` with its HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Fired when the session is gone (401), so the app shows the sign-in page. */
export const SIGNED_OUT = 'vigil:signed-out';

/** One JSON request; throws ApiError on a non-2xx reply. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers = { ...init.headers, 'content-type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
    const e = new ApiError(res.status, err?.code ?? 'HTTP_' + String(res.status), err?.message ?? (text || res.statusText));
    if (res.status === 401 && !path.startsWith('/auth/')) window.dispatchEvent(new CustomEvent(SIGNED_OUT));
    throw e;
  }
  return data as T;
}

/** The VM view of GET /vms and GET /vms/:id. */
export interface VmView {
  id: string;
  name: string;
  state: string;
  pid: number | null;
  cpus: number;
  memoryMiB: number;
  startedAt: string | null;
  autostart: boolean;
  tags: string[];
  needsRestart: boolean;
  role: 'ReadOnly' | 'Operator' | 'Manager' | 'Owner';
  definition?: Record<string, unknown>;
  history?: { time: string; from: string; to: string; reason: string }[];
}

const ROLES = ['ReadOnly', 'Operator', 'Manager', 'Owner'] as const;

/** Does `role` include `need`? */
export function atLeast(role: string | undefined, need: (typeof ROLES)[number]): boolean {
  return role !== undefined && ROLES.indexOf(role as (typeof ROLES)[number]) >= ROLES.indexOf(need);
}
