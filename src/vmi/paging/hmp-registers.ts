/**
 * The paging registers of one vCPU as QEMU's monitor prints them (HMP `info registers` over QMP). Enough to find
 * the DTB (CR3) and the paging depth (CR4.LA57) without the gdbstub; the gdb layer gives the full register set.
 */
import { VigilError } from '../../core/errors.js';
import type { QmpChannel } from '../../qmp/types.js';
import type { PagingLevels } from './walker.js';

/** The registers address translation needs. */
export interface PagingRegisters {
  rip: bigint;
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  /** 5 when CR4.LA57 (bit 12) is set. */
  levels: PagingLevels;
}

const CR4_LA57 = 1n << 12n;

/** Parses the text of HMP `info registers` (x86-64). */
export function parseInfoRegisters(text: string): PagingRegisters {
  const get = (name: string): bigint => {
    const m = new RegExp(`\\b${name}=([0-9a-f]+)`, 'i').exec(text);
    if (m?.[1] === undefined) throw new VigilError('VIGIL_INTERNAL', `'info registers' shows no ${name}: is this an x86-64 guest?`, { context: { register: name } });
    return BigInt(`0x${m[1]}`);
  };
  const cr4 = get('CR4');
  return { rip: get('RIP'), cr0: get('CR0'), cr3: get('CR3'), cr4, levels: (cr4 & CR4_LA57) !== 0n ? 5 : 4 };
}

/** The paging registers of vCPU `cpuIndex` (default: the monitor's current one) through a raw QMP channel. */
export async function readPagingRegisters(channel: QmpChannel, cpuIndex?: number): Promise<PagingRegisters> {
  const text = await channel.execute<string>('human-monitor-command', { 'command-line': 'info registers', ...(cpuIndex === undefined ? {} : { 'cpu-index': cpuIndex }) });
  return parseInfoRegisters(text);
}
