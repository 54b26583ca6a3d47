/** The kill switch over HTTP: its state and plan (host admin and auditor), engage/release/toggle (host admin). */
import { z } from 'zod';
import { callerOf, type RouteContext, type RouteSpec } from '../context.js';

const actionBody = z.strictObject({ reason: z.string().max(500).optional() });
type ActionBody = z.infer<typeof actionBody>;

/** The kill switch routes. */
export function killswitchRoutes(): RouteSpec[] {
  const actions = [
    ['engage', 'cut every planned device from every VM now (idempotent; concurrent triggers share one engage)'],
    ['release', 're-attach what the engage cut, restore links and resume the VMs it paused'],
    ['toggle', 'engage when armed, release when engaged'],
  ] as const;
  return [
    {
      method: 'GET',
      url: '/killswitch',
      summary: 'the kill switch: state, operation in flight, last report, and the plan over the defined VMs (host admin and auditor)',
      tag: 'killswitch',
      auth: 'signed',
      handler: async (ctx) => {
        ctx.deps.access.requireHost(callerOf(ctx), ['admin', 'auditor'], 'reading the kill switch');
        const engine = ctx.deps.killswitch;
        return { ...engine.status(), plan: await engine.plan() };
      },
    },
    ...actions.map(
      ([verb, summary]): RouteSpec<ActionBody> => ({
        method: 'POST',
        url: `/killswitch/${verb}`,
        summary: `${summary} (host admin); answers with the report once done`,
        tag: 'killswitch',
        auth: 'signed',
        body: actionBody,
        handler: async (ctx: RouteContext<ActionBody>) => {
          const caller = callerOf(ctx);
          ctx.deps.access.requireHost(caller, ['admin'], `${verb} of the kill switch`);
          const reason = ctx.body.reason;
          const report = await ctx.deps.killswitch[verb]({ source: 'api', principal: caller.address, ...(reason ? { detail: reason } : {}) });
          return { state: ctx.deps.killswitch.status().state, report };
        },
      }),
    ),
  ];
}
