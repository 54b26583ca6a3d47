/**
 * VMCOREINFO, the text the kernel keeps for crash dump tools (`OSRELEASE=...`, `PAGESIZE=`, `KERNELOFFSET=`,
 * `SYMBOL(name)=hex`, `NUMBER(name)=dec`, `OFFSET(struct.member)=`, `SIZE(struct)=`), found in guest RAM and parsed.
 */
import { VigilError } from '../../../core/errors.js';
import type { PhysicalMemory } from './access.js';

/** The parsed note. Symbol addresses are the running kernel's (KASLR applied). */
export interface VmcoreInfo {
  osRelease: string;
  pageSize: number;
  /** The KASLR slide of the kernel image. */
  kernelOffset: bigint;
  symbols: Map<string, bigint>;
  numbers: Map<string, bigint>;
  offsets: Map<string, number>;
  sizes: Map<string, number>;
  /** Every line as written. */
  raw: Map<string, string>;
}

/** Parses VMCOREINFO text; undefined when it lacks what every x86-64 kernel writes. */
export function parseVmcoreinfo(text: string): VmcoreInfo | undefined {
  const raw = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) raw.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const osRelease = raw.get('OSRELEASE');
  const pageSize = Number(raw.get('PAGESIZE'));
  if (!osRelease || !Number.isInteger(pageSize) || pageSize <= 0) return undefined;
  const info: VmcoreInfo = { osRelease, pageSize, kernelOffset: 0n, symbols: new Map(), numbers: new Map(), offsets: new Map(), sizes: new Map(), raw };
  try {
    info.kernelOffset = BigInt(`0x${raw.get('KERNELOFFSET') ?? '0'}`);
    for (const [key, value] of raw) {
      const m = /^(SYMBOL|NUMBER|OFFSET|SIZE)\((.+)\)$/.exec(key);
      if (!m) continue;
      const [, kind, name] = m as unknown as [string, string, string];
      if (kind === 'SYMBOL') info.symbols.set(name, BigInt(`0x${value}`));
      else if (kind === 'NUMBER') info.numbers.set(name, BigInt(value));
      else if (kind === 'OFFSET') info.offsets.set(name, Number(value));
      else info.sizes.set(name, Number(value));
    }
  } catch {
    return undefined;
  }
  return info;
}

/**
 * Searches guest RAM for VMCOREINFO. The kernel keeps the text twice (its buffer and the ELF note); the first copy
 * that parses, names `init_top_pgt` and passes `accept` (the caller's check that its page tables hold together)
 * wins. Every occurrence is tried: copies of the text planted by a guest process cannot crowd the real one out.
 */
export async function locateVmcoreinfo(mem: PhysicalMemory, accept: (info: VmcoreInfo) => Promise<boolean> = () => Promise.resolve(true)): Promise<VmcoreInfo> {
  let candidates = 0;
  for (const offset of await mem.search('OSRELEASE=', { limit: 1_000_000 })) {
    // The text fills at most the one page the kernel allocated for it; never read past that page (the next may be a hole).
    const bytes = await mem.readPhys(offset, 4096 - (offset % 4096));
    const end = bytes.indexOf(0);
    const info = parseVmcoreinfo(bytes.toString('latin1', 0, end === -1 ? bytes.length : end));
    if (!info?.symbols.has('init_top_pgt')) continue;
    candidates++;
    if (await accept(info)) return info;
  }
  throw new VigilError(
    'VIGIL_VMI_KERNEL',
    candidates === 0
      ? 'no VMCOREINFO in guest memory: the kernel may be built without CONFIG_CRASH_CORE, or still booting; supply a vmlinux (or System.map) for its symbols'
      : `${candidates} VMCOREINFO candidate(s) found, none whose page tables hold together: the guest may still be booting`,
    { context: { candidates } },
  );
}
