/**
 * VM snapshots: disk-and-memory snapshots stored inside the VM's qcow2 disks, through QEMU's `snapshot-save`,
 * `snapshot-load` and `snapshot-delete` jobs. The commands go through the QMP guard (classed privileged) and are
 * audited under the principal who asked.
 */
import { VigilError } from '../../core/errors.js';
import { imageInfo } from '../../images/qemu-img.js';
import type { Monitor } from '../monitor.js';
import type { Vm, VmService } from '../service.js';
import { runJob } from './jobs.js';
import { snapshotNodes } from './nodes.js';

/** One snapshot. */
export interface Snapshot {
  name: string;
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
  /** Disks not covered (raw or read-only). */
  skipped: string[];
}

/** Opens a guarded monitor session with a VM on behalf of someone. */
export type MonitorOpener = (vm: string) => Promise<Monitor>;

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

  constructor(
    private readonly vms: VmService,
    private readonly open: MonitorOpener,
  ) {}

  /** Takes a disk-and-memory snapshot of a running or paused VM (the guest is paused while it is written). */
  async create(vmName: string, name?: string, onProgress?: (percent: number) => void): Promise<SnapshotResult> {
    const vm = this.live(vmName, 'snapshot');
    const tag = checkSnapshotName(name ?? `snap-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    const nodes = snapshotNodes(vm.definition, vm.name);
    if ((await this.list(vm.name)).some((s) => s.name === tag)) {
      throw new VigilError('VIGIL_SNAPSHOT', `VM '${vm.name}' already has a snapshot named '${tag}'; remove it first or pick another name`, { context: { vm: vm.name, name: tag } });
    }
    const ms = await this.job(vm.name, 'snapshot-save', { tag, vmstate: nodes.vmstate, devices: nodes.devices }, onProgress);
    return { vm: vm.name, name: tag, ms, skipped: nodes.skipped };
  }

  /** Brings back a snapshot's memory and disks; the VM continues in the run state it had before. */
  async restore(vmName: string, name: string, onProgress?: (percent: number) => void): Promise<SnapshotResult> {
    const vm = this.live(vmName, 'restore a snapshot of');
    const nodes = snapshotNodes(vm.definition, vm.name);
    await this.requireSnapshot(vm.name, checkSnapshotName(name));
    const ms = await this.job(vm.name, 'snapshot-load', { tag: name, vmstate: nodes.vmstate, devices: nodes.devices }, onProgress);
    return { vm: vm.name, name, ms, skipped: nodes.skipped };
  }

  /** Deletes a snapshot from every disk that holds it. */
  async remove(vmName: string, name: string): Promise<SnapshotResult> {
    const vm = this.live(vmName, 'delete a snapshot of');
    const nodes = snapshotNodes(vm.definition, vm.name);
    await this.requireSnapshot(vm.name, checkSnapshotName(name));
    const ms = await this.job(vm.name, 'snapshot-delete', { tag: name, devices: nodes.devices });
    return { vm: vm.name, name, ms, skipped: nodes.skipped };
  }

  /** The snapshots in the VM-state disk: asked of QEMU while the VM runs, read with qemu-img otherwise. */
  async list(vmName: string): Promise<Snapshot[]> {
    const vm = this.vms.get(vmName);
    const nodes = snapshotNodes(vm.definition, vm.name);
    if (vm.state === 'running' || vm.state === 'paused') {
      const m = await this.open(vm.name);
      try {
        const all = await m.qmp.execute<BlockNode[]>('query-named-block-nodes', { flat: true });
        const node = all.find((n) => n['node-name'] === nodes.vmstate);
        return (node?.image?.snapshots ?? []).map((s) => ({ name: s.name, vmStateSize: s['vm-state-size'], date: new Date(s['date-sec'] * 1000).toISOString(), vmClockSec: s['vm-clock-sec'] }));
      } finally {
        await m.close();
      }
    }
    const index = Number(/^blk(\d+)-format$/.exec(nodes.vmstate)?.[1] ?? 0);
    const file = vm.definition.disks[index]?.file;
    if (file === undefined) return [];
    const [top] = await imageInfo(file, { chain: false, format: 'qcow2' });
    return (top?.snapshots ?? []).map((s) => ({ name: s.name, vmStateSize: s['vm-state-size'], date: new Date(s['date-sec'] * 1000).toISOString(), vmClockSec: s['vm-clock-sec'] }));
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
    if (!(await this.list(vm)).some((s) => s.name === name)) {
      throw new VigilError('VIGIL_NOT_FOUND', `VM '${vm}' has no snapshot named '${name}'; 'vigil vm snapshot ls ${vm}' lists them`, { context: { vm, name } });
    }
  }

  private async job(vm: string, command: string, args: Record<string, unknown>, onProgress?: (percent: number) => void): Promise<number> {
    const m = await this.open(vm);
    try {
      const jobId = `vigil-${command}-${process.pid}-${++this.seq}`;
      const { ms } = await runJob(m.qmp, m.client, command, { 'job-id': jobId, ...args }, onProgress ? { onProgress } : {});
      return ms;
    } finally {
      await m.close();
    }
  }
}
