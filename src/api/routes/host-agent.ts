/** The host agent over HTTP: its status and listening ports (host admin, auditor); named lockdowns (host admin). */
import { z } from 'zod';
import { VigilError } from '../../core/errors.js';
import { listListeners } from '../../host/ports/audit.js';
import { callerOf, type RouteContext, type RouteSpec } from '../context.js';

const lockdownBody = z.strictObject({ reason: z.string().max(500).optional() });

function agentOf(ctx: RouteContext<unknown>): NonNullable<RouteContext<unknown>['deps']['host']> {
  const host = ctx.deps.host;
  if (!host) throw new VigilError('VIGIL_NOT_FOUND', 'no host agent runs in this process (it runs in vigild)');
  return host;
}

/** The host agent routes. */
export function hostAgentRoutes(): RouteSpec[] {
  return [
    {
      method: 'GET',
      url: '/host/agent',
      summary: 'the host agent: honeypots, canary files, port and file-integrity watches, lockdowns (host admin, auditor)',
      tag: 'host',
      auth: 'signed',
      handler: (ctx) => {
        ctx.deps.access.requireHost(callerOf(ctx), ['admin', 'auditor'], 'reading the host agent');
        return agentOf(ctx).status();
      },
    },
    {
      method: 'GET',
      url: '/host/ports',
      summary: 'every listening TCP/UDP socket with its process, compared with the allowlist (host admin, auditor)',
      tag: 'host',
      auth: 'signed',
      handler: async (ctx) => {
        ctx.deps.access.requireHost(callerOf(ctx), ['admin', 'auditor'], 'listing listening ports');
        // The same allowlist the agent's port watch applies: its own honeypots are expected listeners.
        return { listeners: await listListeners(ctx.deps.host?.allowlist() ?? ctx.deps.vigil.config.host.ports.allow) };
      },
    },
    {
      method: 'POST',
      url: '/host/lockdown/:name',
      summary: 'run a named lockdown now (kill switch, pause VMs, API on the local socket only, ...); host admin',
      tag: 'host',
      auth: 'signed',
      body: lockdownBody,
      handler: async (ctx: RouteContext<z.infer<typeof lockdownBody>>) => {
        const caller = callerOf(ctx);
        ctx.deps.access.requireHost(caller, ['admin'], 'a lockdown');
        const host = agentOf(ctx);
        const name = ctx.params.name!;
        if (!host.lockdownNames().includes(name)) {
          throw new VigilError('VIGIL_NOT_FOUND', `no lockdown named '${name}' (configured: ${host.lockdownNames().join(', ') || 'none'}); define it under host.lockdowns in config.yaml`, { context: { lockdown: name } });
        }
        return host.lockdown(name, { source: 'api', principal: caller.address, ...(ctx.body.reason ? { detail: ctx.body.reason } : {}) });
      },
    },
  ];
}
