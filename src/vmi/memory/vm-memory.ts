/**
 * Opens the guest memory of a running Vigil VM: a raw QMP session for Vigil's own queries (the map, gpa2hva,
 * registers), the map from QEMU, and a backend (the shared RAM file when the VM has `introspection: true`,
 * otherwise QEMU's /proc/<pid>/mem). Writes are audited into the store and the text log under the principal.
 */
import { existsSync } from 'node:fs';
import { VigilError } from '../../core/errors.js';
import { resolvePaths, storePath, type VigilPaths } from '../../core/paths.js';
import { LineAuditSink } from '../../qmp/audit-line.js';
import { QmpClient } from '../../qmp/client.js';
import { AuditLog } from '../../store/audit-log.js';
import { openStore, type StoreDb } from '../../store/db.js';
import { auditLinePath, localPrincipal } from '../../vm/monitor.js';
import { readPidfile } from '../../vm/process.js';
import { vmFiles, type VmFiles } from '../../vm/runtime.js';
import type { MemoryBackend } from './backend.js';
import { GuestMemory } from './guest-memory.js';
import { ProcMemBackend } from './proc-mem-backend.js';
import { mainMemdevId, readQemuLayout, type QemuMemoryLayout } from './qemu-map.js';
import { RamFileBackend } from './ram-file-backend.js';
import { GdbstubBackend } from './gdbstub-backend.js';
import { VmiCpu } from '../cpu/vcpu.js';

/** Which backend to use; `auto` prefers the RAM file. */
export type BackendChoice = 'auto' | 'ram-file' | 'proc-mem' | 'gdbstub';

/** Options of `openVmMemory`. */
export interface VmMemoryOptions {
  paths?: VigilPaths;
  backend?: BackendChoice;
  /** Open the backend for writing (writes still need allowDangerous each time). */
  writable?: boolean;
  /** Who acts, recorded with every write (default: the Unix user). */
  principal?: string;
  /** An open store to audit into (default: open the VM home's own). */
  store?: StoreDb;
}

/** An open view of one VM's memory; close it when done. */
export interface VmMemory {
  vm: string;
  files: VmFiles;
  memory: GuestMemory;
  layout: QemuMemoryLayout;
  /** The raw QMP client (Vigil's internal queries: HMP, memsave in tests). */
  qmp: QmpClient;
  pid: number;
  close(): Promise<void>;
}

async function connectEither(files: VmFiles): Promise<QmpClient> {
  // QEMU serves one client per monitor: vigild may hold one of the two sockets, so try the public one, then the other.
  let firstError: unknown;
  for (const socket of [files.qmpSocket, files.monitorSocket]) {
    if (!existsSync(socket)) continue;
    const client = new QmpClient({ connectTimeoutMs: 1500, commandTimeoutMs: 30000 });
    try {
      await client.connect({ path: socket });
      return client;
    } catch (err) {
      firstError ??= err;
    }
  }
  throw new VigilError('VIGIL_QMP_CONNECT', `no monitor socket of VM at ${files.runtimeDir} answers: is the VM running?`, { cause: firstError, context: { runtimeDir: files.runtimeDir } });
}

/** Opens VM `name`'s guest memory. */
export async function openVmMemory(name: string, options: VmMemoryOptions = {}): Promise<VmMemory> {
  const paths = options.paths ?? resolvePaths();
  const files = vmFiles(paths, name);
  const pid = readPidfile(files.pidfile);
  if (pid === undefined) throw new VigilError('VIGIL_VM_STATE', `VM '${name}' is not running (no pidfile at ${files.pidfile})`, { context: { vm: name } });
  const qmp = await connectEither(files);
  let backend: MemoryBackend | undefined;
  let db: StoreDb | undefined;
  try {
    const choice = options.backend ?? 'auto';
    const memdevs = await qmp.execute<{ id?: string; size: number }[]>('query-memdev');
    const ramBlock = mainMemdevId(memdevs);
    const useFile = choice === 'ram-file' || (choice === 'auto' && ramBlock !== undefined && existsSync(files.ramFile));
    let layout: QemuMemoryLayout;
    if (useFile) {
      if (ramBlock === undefined) throw new VigilError('VIGIL_VMI_BACKEND', `VM '${name}' has no memory backend: define it with 'introspection: true' for the RAM file, or use the proc-mem backend`, { context: { vm: name } });
      layout = await readQemuLayout(qmp, new Set([ramBlock]));
      backend = new RamFileBackend(files.ramFile, ramBlock, { writable: options.writable ?? false });
    } else if (choice === 'gdbstub') {
      if (!existsSync(files.gdbSocket)) throw new VigilError('VIGIL_VMI_BACKEND', `VM '${name}' has no gdbstub socket: define it with 'introspection: true'`, { context: { vm: name } });
      layout = await readQemuLayout(qmp);
      // Attaching pauses the guest until the backend is closed: reads are then a consistent snapshot.
      backend = new GdbstubBackend(await VmiCpu.open(files.gdbSocket), { writable: options.writable ?? false });
    } else {
      layout = await readQemuLayout(qmp);
      backend = await ProcMemBackend.open(pid, qmp, layout.map, { writable: options.writable ?? false });
    }
    db = options.store ?? openStore(storePath(paths));
    const ownDb = options.store === undefined ? db : undefined;
    const memory = new GuestMemory(layout.map, backend, { vm: name, principal: options.principal ?? localPrincipal(), sinks: [new AuditLog(db), new LineAuditSink(auditLinePath(paths))] });
    return {
      vm: name,
      files,
      memory,
      layout,
      qmp,
      pid,
      async close() {
        await memory.close();
        await qmp.close();
        ownDb?.close();
      },
    };
  } catch (err) {
    await backend?.close();
    if (options.store === undefined) db?.close();
    await qmp.close();
    throw err;
  }
}
