/**
 * GET /vms/:id/console: the VM's serial console as a WebSocket (what `vigil vm console` does on the host, for
 * the dashboard's xterm.js). The upgrade is signed or carries a session cookie and needs the Operator role, like
 * GET /vms/:id/logs. The socket first gets the tail of the console log, then the live bytes both ways. Attaching
 * and refusals are audited.
 */
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { VigilError } from '../../core/errors.js';
import { upgradeGuard } from './upgrade-guard.js';
import type { ApiDeps } from '../context.js';

/** Bytes queued on the WebSocket above which the serial socket is no longer read, and below which it is again. */
const CONSOLE_HIGH_WATER = 1 << 20;
const CONSOLE_LOW_WATER = 256 << 10;

/** Lines of the console log sent before the live stream, so the page does not open on a blank screen. */
const BACKLOG_LINES = 200;

function audit(deps: ApiDeps, vm: string, principal: string, outcome: 'ok' | 'refused', reason: string, error?: string): void {
  try {
    deps.vigil.audit.append({ time: new Date(), kind: 'api', vm, principal, command: 'GET /vms/:id/console', args: {}, class: 'api', outcome, reason, error, durationMs: 0 });
  } catch (err) {
    deps.logger.error({ err: String(err) }, 'could not audit a console attach');
  }
}

/** Registers the console WebSocket; `authenticate` verifies the upgrade request (signature or session). */
export function registerConsole(app: FastifyInstance, deps: ApiDeps, authenticate: (req: FastifyRequest) => void): void {
  app.get(
    '/vms/:id/console',
    {
      websocket: true,
      preValidation: upgradeGuard(
        authenticate,
        (id, caller) => {
          deps.access.require(caller, id, 'Operator', 'the serial console');
          const vm = deps.vigil.vms.get(id);
          if (!existsSync(deps.vigil.vms.files(vm.name).serialSocket)) {
            throw new VigilError('VIGIL_VM_STATE', `VM '${id}' is ${vm.state}: the serial console needs a running VM`, { context: { vm: id, state: vm.state } });
          }
        },
        (id, caller, ve) => audit(deps, id, caller.address, 'refused', ve.message, ve.code),
      ),
    },
    (socket, req) => {
      const id = (req.params as { id: string }).id;
      const vm = deps.vigil.vms.get(id);
      audit(deps, vm.name, req.caller!.address, 'ok', 'serial console attached');
      try {
        const backlog = deps.vigil.vms.logs(vm.name, BACKLOG_LINES);
        if (backlog) socket.send(Buffer.from(backlog));
      } catch {
        // no log yet: the live stream is enough
      }
      const serial = createConnection({ path: deps.vigil.vms.files(vm.name).serialSocket });
      // A guest that prints faster than the client reads must not grow vigild's memory: stop reading the serial
      // socket while the WebSocket's buffer is full, and go on once it has drained.
      serial.on('data', (d: Buffer) => {
        if (socket.readyState !== socket.OPEN) return;
        socket.send(d, () => {
          if (serial.isPaused() && socket.bufferedAmount < CONSOLE_LOW_WATER) serial.resume();
        });
        if (socket.bufferedAmount > CONSOLE_HIGH_WATER) serial.pause();
      });
      serial.on('error', (err) => {
        deps.logger.warn({ vm: vm.name, err: err.message }, 'serial console connection failed');
        socket.close(1011, 'serial console unavailable');
      });
      serial.on('close', () => {
        if (socket.readyState === socket.OPEN) socket.close(1000, 'console closed');
      });
      socket.on('message', (data: Buffer) => serial.write(data));
      socket.on('close', () => serial.destroy());
    },
  );
}
