/**
 * VM snapshots: disk-and-memory snapshots stored inside the VM's qcow2 disks, through QEMU's `snapshot-save`,
 * `snapshot-load` and `snapshot-delete` jobs. The commands go through the QMP guard (classed privileged) and are
 * audited under the principal who asked.
 */
import { VigilError } from '../../core/errors.js';
import { imageInfo } from '../../images/qemu-img.js';
import type { Monitor } from '../monitor.js';
import type { Vm, VmService } from '../service.js';
import { withDefaultIds } from '../argv/ids.js';
import { ExternalSnapshots } from './external.js';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runJob } from './jobs.js';
import { liveTopNodes } from './live-nodes.js';
import { findSnapshotDisks, snapshotDisks, type SnapshotDisks } from './nodes.js';

/** One snapshot. */
export interface Snapshot {
  name: string;
  /** internal: memory and qcow2 disks, inside the disks; external: disk-only, frozen files under overlays. */
  kind: 'internal' | 'external';
  /** Bytes of saved VM state (0: disk only). */
  vmStateSize: number;
  /** When it was taken. */
  date: string;
  /** Guest run time at the snapshot, seconds. */
  vmClockSec: number;
}

/** What create/restore/delete report. */
export interface SnapshotResult {
  vm: string;
  name: string;
  ms: number;
  kind: Snapshot['kind'];
  /** Disks not covered (raw or read-only). */
  skipped: string[];
  /** External restore: newer snapshots deleted with it. */
  dropped?: string[];
}

/** Opens a guarded monitor session with a VM on behalf of someone. */
export type MonitorOpener = (vm: string) => Promise<Monitor>;

/** Options of `create`. */
export interface CreateSnapshotOptions {
  /** An external disk-only snapshot of the writable raw disks (no memory). */
  diskOnly?: boolean;
  onProgress?: (percent: number) => void;
}

interface BlockNode {
  'node-name': string;
  image?: { snapshots?: { name: string; 'vm-state-size': number; 'date-sec': number; 'vm-clock-sec': number }[] };
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Checks a snapshot name (letters, digits, . _ -; up to 64). */
export function checkSnapshotName(name: string): string {
  if (!NAME.test(name)) {
    throw new VigilError('VIGIL_INVALID_INPUT', `snapshot name '${name}' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`, { context: { field: 'name' } });
  }
  return name;
}

/** Snapshots of the VMs of one service. */
export class SnapshotService {
  private seq = 0;
  /** Disk-only snapshots (raw disks). */
  readonly external: ExternalSnapshots;

  constructor(
    private readonly vms: VmService,
    private readonly open: MonitorOpener,
  ) {
    this.external = new ExternalSnapshots(vms, open);
  }

