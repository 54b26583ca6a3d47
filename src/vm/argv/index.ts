/** The QEMU command line of a VM, and what goes with it: ids, MACs, the accelerator, post-start QMP commands. */
export { resolveAccel } from './accel.js';
export { buildQemuArgv, machineHasAhci, qemuFiles } from './build.js';
export type { ArgvContext } from './context.js';
export { CACHE_MODES, diskFormat } from './disks.js';
export { usbHexId } from './devices.js';
export { blockNodeNames, DEFAULT_ID_PREFIX, netdevId, withDefaultIds, type VmDefinitionWithIds } from './ids.js';
export { escapeValue, keyval, parseKeyval } from './keyval.js';
export { MAC_PREFIX, randomMac, resolveMacs, stableMac } from './macs.js';
export { fullPciAddress } from './nics.js';
export { postStartActions, type PostStartAction } from './post-start.js';
