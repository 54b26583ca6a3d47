/** What the Linux layer needs of guest memory (GuestMemory and VirtualMemory from vmi/ provide it). */

/** Guest-physical memory: reads, and a search over all of RAM. */
export interface PhysicalMemory {
  readPhys(pa: number | bigint, len: number): Promise<Buffer>;
  /** Guest-physical addresses where `needle` occurs, ascending. */
  search(needle: Buffer | string, options?: { limit?: number; start?: number; end?: number }): Promise<number[]>;
}
