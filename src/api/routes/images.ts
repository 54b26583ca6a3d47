/**
 * Image routes. Listing is open to every registered principal; creating and converting need the Manager role
 * on some VM (images are shared by the host, not owned by one VM) or host admin; deleting an image that VM
 * definitions name needs Owner on each of those VMs. An image a running VM uses is refused (409) whatever the role.
 */
import { z } from 'zod';
import { atLeast, type Caller } from '../../auth/roles.js';
import { VigilError } from '../../core/errors.js';
import { ImageService, parseSize } from '../../images/service.js';
import { callerOf, type RouteContext, type RouteSpec } from '../context.js';

const createBody = z.strictObject({
  name: z.string().min(1),
  format: z.enum(['raw', 'qcow2']).default('qcow2'),
  /** Bytes, or text such as "10G". */
  size: z.union([z.number().int().positive(), z.string().min(1)]).optional(),
  backing: z.string().min(1).optional(),
});
const convertBody = z.strictObject({ dst: z.string().min(1), format: z.enum(['raw', 'qcow2']) });

function images(ctx: RouteContext<unknown>): ImageService {
  // The directory the daemon was given (VMM_IMAGES_DIR or config) decides, not the library's own default.
  const v = ctx.deps.vigil;
  return v.images.dir === ctx.deps.imagesDir ? v.images : new ImageService(ctx.deps.imagesDir, v.vms);
}

function registered(ctx: RouteContext<unknown>): Caller {
  const caller = callerOf(ctx);
  if (!caller.registered && caller.hostRole === undefined) throw new VigilError('VIGIL_FORBIDDEN', 'only registered principals may see images');
  return caller;
}

/** Host admin, or Manager (or Owner) of at least one VM. */
function requireManager(ctx: RouteContext<unknown>, action: string): Caller {
  const caller = callerOf(ctx);
  if (caller.hostRole === 'admin') return caller;
  const roles = ctx.deps.access.visibleVms(caller, ctx.deps.vigil.vms.list().map((v) => v.name));
  if (![...roles.values()].some((r) => atLeast(r, 'Manager'))) {
    throw new VigilError('VIGIL_FORBIDDEN', `${action} needs the Manager role on at least one VM, or host admin`, { context: { need: 'Manager' } });
  }
  return caller;
}

/** The image routes. */
export function imageRoutes(): RouteSpec[] {
  const routes: RouteSpec[] = [
    {
      method: 'GET',
      url: '/images',
      summary: 'disk images in the images directory: format, virtual and actual size, backing chain, running VMs using them',
      tag: 'images',
      auth: 'signed',
      handler: async (ctx) => {
        registered(ctx);
        const svc = images(ctx);
        return { dir: svc.dir, images: await svc.list() };
      },
    },
    {
      method: 'GET',
      url: '/images/:name',
      summary: 'one image with its backing chain and internal snapshots',
      tag: 'images',
      auth: 'signed',
      handler: async (ctx) => {
        registered(ctx);
        return images(ctx).info(ctx.params.name!);
      },
    },
    {
      method: 'POST',
      url: '/images',
      summary: 'create an image (raw or qcow2; a qcow2 may have a backing image); Manager on some VM, or host admin',
      tag: 'images',
      auth: 'signed',
      status: 201,
      body: createBody,
      handler: async (ctx: RouteContext<z.infer<typeof createBody>>) => {
        requireManager(ctx, 'creating an image');
        const b = ctx.body;
        const size = b.size === undefined ? undefined : typeof b.size === 'number' ? b.size : parseSize(b.size);
        return images(ctx).create(b.name, { format: b.format, ...(size !== undefined ? { size } : {}), ...(b.backing !== undefined ? { backing: b.backing } : {}) });
      },
    },
    {
      method: 'POST',
      url: '/images/:name/convert',
      summary: 'convert an image into a new one (raw or qcow2); refused while a running VM uses it; Manager on some VM, or host admin',
      tag: 'images',
      auth: 'signed',
      status: 201,
      body: convertBody,
      handler: async (ctx: RouteContext<z.infer<typeof convertBody>>) => {
        requireManager(ctx, 'converting an image');
        return images(ctx).convert(ctx.params.name!, ctx.body.dst, { format: ctx.body.format });
      },
    },
    {
      method: 'DELETE',
      url: '/images/:name',
      summary: 'delete an image; one that VM definitions name needs Owner on each of those VMs; refused while a running VM uses it',
      tag: 'images',
      auth: 'signed',
      handler: async (ctx) => {
        const caller = callerOf(ctx);
        const svc = images(ctx);
        const users = svc.definedIn(ctx.params.name!);
        if (users.length === 0) requireManager(ctx, 'deleting an image');
        for (const vm of users) {
          if (!atLeast(ctx.deps.access.roleOn(caller, vm), 'Owner')) {
            throw new VigilError('VIGIL_FORBIDDEN', `deleting image '${ctx.params.name!}' needs the Owner role on every VM that uses it (${users.join(', ')})`, { context: { need: 'Owner', vms: users } });
          }
        }
        await svc.remove(ctx.params.name!);
        return { name: ctx.params.name, removed: true };
      },
    },
  ];
  return routes;
}
