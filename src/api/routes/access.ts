/** Who may do what: per-VM permissions, teams and their members, registered principals. */
import { ADDRESS_PATTERN } from '../../auth/eip191.js';
import { z } from 'zod';
import { VM_ROLES, HOST_ROLES } from '../../auth/roles.js';
import { VigilError } from '../../core/errors.js';
import { callerOf, type RouteContext, type RouteSpec } from '../context.js';

const TEAM = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const subject = z.string().refine((s) => ADDRESS_PATTERN.test(s) || (s.startsWith('team:') && TEAM.test(s.slice(5))), {
  message: 'a subject is an address (0x + 40 hex digits) or team:<name>',
});
const grantBody = z.strictObject({ subject, role: z.enum(VM_ROLES as unknown as [string, ...string[]]) });
const revokeBody = z.strictObject({ subject });
const teamBody = z.strictObject({ name: z.string().regex(TEAM, 'team names use letters, digits, "_", "." or "-"') });
const memberBody = z.strictObject({ admin: z.boolean().default(false) }).optional();
const principalBody = z.strictObject({
  hostRole: z.enum(HOST_ROLES as unknown as [string, ...string[]]).nullable().optional(),
  name: z.string().max(100).optional(),
});

function address(text: string | undefined, field: string): string {
  if (!text || !ADDRESS_PATTERN.test(text)) throw new VigilError('VIGIL_INVALID_INPUT', `${field} must be an address: 0x followed by 40 hex digits`, { context: { field } });
  return text.toLowerCase();
}

function requireTeamAdmin(ctx: RouteContext<unknown>, team: string): void {
  const caller = callerOf(ctx);
  if (!ctx.deps.accessRepo.teamExists(team)) throw new VigilError('VIGIL_NOT_FOUND', `no team named '${team}'`);
  if (caller.hostRole === 'admin') return;
  const me = ctx.deps.accessRepo.members(team).find((m) => m.address === caller.address);
  if (!me) throw new VigilError('VIGIL_NOT_FOUND', `no team named '${team}'`);
  if (!me.admin) throw new VigilError('VIGIL_FORBIDDEN', `changing team '${team}' needs team admin`);
}

