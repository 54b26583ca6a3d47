/**
 * Devices blocked by the kill switch: host devices plugged while it was engaged that match a rule. "Blocked" means:
 * (1) recorded here, in `<data>/killswitch-blocked.json`, and audited; (2) for USB, deauthorized in sysfs
 * (`authorized` = 0: the kernel unbinds every driver and no program, QEMU's usb-host included, can open it);
 * (3) refused by every attach Vigil makes: a VM start whose definition would take it (`assertAttachable`) and the
 * kill switch's own release (`refusal`). A release unblocks them only when the host file says `on_release: allow`.
 */
import { renameSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VigilError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { VigilPaths } from '../../core/paths.js';
import type { DeviceClass, HostDevice } from '../../sysfs/types.js';
import { fullPciAddress } from '../../vm/argv/nics.js';
import type { VmDefinition } from '../../vm/definition/schema.js';
import { loadKillswitchHostConfig } from '../host-file.js';
import type { PlannedDevice } from '../plan.js';

/** The file, in the data directory. */
export const BLOCKED_FILE = 'killswitch-blocked.json';

/** One blocked device. */
export interface BlockedDevice {
  /** The inventory's id: `usb:1-3`, `pci:0000:03:00.0`. */
  id: string;
  kind: 'usb' | 'pci';
  class: DeviceClass;
  vendorId?: string;
  productId?: string;
  bus?: number;
  port?: string;
  address?: string;
  /** The rule it matched, as written. */
  rule: string;
  /** What saw it: a kernel uevent or the sysfs rescan. */
  source: 'udev' | 'rescan';
  at: string;
  /** USB: `authorized` was set to 0. */
  deauthorized: boolean;
  /** Why it could not be deauthorized. */
  error?: string;
}

const hex4 = (id: string): string => id.replace(/^0x/i, '').toLowerCase().padStart(4, '0');

/** The persisted list (written whole, atomically: a reader never sees half a file). */
export class BlockedDevices {
  private readonly file: string;

  constructor(paths: VigilPaths) {
    this.file = join(paths.data, BLOCKED_FILE);
  }

  /** Every blocked device; none when the file does not exist. */
  list(): BlockedDevice[] {
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as { devices?: BlockedDevice[] };
      return Array.isArray(parsed.devices) ? parsed.devices : [];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new VigilError('VIGIL_STORE', `${this.file}: cannot read the blocked devices: ${(err as Error).message}`, { cause: err, context: { path: this.file } });
    }
  }

  /** Adds (or replaces, by id) a blocked device. */
  add(device: BlockedDevice): void {
    this.write([...this.list().filter((d) => d.id !== device.id), device]);
  }

  /** Removes the devices `keep` rejects; returns those removed. */
  remove(drop: (d: BlockedDevice) => boolean): BlockedDevice[] {
    const all = this.list();
    const removed = all.filter(drop);
    if (removed.length > 0) this.write(all.filter((d) => !drop(d)));
    return removed;
  }

  private write(devices: BlockedDevice[]): void {
    const temp = `${this.file}.${process.pid}`;
    writeFileSync(temp, `${JSON.stringify({ devices }, null, 2)}\n`, { mode: 0o600 });
    renameSync(temp, this.file);
  }
}

/** A blocked-device record for an inventory device. */
export function blockedRecord(device: HostDevice, rule: string, source: BlockedDevice['source']): BlockedDevice {
  const base = { id: device.id, class: device.class, rule, source, at: new Date().toISOString(), deauthorized: false };
  if (device.kind === 'pci') return { ...base, kind: 'pci', address: device.address, ...(device.vendorId ? { vendorId: device.vendorId } : {}), ...(device.deviceId ? { productId: device.deviceId } : {}) };
  return { ...base, kind: 'usb', bus: device.bus, port: device.port, ...(device.vendorId ? { vendorId: device.vendorId } : {}), ...(device.productId ? { productId: device.productId } : {}) };
}

/** The sysfs `authorized` file of a USB device under `root`. */
export function usbAuthorizedPath(root: string, device: Pick<BlockedDevice, 'bus' | 'port'>): string {
  return join(root, 'sys/bus/usb/devices', `${device.bus}-${device.port}`, 'authorized');
}

