/**
 * The preValidation of a WebSocket route on one VM: authenticate the upgrade request, run the route's own checks
 * (role, VM state, query), and audit a refusal before it is sent. Console and vCPU events share it.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toVigilError, type VigilError } from '../../core/errors.js';
import type { Caller } from '../../auth/roles.js';

/** Builds the hook: `check` throws to refuse; `refused` records the refusal (with the VM id and the caller). */
export function upgradeGuard(
  authenticate: (req: FastifyRequest) => void,
  check: (vm: string, caller: Caller, req: FastifyRequest) => void,
  refused: (vm: string, caller: Caller, err: VigilError) => void,
): (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void {
  return (req, _reply, done) => {
    const vm = (req.params as { id: string }).id;
    try {
      authenticate(req);
      const caller = req.caller!;
      try {
        check(vm, caller, req);
      } catch (err) {
        const ve = toVigilError(err);
        refused(vm, caller, ve);
        throw ve;
      }
      done();
    } catch (err) {
      done(err as Error);
    }
  };
}
