/**
 * Disks as -blockdev node pairs (a protocol node for the file or device, a format node on top) and a guest
 * device attached to the format node. Vigil always names the format: QEMU never probes an image, so a guest that
 * writes a qcow2 header into a raw disk cannot make the host open a backing file of its choosing.
 */
import { VigilError } from '../../core/errors.js';
import { FORMAT_BY_EXTENSION, fileExtension, type DiskSpec } from '../definition/schema.js';
import { blockNodeNames } from './ids.js';
import { keyval } from './keyval.js';

/**
 * The cache modes as -blockdev spells them. `-drive cache=` is shorthand for three settings; with -blockdev two
 * sit on the block nodes and one on the guest device (QEMU 7.2, docs "Block device options"):
 *
 *   mode          cache.direct (nodes)  write-cache (device)
 *   writeback     off                   on    host page cache; the guest sees a volatile cache and flushes it
 *   none          on                    on    O_DIRECT, no host page cache; the guest still flushes (the disk's cache)
 *   writethrough  off                   off   host page cache, each write flushed before it completes; the guest sees no cache
 *
 * cache.no-flush stays off in every mode (only `unsafe` sets it, and Vigil does not offer that), so a guest flush
 * always reaches the disk. cache.direct is set on both nodes, as libvirt does: the format node passes it to
 * children it opens itself, and the protocol node is the one that opens the file.
 */
export const CACHE_MODES = {
  writeback: { direct: false, writeCache: true },
  none: { direct: true, writeCache: true },
  writethrough: { direct: false, writeCache: false },
} as const satisfies Record<DiskSpec['cache'], { direct: boolean; writeCache: boolean }>;

/** The format QEMU is told to use: the `format` field, else the file's extension; whole devices default to raw. */
export function diskFormat(disk: DiskSpec): 'qcow2' | 'raw' {
  if (disk.format !== undefined) return disk.format;
  if (disk.device !== undefined) return 'raw';
  const byExtension = disk.file === undefined ? undefined : FORMAT_BY_EXTENSION[fileExtension(disk.file)];
  if (byExtension === undefined) throw new VigilError('VIGIL_INVALID_INPUT', `disk ${disk.id ?? ''} (${disk.file ?? '?'}) needs "format": the extension does not say`);
  return byExtension;
}

/** The -blockdev and -device arguments of every disk; SATA disks go on `ide.N` of q35's AHCI, or of an added one. */
export function diskArgs(disks: readonly (DiskSpec & { id: string })[], machineHasAhci: boolean): string[] {
  const args: string[] = [];
  let sataPort = 0;
  disks.forEach((disk, index) => {
    const nodes = blockNodeNames(index);
    const cache = CACHE_MODES[disk.cache];
    const readOnly = disk.readonly ? true : undefined;
    const path = disk.file ?? disk.device;
    if (path === undefined) throw new VigilError('VIGIL_INVALID_INPUT', `disk ${disk.id} has neither "file" nor "device"`);
    // host_device takes block devices (and checks that they are); file takes regular files.
    const protocol = disk.device === undefined ? 'file' : 'host_device';
    args.push(
      '-blockdev',
      keyval(undefined, [
        ['driver', protocol],
        ['node-name', nodes.file],
        ['filename', path],
        ['cache.direct', cache.direct],
        ['read-only', readOnly],
      ]),
      '-blockdev',
      keyval(undefined, [
        ['driver', diskFormat(disk)],
        ['node-name', nodes.format],
        ['file', nodes.file],
        ['cache.direct', cache.direct],
        ['read-only', readOnly],
      ]),
    );
    const common = [
      ['id', disk.id],
      ['drive', nodes.format],
      ['write-cache', cache.writeCache],
    ] as const;
    if (disk.bus === 'virtio') {
      args.push('-device', keyval('virtio-blk-pci', [...common, ['serial', disk.serial]]));
    } else if (disk.bus === 'nvme') {
      // An NVMe controller needs a serial; the id (cut to the 20 characters NVMe allows) is stable across boots.
      args.push('-device', keyval('nvme', [...common, ['serial', disk.serial ?? disk.id.slice(0, 20)]]));
    } else {
      if (sataPort === 0 && !machineHasAhci) args.push('-device', 'ahci,id=ahci');
      const bus = machineHasAhci ? `ide.${sataPort}` : `ahci.${sataPort}`;
      sataPort += 1;
      args.push('-device', keyval('ide-hd', [...common, ['bus', bus], ['serial', disk.serial]]));
    }
  });
  return args;
}
