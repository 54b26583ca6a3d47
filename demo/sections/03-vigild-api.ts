/**
 * Section 3: vigild and the signed API. The host key is registered as host admin, `vigil api` signs requests,
 * an unsigned one is refused; vigild restarts a crashed QEMU by its policy and adopts running VMs when it
 * restarts itself.
 */
import { GUEST_READY_LINE } from '../../guest/init-script.js';
import { readPidfile } from '../../src/vm/process.js';
import { vmFiles } from '../../src/vm/runtime.js';
import { heading, note, serialLog, startVigild, stopVigild, until, vigil, vigildLogs, vmState, type Demo } from '../lib.js';

const readyLines = (d: Demo): number => serialLog(d).split(GUEST_READY_LINE).length - 1;

/** Runs the section. */
export async function vigildApi(d: Demo): Promise<void> {
  heading('3. vigild and the signed REST API');
  note("a secp256k1 key for this host (0600), registered as host admin");
  vigil(d, ['init']);
  vigil(d, ['key', 'show']);
  const v = await startVigild(d);
  const ready = vigildLogs(v).find((l) => l.msg === 'vigild ready')!;
  console.log(`vigild ready: ${JSON.stringify({ api: ready.api, adopted: ready.adopted, triggers: ready.triggers })}`);
  const health = await fetch(`${v.api}/health`);
  console.log(`$ curl ${v.api}/health\n${await health.text()}`);
  const unsigned = await fetch(`${v.api}/vms`);
  const refusal = await unsigned.text();
  console.log(`$ curl ${v.api}/vms      # no signature\nHTTP ${unsigned.status} ${refusal}`);
  if (unsigned.status !== 401) throw new Error(`an unsigned GET /vms answered ${unsigned.status}, expected 401`);
  note('the same request signed with the host key (X-Signature, X-Recovery-ID, X-Timestamp)');
  vigil(d, ['api', 'GET', '/vms']);
  vigil(d, ['api', 'POST', `/vms/${d.vm}/qmp`, '{"command": "query-status"}']);
  note("another user: her own key (her own config dir), registered by the host admin, then given a role on one VM");
  const alice = { prefix: `VIGIL_HOME=${d.home}/alice`, env: { VIGIL_HOME: `${d.home}/alice` } };
  const address = vigil(d, ['key', 'new'], 0, { as: alice }).trim();
  vigil(d, ['api', 'GET', '/vms'], 1, { as: alice });
  vigil(d, ['api', 'PUT', `/principals/${address}`, '{"name": "alice"}']);
  vigil(d, ['api', 'GET', '/vms'], 0, { as: alice });
  vigil(d, ['api', 'PUT', `/vms/${d.vm}/permissions`, JSON.stringify({ subject: address, role: 'ReadOnly' })]);
  const seen = vigil(d, ['api', 'GET', '/vms'], 0, { as: alice, quiet: true });
  const vms = (JSON.parse(seen) as { vms: { name: string; role: string }[] }).vms;
  console.log(`-> ${vms.map((v) => `${v.name}: ${v.role}`).join(', ')}   (names and roles from the reply)`);
  vigil(d, ['api', 'POST', `/vms/${d.vm}/pause`], 1, { as: alice });
  vigil(d, ['audit', 'tail', '-n', '3']);

  heading('3b. vigild supervises: a crashed QEMU is restarted by its policy; VMs outlive vigild');
  const files = vmFiles(d.paths, d.vm);
  const before = readPidfile(files.pidfile)!;
  const booted = readyLines(d);
  console.log(`$ kill -9 ${before}   # the QEMU of '${d.vm}' dies`);
  process.kill(before, 'SIGKILL');
  await until('vigild to restart the VM', () => {
    const s = vmState(d);
    return s.state === 'running' && s.pid !== null && s.pid !== before;
  });
  await until('the restarted guest to boot', () => readyLines(d) > booted);
  vigil(d, ['vm', 'ls']);
  console.log(`$ kill -9 ${v.process.pid}   # vigild itself dies`);
  await stopVigild(d, 'SIGKILL');
  vigil(d, ['vm', 'ls']);
  const again = await startVigild(d);
  const adopted = vigildLogs(again).filter((l) => l.msg === 'vigild ready').at(-1)!;
  console.log(`vigild ready: ${JSON.stringify({ adopted: adopted.adopted })}   # the running VM is adopted, not restarted`);
  if (!JSON.stringify(adopted.adopted).includes(d.vm)) throw new Error(`vigild did not adopt ${d.vm}: ${JSON.stringify(adopted.adopted)}`);
}
