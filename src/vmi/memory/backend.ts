/**
 * How guest RAM is reached from the host. Every backend states what it can do, so that callers (and the
 * benchmark) can pick one and say why: the shared RAM file (primary), QEMU's `/proc/<pid>/mem`, and later the
 * gdbstub's physical mode (`Qqemu.PhyMemMode:1`, slow and only while the vCPUs are stopped), which fits the same
 * interface: it reads by guest-physical address, which every backend receives along with the block offset.
 */
import type { RamRange } from './phys-map.js';

/** What a backend can do. */
export interface BackendCapabilities {
  read: boolean;
  write: boolean;
  /** Reads are valid while the guest runs (a racing guest write may still tear a multi-byte value). */
  whileRunning: boolean;
  /** Needs ptrace rights over the QEMU process. */
  needsPtrace: boolean;
  /** Serves ROM ranges (BIOS, option ROMs) as well as RAM. */
  roms: boolean;
  /** Largest single transfer the backend does well; GuestMemory splits bigger ones (1 MiB for the file backends: measured faster than 8 MiB). */
  maxTransfer: number;
}

/** One way to reach guest RAM; every call is given a whole piece inside one RAM range. */
export interface MemoryBackend {
  /** Short stable name: `ram-file`, `proc-mem`, later `gdbstub`. */
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  /** True when this backend can serve `range` (the RAM file holds only its own block). */
  serves(range: RamRange): boolean;
  /** Fills `dst` with the bytes at `blockOffset` of `range` (guest-physical `pa`). */
  read(range: RamRange, blockOffset: number, pa: number, dst: Buffer): Promise<void>;
  /** Writes `src` at `blockOffset` of `range`; only when capabilities.write. */
  write(range: RamRange, blockOffset: number, pa: number, src: Buffer): Promise<void>;
  close(): Promise<void>;
}
