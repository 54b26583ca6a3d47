/**
 * Finding the kernel's BTF in guest RAM: every plausible header (magic, version 1, a 24-byte header, sections in
 * order) is parsed, and the largest blob that defines `struct task_struct` wins. Modules carry split BTF that
 * refers to the kernel's types; it does not parse on its own, so it is never taken for the kernel's.
 */
import { VigilError } from '../../../../core/errors.js';
import type { PhysicalMemory } from '../access.js';
import { btfLength, parseBtf, readBtfHeader, type Btf } from './parse.js';

/** The magic, version 1, flags 0, then hdr_len 24: the first 8 bytes of a kernel BTF blob. */
/** The largest BTF blob taken for a kernel's. */
const MAX_BTF = 64 << 20;

const SIGNATURE = Buffer.from([0x9f, 0xeb, 0x01, 0x00, 0x18, 0x00, 0x00, 0x00]);

/** Where the BTF was found (guest-physical) and what it holds. */
export interface LocatedBtf {
  offset: number;
  length: number;
  btf: Btf;
}

/** Searches guest RAM for the kernel's BTF; throws VIGIL_VMI_BTF saying what to supply when there is none. */
export async function locateBtf(mem: PhysicalMemory, range: { start?: number; end?: number } = {}): Promise<LocatedBtf> {
  let best: LocatedBtf | undefined;
  let candidates = 0;
  for (const offset of await mem.search(SIGNATURE, { limit: 10_000, ...range })) {
    const header = readBtfHeader(await mem.readPhys(offset, 24));
    if (!header) continue;
    const length = btfLength(header);
    // A kernel's BTF is a few MiB; a header claiming more is not one (and must not make us read hundreds of MiB).
    if (length > MAX_BTF || (best && length <= best.length)) continue;
    candidates++;
    try {
      const btf = parseBtf(await mem.readPhys(offset, length));
      btf.struct('task_struct');
      best = { offset, length, btf };
    } catch {
      // Not the kernel's: a module's split BTF, a stale or partly overwritten copy.
    }
  }
  if (!best) {
    throw new VigilError(
      'VIGIL_VMI_BTF',
      `no kernel BTF in guest memory (${candidates} candidate header(s) did not hold together): the kernel may be built without CONFIG_DEBUG_INFO_BTF, or still booting; supply the kernel's BTF (/sys/kernel/btf/vmlinux from the guest) or its vmlinux`,
      { context: { candidates } },
    );
  }
  return best;
}