  /**
   * Takes a snapshot of a running or paused VM: memory and every writable qcow2 disk (the guest is paused while
   * it is written), or with `diskOnly` an external snapshot of every writable raw disk.
   */
  async create(vmName: string, name?: string, options: CreateSnapshotOptions | ((percent: number) => void) = {}): Promise<SnapshotResult> {
    const opts: CreateSnapshotOptions = typeof options === 'function' ? { onProgress: options } : options;
    const vm = this.live(vmName, 'snapshot');
    const tag = checkSnapshotName(name ?? `snap-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    if ((await this.list(vm.name)).some((s) => s.name === tag)) {
      throw new VigilError('VIGIL_SNAPSHOT', `VM '${vm.name}' already has a snapshot named '${tag}'; remove it first or pick another name`, { context: { vm: vm.name, name: tag } });
    }
    if (opts.diskOnly) {
      const { ms, disks } = await this.external.create(vm.name, tag);
      const covered = new Set(disks.map((d) => d.id));
      return { vm: vm.name, name: tag, kind: 'external', ms, skipped: withIds(vm).filter((id) => !covered.has(id)) };
    }
    const disks = snapshotDisks(vm.definition, vm.name);
    const ms = await this.job(vm.name, 'snapshot-save', disks, (n) => ({ tag, vmstate: n.vmstate, devices: n.devices }), opts.onProgress);
    return { vm: vm.name, name: tag, kind: 'internal', ms, skipped: disks.skipped };
  }

  /**
   * Brings a snapshot back. Internal: memory and disks, the VM running (it continues in the run state it had).
   * External: disks only, the VM stopped; newer external snapshots are deleted.
   */
  async restore(vmName: string, name: string, onProgress?: (percent: number) => void): Promise<SnapshotResult> {
    checkSnapshotName(name);
    const vm = this.vms.get(vmName);
    if (this.external.list(vm.name).some((s) => s.name === name)) {
      const { ms, dropped } = await this.external.restore(vm.name, name);
      return { vm: vm.name, name, kind: 'external', ms, skipped: [], dropped };
    }
    this.live(vmName, 'restore a snapshot of');
    const disks = snapshotDisks(vm.definition, vm.name);
    await this.requireSnapshot(vm.name, name);
    const ms = await this.job(vm.name, 'snapshot-load', disks, (n) => ({ tag: name, vmstate: n.vmstate, devices: n.devices }), onProgress);
    return { vm: vm.name, name, kind: 'internal', ms, skipped: disks.skipped };
  }

  /** Deletes a snapshot: internal ones from every disk that holds them (VM running); external ones merged away (VM stopped). */
  async remove(vmName: string, name: string): Promise<SnapshotResult> {
    checkSnapshotName(name);
    const vm = this.vms.get(vmName);
    if (this.external.list(vm.name).some((s) => s.name === name)) {
      const { ms } = await this.external.remove(vm.name, name);
      return { vm: vm.name, name, kind: 'external', ms, skipped: [] };
    }
    this.live(vmName, 'delete a snapshot of');
    const disks = snapshotDisks(vm.definition, vm.name);
    await this.requireSnapshot(vm.name, name);
    const ms = await this.job(vm.name, 'snapshot-delete', disks, (n) => ({ tag: name, devices: n.devices }));
    return { vm: vm.name, name, kind: 'internal', ms, skipped: disks.skipped };
  }

  /**
   * Every snapshot of a VM: internal ones from the VM-state disk (asked of QEMU while the VM runs, read with
   * qemu-img otherwise), then the external ones, oldest first.
   */
  async list(vmName: string): Promise<Snapshot[]> {
    const vm = this.vms.get(vmName);
    const external: Snapshot[] = this.external.list(vm.name).map((s) => ({ name: s.name, kind: 'external', vmStateSize: 0, date: s.date, vmClockSec: 0 }));
    const disks = findSnapshotDisks(vm.definition);
    if (disks === undefined) {
      if (external.length > 0) return external;
      snapshotDisks(vm.definition, vm.name);
    }
    return [...(await this.internal(vm, disks!)), ...external];
  }

  private async internal(vm: Vm, disks: SnapshotDisks): Promise<Snapshot[]> {
    type Raw = { name: string; 'vm-state-size': number; 'date-sec': number; 'vm-clock-sec': number };
    const view = (s: Raw): Snapshot => ({ name: s.name, kind: 'internal', vmStateSize: s['vm-state-size'], date: new Date(s['date-sec'] * 1000).toISOString(), vmClockSec: s['vm-clock-sec'] });
    if (vm.state === 'running' || vm.state === 'paused') {
      const m = await this.open(vm.name);
      try {
        const top = (await liveTopNodes(m.qmp, [disks.vmstate.id])).get(disks.vmstate.id);
        const all = await m.qmp.execute<BlockNode[]>('query-named-block-nodes', { flat: true });
        return (all.find((n) => n['node-name'] === top)?.image?.snapshots ?? []).map(view);
      } finally {
        await m.close();
      }
    }
    const [top] = await imageInfo(disks.vmstate.file, { chain: false, format: 'qcow2' });
    return (top?.snapshots ?? []).map(view);
  }

  private live(name: string, verb: string): Vm {
    const vm = this.vms.get(name);
    if (vm.state !== 'running' && vm.state !== 'paused') {
      throw new VigilError('VIGIL_VM_STATE', `cannot ${verb} VM '${vm.name}': it is ${vm.state} (start it first; snapshots hold memory, so QEMU must run)`, {
        context: { vm: vm.name, state: vm.state },
      });
    }
    return vm;
  }

  private async requireSnapshot(vm: string, name: string): Promise<void> {
    if (!(await this.list(vm)).some((s) => s.name === name && s.kind === 'internal')) {
      throw new VigilError('VIGIL_NOT_FOUND', `VM '${vm}' has no snapshot named '${name}'; 'vigil vm snapshot ls ${vm}' lists them`, { context: { vm, name } });
    }
  }

  /** Runs one snapshot job with the disks' current node names (an external snapshot may have moved them). */
  private async job(
    vm: string,
    command: string,
    disks: SnapshotDisks,
    args: (nodes: { vmstate: string; devices: string[] }) => Record<string, unknown>,
    onProgress?: (percent: number) => void,
  ): Promise<number> {
    const m = await this.open(vm);
    // QEMU runs the job on its main loop and answers nothing else meanwhile: the marker tells health checks (in
    // vigild, whichever process took the snapshot) that a silent monitor is busy, not hung.
    const marker = snapshotBusyMarker(this.vms.files(vm).runtimeDir);
    writeFileSync(marker, `${process.pid} ${command}\n`, { mode: 0o600 });
    try {
      const tops = await liveTopNodes(m.qmp, disks.devices);
      const nodes = { vmstate: tops.get(disks.vmstate.id)!, devices: disks.devices.map((id) => tops.get(id)!) };
      const jobId = `vigil-${command}-${process.pid}-${++this.seq}`;
      const { ms } = await runJob(m.qmp, m.client, command, { 'job-id': jobId, ...args(nodes) }, onProgress ? { onProgress } : {});
      return ms;
    } finally {
      rmSync(marker, { force: true });
      await m.close();
    }
  }
}

/** The file that says a snapshot job runs on a VM (see HealthMonitor). */
export function snapshotBusyMarker(runtimeDir: string): string {
  return join(runtimeDir, 'snapshot.busy');
}

function withIds(vm: Vm): string[] {
  return withDefaultIds(vm.definition).disks.map((d) => d.id);
}
