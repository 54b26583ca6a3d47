/** Snapshot routes: list (ReadOnly), create, restore and delete (Manager); QMP commands audited under the caller. */
import { z } from 'zod';
import { callerOf, type RouteContext, type RouteSpec } from '../context.js';

const createBody = z.strictObject({ name: z.string().min(1).optional(), diskOnly: z.boolean().optional() }).optional();

/** The snapshot routes. */
export function snapshotRoutes(): RouteSpec[] {
  const routes: RouteSpec[] = [
    {
      method: 'GET',
      url: '/vms/:id/snapshots',
      summary: "a VM's disk-and-memory snapshots",
      tag: 'snapshots',
      auth: 'signed',
      handler: async (ctx) => {
        ctx.deps.access.require(callerOf(ctx), ctx.params.id!, 'ReadOnly', 'listing snapshots');
        return { snapshots: await ctx.deps.vigil.snapshotsAs(callerOf(ctx).address).list(ctx.params.id!) };
      },
    },
    {
      method: 'POST',
      url: '/vms/:id/snapshots',
      summary: 'snapshot a running VM (memory and writable qcow2 disks), or with diskOnly an external disk-only snapshot; body {name?, diskOnly?}',
      tag: 'snapshots',
      auth: 'signed',
      status: 201,
      body: createBody,
      handler: async (ctx: RouteContext<z.infer<typeof createBody>>) => {
        ctx.deps.access.require(callerOf(ctx), ctx.params.id!, 'Manager', 'taking a snapshot');
        return ctx.deps.vigil.snapshotsAs(callerOf(ctx).address).create(ctx.params.id!, ctx.body?.name, ctx.body?.diskOnly ? { diskOnly: true } : {});
      },
    },
    {
      method: 'POST',
      url: '/vms/:id/snapshots/:name/restore',
      summary: "bring back a snapshot: memory and disks (VM running), or a disk-only snapshot's disks (VM stopped); the current state is lost",
      tag: 'snapshots',
      auth: 'signed',
      handler: async (ctx) => {
        ctx.deps.access.require(callerOf(ctx), ctx.params.id!, 'Manager', 'restoring a snapshot');
        return ctx.deps.vigil.snapshotsAs(callerOf(ctx).address).restore(ctx.params.id!, ctx.params.name!);
      },
    },
    {
      method: 'DELETE',
      url: '/vms/:id/snapshots/:name',
      summary: 'delete a snapshot (a disk-only one is merged away; VM stopped)',
      tag: 'snapshots',
      auth: 'signed',
      handler: async (ctx) => {
        ctx.deps.access.require(callerOf(ctx), ctx.params.id!, 'Manager', 'deleting a snapshot');
        return ctx.deps.vigil.snapshotsAs(callerOf(ctx).address).remove(ctx.params.id!, ctx.params.name!);
      },
    },
  ];
  return routes;
}