/** Writes `authorized` (0 or 1) for a blocked USB device; returns the error text when the host refused. */
export function setUsbAuthorized(root: string, device: Pick<BlockedDevice, 'bus' | 'port'>, value: 0 | 1): string | undefined {
  try {
    writeFileSync(usbAuthorizedPath(root, device), `${value}\n`);
    return undefined;
  } catch (err) {
    return `${usbAuthorizedPath(root, device)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
}

/** Which blocked device a host USB or PCI attachment would take, if any. */
function blockedTarget(blocked: readonly BlockedDevice[], target: { vendor?: string | undefined; product?: string | undefined; bus?: number | undefined; port?: string | undefined; address?: string | undefined }): BlockedDevice | undefined {
  return blocked.find((b) => {
    if (target.address !== undefined) return b.kind === 'pci' && b.address === fullPciAddress(target.address);
    if (b.kind !== 'usb') return false;
    if (target.vendor !== undefined && target.product !== undefined) return b.vendorId === hex4(target.vendor) && b.productId === hex4(target.product);
    return target.bus !== undefined && b.bus === target.bus && b.port === target.port;
  });
}

/** The reason the kill switch must not re-attach `device` (a usb-host or vfio-pci that would take a blocked device). */
export function refusalFor(blocked: readonly BlockedDevice[], device: PlannedDevice): string | undefined {
  const p = device.props;
  const str = (k: string): string | undefined => (typeof p[k] === 'string' ? p[k] : undefined);
  let hit: BlockedDevice | undefined;
  if (device.kind === 'usb') {
    const bus = str('hostbus');
    hit = blockedTarget(blocked, { vendor: str('vendorid'), product: str('productid'), bus: bus === undefined ? undefined : Number(bus), port: str('hostport') });
  } else if (device.kind === 'pci') {
    const host = str('host');
    if (host !== undefined) hit = blockedTarget(blocked, { address: host });
  }
  return hit ? `not re-attached: it would take ${hit.id}, plugged while the kill switch was engaged and blocked (rule ${hit.rule})` : undefined;
}

/** Throws VIGIL_DEVICE_BLOCKED when `definition` would attach a blocked device (the VM start path). */
export function assertAttachable(blocked: readonly BlockedDevice[], vmName: string, definition: VmDefinition): void {
  const hits = [
    ...definition.usb.map((u, i) => ({ field: `usb.${i}`, hit: blockedTarget(blocked, { vendor: u.vendor, product: u.product, bus: u.bus, port: u.port }) })),
    ...definition.pci.map((p, i) => ({ field: `pci.${i}`, hit: blockedTarget(blocked, { address: p.address }) })),
  ].filter((x): x is { field: string; hit: BlockedDevice } => x.hit !== undefined);
  const first = hits[0];
  if (!first) return;
  throw new VigilError(
    'VIGIL_DEVICE_BLOCKED',
    `VM '${vmName}': ${first.field} would attach ${first.hit.id}, which was plugged while the kill switch was engaged and is blocked; unplug it, or unblock it (release with on_release: allow in killswitch.yaml)`,
    { context: { vm: vmName, field: first.field, device: first.hit.id, blocked: hits.map((h) => h.hit.id) } },
  );
}

/** What the engine's release asks of the hot-plug block. */
export interface ReleaseAttachGuard {
  /** Called as a release begins: with `on_release: allow`, unblocks everything (USB re-authorized). */
  beforeRelease(): void;
  /** Why `device` must not be re-attached, if it must not. */
  refusal(device: PlannedDevice): string | undefined;
}

/** The guard over the blocked-devices file and the host file's policy; `root` is the sysfs root (`/`). */
export function blockedAttachGuard(paths: VigilPaths, logger: Logger, root = '/'): ReleaseAttachGuard {
  const store = new BlockedDevices(paths);
  let blocked: BlockedDevice[] = [];
  let unreadable: string | undefined;
  return {
    beforeRelease() {
      try {
        const allow = loadKillswitchHostConfig(paths).hotplug.on_release === 'allow';
        if (allow) {
          for (const d of store.remove(() => true)) {
            const err = d.kind === 'usb' && d.deauthorized ? setUsbAuthorized(root, d, 1) : undefined;
            logger.info({ device: d.id, err }, 'kill switch released: blocked device unblocked (on_release: allow)');
          }
        }
        blocked = store.list();
        unreadable = undefined;
      } catch (err) {
        // Unreadable policy: keep refusing what is listed. Unreadable list: refuse every host device (secure).
        logger.error({ err: String(err) }, 'kill switch release: blocked devices could not be reviewed');
        try {
          blocked = store.list();
        } catch (listErr) {
          unreadable = String(listErr);
        }
      }
    },
    refusal: (device) =>
      unreadable !== undefined && (device.kind === 'usb' || device.kind === 'pci') ? `not re-attached: the blocked devices cannot be read (${unreadable})` : refusalFor(blocked, device),
  };
}
