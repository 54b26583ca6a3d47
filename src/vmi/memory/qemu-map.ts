/**
 * Asks QEMU for its guest-physical layout: the memory backends (`query-memdev`), the RAM size
 * (`query-memory-size-summary`) and the flat view of the "memory" address space (HMP `info mtree -f`
 * through `human-monitor-command`). Vigil's own internal use: give it the raw client, not a guarded channel.
 */
import { VigilError } from '../../core/errors.js';
import type { QmpChannel } from '../../qmp/types.js';
import { parseFlatView, PhysMap } from './phys-map.js';

/** One memory backend as `query-memdev` reports it. */
export interface MemdevInfo {
  id?: string;
  size: number;
  share?: boolean;
}

/** What QEMU said about guest memory, and the map built from it. */
export interface QemuMemoryLayout {
  map: PhysMap;
  memdevs: MemdevInfo[];
  /** `query-memory-size-summary`: base RAM plus hot-plugged RAM. */
  baseMemory: number;
  pluggedMemory: number;
  /** The raw `info mtree -f` text (for diagnostics). */
  mtree: string;
}

/** Runs one HMP command through QMP and returns its text. */
export async function hmp(channel: QmpChannel, commandLine: string): Promise<string> {
  return channel.execute<string>('human-monitor-command', { 'command-line': commandLine });
}

/**
 * The guest-physical layout of a running QEMU. `blocks` restricts the map to these RAM blocks (default: every
 * RAM and ROM range of the flat view); the RAM file backend passes the memory backend's id.
 * Checks that the RAM ranges of the main block add up to what `query-memory-size-summary` reports.
 */
export async function readQemuLayout(channel: QmpChannel, blocks?: ReadonlySet<string>): Promise<QemuMemoryLayout> {
  const memdevs = await channel.execute<MemdevInfo[]>('query-memdev');
  const summary = await channel.execute<{ 'base-memory': number; 'plugged-memory'?: number }>('query-memory-size-summary');
  const mtree = await hmp(channel, 'info mtree -f');
  const flat = parseFlatView(mtree, 'memory');
  const map = PhysMap.fromFlatView(flat, blocks);
  const baseMemory = Number(summary['base-memory']);
  const pluggedMemory = Number(summary['plugged-memory'] ?? 0);
  if (blocks !== undefined && blocks.size > 0) {
    const ramBytes = map.ranges.filter((r) => r.writable).reduce((n, r) => n + r.size, 0);
    const backendBytes = memdevs.filter((m) => m.id !== undefined && blocks.has(m.id)).reduce((n, m) => n + Number(m.size), 0);
    // Low RAM below 1 MiB loses the legacy VGA/BIOS window (0xa0000-0xfffff) to ROMs and I/O, so RAM may map
    // a little less than the backend holds, never more.
    if (ramBytes > backendBytes || ramBytes < backendBytes - 0x100000) {
      throw new VigilError('VIGIL_INTERNAL', `QEMU's flat view maps ${ramBytes} bytes of RAM block(s) ${[...blocks].join(', ')} but the backend holds ${backendBytes}`, {
        context: { ramBytes, backendBytes },
      });
    }
  }
  return { map, memdevs, baseMemory, pluggedMemory, mtree };
}

/** The id of the memory backend that holds main RAM (`-machine memory-backend=<id>`), if there is exactly one. */
export function mainMemdevId(memdevs: readonly MemdevInfo[]): string | undefined {
  const named = memdevs.filter((m) => m.id !== undefined);
  return named.length === 1 ? named[0]?.id : undefined;
}

/** The host virtual address of a guest-physical address in QEMU's own process (HMP `gpa2hva`). */
export async function gpaToHva(channel: QmpChannel, pa: number): Promise<bigint> {
  const text = await hmp(channel, `gpa2hva 0x${pa.toString(16)}`);
  const m = /is (0x[0-9a-f]+)/i.exec(text);
  if (m?.[1] === undefined) {
    throw new VigilError('VIGIL_VMI_BACKEND', `QEMU gave no host address for guest-physical 0x${pa.toString(16)}: ${text.trim()}`, { context: { pa: `0x${pa.toString(16)}` } });
  }
  return BigInt(m[1]);
}
