/**
 * GET /vms/:id/vmi/events: breakpoint and watchpoint events of a VM's vCPUs as NDJSON over a WebSocket (one
 * JSON object per message, newline-terminated), for processes other than the one holding the gdbstub. The
 * query arms the traps: `break=0xADDR` (repeatable; `hbreak=` for a hardware breakpoint), `watch=0xADDR:LEN[:write
 * |read|access]` (repeatable), `vcpu=N` (only that vCPU's events). Owner only; the attach and the detach (with
 * the count of events sent) are audited. The guest waits for each event to be written to the socket before it
 * goes on, so a slow reader slows the guest down instead of losing events. Closing the socket disarms the traps
 * and lets the guest run.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { VigilError, toVigilError } from '../../core/errors.js';
import { upgradeGuard } from './upgrade-guard.js';
import { VmiCpu } from '../../vmi/cpu/vcpu.js';
import { VmiEvents } from '../../vmi/events/events.js';
import type { Trap, VmiEvent } from '../../vmi/events/types.js';
import type { ApiDeps } from '../context.js';

const COMMAND = 'GET /vms/:id/vmi/events';
const MAX_TRAPS = 8;

function audit(deps: ApiDeps, vm: string, principal: string, outcome: 'ok' | 'refused', reason: string, args: Record<string, unknown>, error?: string): void {
  try {
    deps.vigil.audit.append({ time: new Date(), kind: 'api', vm, principal, command: COMMAND, args, class: 'privileged', outcome, reason, error, durationMs: 0 });
  } catch (err) {
    deps.logger.error({ err: String(err) }, 'could not audit a vmi events session');
  }
}

function addr(text: string, field: string): bigint {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) throw new VigilError('VIGIL_INVALID_INPUT', `${field} '${text}' is not an address: write 0x followed by hex digits`, { context: { field } });
  return BigInt(text);
}

function list(v: unknown): string[] {
  const items: unknown[] = v === undefined ? [] : Array.isArray(v) ? v : [v];
  // Query values are strings (or arrays of them, when repeated); anything else is not an address.
  return items.map((x) => (typeof x === 'string' ? x : ''));
}

/** The traps and vCPU filter a query asks for; VIGIL_INVALID_INPUT naming the parameter otherwise. */
export function parseEventQuery(query: Record<string, unknown>): { traps: Trap[]; vcpu?: number } {
  const traps: Trap[] = [
    ...list(query.break).map((b): Trap => ({ type: 'breakpoint', address: addr(b, 'break') })),
    ...list(query.hbreak).map((b): Trap => ({ type: 'breakpoint', address: addr(b, 'hbreak'), hardware: true })),
    ...list(query.watch).map((w): Trap => {
      const [a = '', len = '', access = 'write'] = w.split(':');
      const length = Number(len);
      if (![1, 2, 4, 8].includes(length)) throw new VigilError('VIGIL_INVALID_INPUT', `watch '${w}': the length must be 1, 2, 4 or 8 bytes (watch=0xADDR:8:write)`, { context: { field: 'watch' } });
      if (access !== 'write' && access !== 'read' && access !== 'access') throw new VigilError('VIGIL_INVALID_INPUT', `watch '${w}': the access must be write, read or access`, { context: { field: 'watch' } });
      return { type: 'watchpoint', address: addr(a, 'watch'), length, access };
    }),
  ];
  if (traps.length === 0) throw new VigilError('VIGIL_INVALID_INPUT', 'arm at least one trap: break=0xADDR, hbreak=0xADDR or watch=0xADDR:LEN[:write|read|access]', { context: { field: 'break' } });
  if (traps.length > MAX_TRAPS) throw new VigilError('VIGIL_INVALID_INPUT', `at most ${MAX_TRAPS} traps per session`, { context: { field: 'break' } });
  const vcpu = query.vcpu === undefined ? undefined : Number(query.vcpu);
  if (vcpu !== undefined && (!Number.isInteger(vcpu) || vcpu < 0)) throw new VigilError('VIGIL_INVALID_INPUT', `vcpu '${String(query.vcpu)}' must be a vCPU index (0, 1, ...)`, { context: { field: 'vcpu' } });
  return { traps, ...(vcpu === undefined ? {} : { vcpu }) };
}

const hex = (v: bigint | undefined): string | undefined => (v === undefined ? undefined : `0x${v.toString(16)}`);

