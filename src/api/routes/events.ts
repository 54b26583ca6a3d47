/**
 * GET /events: a WebSocket of VM state changes, QMP events and audit entries, each sent only to callers who may
 * see it (a role on the VM; audit entries: Manager and up, or the host's admin and auditor roles).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { atLeast } from '../../auth/roles.js';
import type { ApiDeps } from '../context.js';
import type { BusEvent } from '../event-bus.js';

/** Registers the /events WebSocket; `authenticate` verifies the upgrade request's signature. */
export function registerEvents(app: FastifyInstance, deps: ApiDeps, authenticate: (req: FastifyRequest) => void): void {
  app.get(
    '/events',
    {
      websocket: true,
      preValidation: (req, _reply, done) => {
        try {
          authenticate(req);
          done();
        } catch (err) {
          done(err as Error);
        }
      },
    },
    (socket, req) => {
      const caller = req.caller!;
      const hostReader = caller.hostRole === 'admin' || caller.hostRole === 'auditor';
      const visible = (e: BusEvent): boolean => {
        if (e.vm === '') return hostReader;
        if (e.type === 'audit') return hostReader || atLeast(deps.access.roleOn(caller, e.vm), 'Manager');
        return deps.access.roleOn(caller, e.vm) !== undefined;
      };
      const unsubscribe = deps.events.subscribe((e) => {
        if (socket.readyState === socket.OPEN && visible(e)) socket.send(JSON.stringify(e));
      });
      socket.on('close', unsubscribe);
      socket.send(JSON.stringify({ type: 'hello', vm: '', time: new Date().toISOString(), data: { address: caller.address } }));
    },
  );
}
