/** Virtual machine introspection: guest physical memory and address translation (vCPU state and events come with the gdb layer). */
export type { BackendCapabilities, MemoryBackend } from './memory/backend.js';
export { GuestMemory, type MemoryAudit, type PhysRequest, type SearchOptions, type WriteOptions, WRITE_PHYS_COMMAND, WRITE_VIRT_COMMAND } from './memory/guest-memory.js';
export { hexdump } from './memory/hexdump.js';
export { parseFlatView, PhysMap, type FlatRange, type PhysSegment, type RamRange } from './memory/phys-map.js';
export { ProcMemBackend } from './memory/proc-mem-backend.js';
export { gpaToHva, hmp, mainMemdevId, readQemuLayout, type MemdevInfo, type QemuMemoryLayout } from './memory/qemu-map.js';
export { RamFileBackend } from './memory/ram-file-backend.js';
export { openVmMemory, type BackendChoice, type VmMemory, type VmMemoryOptions } from './memory/vm-memory.js';
export { parseInfoRegisters, readPagingRegisters, type PagingRegisters } from './paging/hmp-registers.js';
export { VirtualMemory, type CacheStats, type Cr3Source, type VirtualAccess, type VirtualMemoryOptions } from './paging/virtual-memory.js';
export { vmVirtualMemory, type VmVirtualMemory } from './paging/vm-virtual.js';
export { dtbBase, isCanonical, walk, type PagingLevels, type PhysReader, type Translation } from './paging/walker.js';