function eventJson(e: VmiEvent): string {
  return JSON.stringify({ seq: e.seq, kind: e.kind, vcpu: e.vcpu, rip: hex(e.rip), address: hex(e.address), access: e.access, cause: e.cause }) + '\n';
}

/** Registers the events WebSocket; `authenticate` verifies the upgrade request (signature or session). */
export function registerVmiEvents(app: FastifyInstance, deps: ApiDeps, authenticate: (req: FastifyRequest) => void): void {
  app.get(
    '/vms/:id/vmi/events',
    {
      websocket: true,
      preValidation: upgradeGuard(
        authenticate,
        (id, caller, req) => {
          deps.access.require(caller, id, 'Owner', 'vCPU events');
          parseEventQuery(req.query as Record<string, unknown>);
          const vm = deps.vigil.vms.get(id);
          if (!vm.definition.introspection) throw new VigilError('VIGIL_VM_STATE', `VM '${id}' has no gdbstub: define it with 'introspection: true'`, { context: { vm: id } });
          if (vm.state !== 'running' && vm.state !== 'paused') throw new VigilError('VIGIL_VM_STATE', `VM '${id}' is ${vm.state}: start it first`, { context: { vm: id, state: vm.state } });
        },
        (id, caller, ve) => audit(deps, id, caller.address, 'refused', ve.message, {}, ve.code),
      ),
    },
    (socket, req) => {
      const id = (req.params as { id: string }).id;
      const principal = req.caller!.address;
      const { traps, vcpu } = parseEventQuery(req.query as Record<string, unknown>);
      const args = { traps: traps.map((t) => ({ ...t, address: hex(t.address) })), ...(vcpu === undefined ? {} : { vcpu }) };
      let sent = 0;
      let cpu: VmiCpu | undefined;
      let events: VmiEvents | undefined;
      let socketClosed = false;
      let detached = false;
      // Detaches whatever was attached so far (the events layer, or only the gdbstub), once.
      const detach = async (): Promise<void> => {
        if (detached) return;
        detached = true;
        const closing = events ? events.close({ resume: true }) : cpu?.close();
        await closing?.catch((err: unknown) => deps.logger.warn({ vm: id, err: String(err) }, 'vmi events: detach failed'));
        if (cpu) audit(deps, id, principal, 'ok', `vCPU events detached after ${sent} event(s)`, { ...args, sent });
      };
      socket.on('close', () => {
        socketClosed = true;
        // While attaching, the attach itself detaches when it sees the socket gone (below).
        if (events || !cpu) void detach();
      });
      void (async () => {
        try {
          cpu = await VmiCpu.open(deps.vigil.vms.files(id).gdbSocket);
          if (socketClosed) return await detach();
          events = new VmiEvents(cpu, { logger: deps.logger });
          for (const trap of traps) {
            await events.subscribe({ trap, ...(vcpu === undefined ? {} : { vcpu }) }, async (e): Promise<'continue'> => {
              if (socket.readyState !== socket.OPEN) return 'continue';
              // Written to the socket before the guest goes on: a slow reader holds the guest, nothing is dropped.
              await new Promise<void>((resolve) => socket.send(eventJson(e), () => resolve()));
              sent++;
              return 'continue';
            });
            if (socketClosed) return await detach();
          }
          audit(deps, id, principal, 'ok', 'vCPU events attached', args);
          // The event stream ends when the guest exits or the gdbstub goes away (or on our own detach): the client
          // is told, instead of waiting on a socket that will never carry another event.
          const ended = events.events({ filter: { kind: 'exit' } });
          void (async () => {
            for await (const e of ended) void e;
            if (!detached && socket.readyState === socket.OPEN) {
              socket.send(JSON.stringify({ kind: 'ended', message: 'the guest exited or its gdbstub closed' }) + '\n');
              socket.close(1011, 'gdbstub gone');
            }
          })();
          await events.start();
          if (socketClosed) return await detach();
          socket.send(JSON.stringify({ kind: 'armed', traps: args.traps }) + '\n');
        } catch (err) {
          const ve = toVigilError(err);
          deps.logger.warn({ vm: id, err: ve.message }, 'vmi events session failed');
          if (socket.readyState === socket.OPEN) {
            socket.send(JSON.stringify({ kind: 'error', code: ve.code, message: ve.message }) + '\n');
            socket.close(1011, ve.code);
          }
          await detach();
        }
      })();
    },
  );
}