/** The access routes. */
export function accessRoutes(): RouteSpec[] {
  const routes: RouteSpec[] = [
    {
      method: 'GET',
      url: '/vms/:id/permissions',
      summary: "a VM's grants (Owner)",
      tag: 'permissions',
      auth: 'signed',
      handler: (ctx) => {
        ctx.deps.access.require(callerOf(ctx), ctx.params.id!, 'Owner', 'viewing permissions');
        return { id: ctx.params.id, grants: ctx.deps.accessRepo.grants(ctx.params.id!) };
      },
    },
    {
      method: 'PUT',
      url: '/vms/:id/permissions',
      summary: 'grant a role on a VM to an address or team:<name> (Owner; granting Owner transfers or shares ownership)',
      tag: 'permissions',
      auth: 'signed',
      body: grantBody,
      handler: (ctx: RouteContext<z.infer<typeof grantBody>>) => {
        const caller = callerOf(ctx);
        ctx.deps.access.require(caller, ctx.params.id!, 'Owner', 'changing permissions');
        if (ctx.body.subject.startsWith('team:') && !ctx.deps.accessRepo.teamExists(ctx.body.subject.slice(5))) {
          throw new VigilError('VIGIL_NOT_FOUND', `no team named '${ctx.body.subject.slice(5)}'`);
        }
        ctx.deps.accessRepo.grant(ctx.params.id!, ctx.body.subject, ctx.body.role, caller.address);
        return { id: ctx.params.id, grants: ctx.deps.accessRepo.grants(ctx.params.id!) };
      },
    },
    {
      method: 'DELETE',
      url: '/vms/:id/permissions',
      summary: "revoke a subject's grant on a VM (Owner); the last Owner cannot be removed",
      tag: 'permissions',
      auth: 'signed',
      body: revokeBody,
      handler: (ctx: RouteContext<z.infer<typeof revokeBody>>) => {
        ctx.deps.access.require(callerOf(ctx), ctx.params.id!, 'Owner', 'changing permissions');
        const grants = ctx.deps.accessRepo.grants(ctx.params.id!);
        const target = grants.find((g) => g.subject === (ctx.body.subject.startsWith('team:') ? ctx.body.subject : ctx.body.subject.toLowerCase()));
        if (!target) throw new VigilError('VIGIL_NOT_FOUND', `'${ctx.body.subject}' has no grant on VM '${ctx.params.id}'`);
        if (target.role === 'Owner' && grants.filter((g) => g.role === 'Owner').length === 1) {
          throw new VigilError('VIGIL_INVALID_INPUT', 'this is the last Owner of the VM; grant Owner to someone else first', { context: { field: 'subject' } });
        }
        ctx.deps.accessRepo.revoke(ctx.params.id!, ctx.body.subject);
        return { id: ctx.params.id, grants: ctx.deps.accessRepo.grants(ctx.params.id!) };
      },
    },
    {
      method: 'GET',
      url: '/teams',
      summary: "the caller's teams (host admins: all)",
      tag: 'teams',
      auth: 'signed',
      handler: (ctx) => {
        const caller = callerOf(ctx);
        const names = caller.hostRole === 'admin' ? ctx.deps.accessRepo.teams() : caller.teams;
        return { teams: names.map((name) => ({ name, members: ctx.deps.accessRepo.members(name) })) };
      },
    },
    {
      method: 'POST',
      url: '/teams',
      summary: 'create a team; the caller becomes its admin',
      tag: 'teams',
      auth: 'signed',
      status: 201,
      body: teamBody,
      handler: (ctx: RouteContext<z.infer<typeof teamBody>>) => {
        const caller = callerOf(ctx);
        if (!caller.registered) throw new VigilError('VIGIL_FORBIDDEN', 'only registered principals may create teams');
        if (!ctx.deps.accessRepo.createTeam(ctx.body.name, caller.address)) throw new VigilError('VIGIL_VM_EXISTS', `a team named '${ctx.body.name}' already exists`);
        return { name: ctx.body.name, members: ctx.deps.accessRepo.members(ctx.body.name) };
      },
    },
    {
      method: 'GET',
      url: '/teams/:name',
      summary: 'a team and its members (members and host admins)',
      tag: 'teams',
      auth: 'signed',
      handler: (ctx) => {
        const caller = callerOf(ctx);
        const members = ctx.deps.accessRepo.members(ctx.params.name!);
        if (members.length === 0 || (caller.hostRole !== 'admin' && !members.some((m) => m.address === caller.address))) {
          throw new VigilError('VIGIL_NOT_FOUND', `no team named '${ctx.params.name}'`);
        }
        return { name: ctx.params.name, members };
      },
    },
    {
      method: 'PUT',
      url: '/teams/:name/members/:address',
      summary: 'add or update a member (team admins)',
      tag: 'teams',
      auth: 'signed',
      body: memberBody,
      handler: (ctx: RouteContext<z.infer<typeof memberBody>>) => {
        requireTeamAdmin(ctx, ctx.params.name!);
        ctx.deps.accessRepo.setMember(ctx.params.name!, address(ctx.params.address, 'address'), ctx.body?.admin ?? false);
        return { name: ctx.params.name, members: ctx.deps.accessRepo.members(ctx.params.name!) };
      },
    },
    {
      method: 'DELETE',
      url: '/teams/:name/members/:address',
      summary: 'remove a member (team admins)',
      tag: 'teams',
      auth: 'signed',
      handler: (ctx) => {
        requireTeamAdmin(ctx, ctx.params.name!);
        if (!ctx.deps.accessRepo.removeMember(ctx.params.name!, address(ctx.params.address, 'address'))) throw new VigilError('VIGIL_NOT_FOUND', 'no such member');
        return { name: ctx.params.name, members: ctx.deps.accessRepo.members(ctx.params.name!) };
      },
    },
    {
      method: 'DELETE',
      url: '/teams/:name',
      summary: 'delete a team and its grants (team admins)',
      tag: 'teams',
      auth: 'signed',
      handler: (ctx) => {
        requireTeamAdmin(ctx, ctx.params.name!);
        ctx.deps.accessRepo.deleteTeam(ctx.params.name!);
        return { name: ctx.params.name, deleted: true };
      },
    },
    {
      method: 'GET',
      url: '/principals',
      summary: 'registered principals (host admin)',
      tag: 'host',
      auth: 'signed',
      handler: (ctx) => {
        ctx.deps.access.requireHost(callerOf(ctx), ['admin'], 'listing principals');
        return { principals: ctx.deps.accessRepo.principals() };
      },
    },
    {
      method: 'PUT',
      url: '/principals/:address',
      summary: 'register a principal, optionally with a host role (host admin)',
      tag: 'host',
      auth: 'signed',
      body: principalBody,
      handler: (ctx: RouteContext<z.infer<typeof principalBody>>) => {
        ctx.deps.access.requireHost(callerOf(ctx), ['admin'], 'registering principals');
        const a = address(ctx.params.address, 'address');
        ctx.deps.accessRepo.upsertPrincipal(a, ctx.body.hostRole ?? null, ctx.body.name ?? null);
        return ctx.deps.accessRepo.principal(a);
      },
    },
    {
      method: 'DELETE',
      url: '/principals/:address',
      summary: 'remove a principal and its grants (host admin)',
      tag: 'host',
      auth: 'signed',
      handler: (ctx) => {
        const caller = callerOf(ctx);
        ctx.deps.access.requireHost(caller, ['admin'], 'removing principals');
        const a = address(ctx.params.address, 'address');
        if (a === caller.address) throw new VigilError('VIGIL_INVALID_INPUT', 'you cannot remove yourself', { context: { field: 'address' } });
        ctx.deps.accessRepo.removePrincipal(a);
        return { address: a, deleted: true };
      },
    },
  ];
  return routes;
}
