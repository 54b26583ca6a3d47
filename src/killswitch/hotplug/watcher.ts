/**
 * Watches for host devices plugged while the kill switch is engaged. A sysfs rescan diffs the inventory every
 * `rescan_ms` (the fallback, and the only source where udevadm is missing); a kernel uevent from `udevadm monitor`
 * triggers a rescan at once. A device is judged when it is new or its classes change (a USB device's interfaces
 * appear a moment after the device itself); one that matches a rule while the switch is not armed is blocked.
 */
import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../../core/log.js';
import type { VigilPaths } from '../../core/paths.js';
import type { AuditLog } from '../../store/audit-log.js';
import { allDevices, readInventory } from '../../sysfs/inventory.js';
import type { HostDevice } from '../../sysfs/types.js';
import { KILLSWITCH_PRINCIPAL } from '../channel.js';
import type { HotplugPolicy } from '../host-file.js';
import type { KillswitchState } from '../states.js';
import { BlockedDevices, blockedRecord, setUsbAuthorized, type BlockedDevice } from './blocked.js';
import { matchRule, type HotplugRule } from './rules.js';
import { findUdevadm, monitorUevents } from './udev.js';

/** Options of the watcher. */
export interface HotplugWatcherOptions {
  paths: VigilPaths;
  audit: AuditLog;
  logger: Logger;
  /** The switch's state now (the store's row). */
  state: () => KillswitchState;
  /** The rules now (the VMs' sections and the host file). */
  rules: () => HotplugRule[];
  policy: HotplugPolicy;
  /** The sysfs root (`/` on a host, a fixture tree in tests). */
  root?: string;
  /** The udevadm binary; false: rescan only; default: found in PATH when the policy allows. */
  udevadm?: string | false;
}

function signature(d: HostDevice): string {
  return d.kind === 'usb' ? `${d.classes.join(',')}/${d.interfaces.length}` : d.class;
}

/** The hot-plug watcher; `start()`, then `stop()`. */
export class HotplugWatcher {
  private readonly root: string;
  private readonly blocked: BlockedDevices;
  private known = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private udev: ChildProcess | undefined;
  private scanning: Promise<BlockedDevice[]> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly opts: HotplugWatcherOptions) {
    this.root = opts.root ?? '/';
    this.blocked = new BlockedDevices(opts.paths);
  }

  /** Reads the inventory as the baseline (devices present now are not "new"), then watches. */
  async start(): Promise<{ udev: boolean }> {
    const inventory = await readInventory(this.root);
    for (const d of allDevices(inventory)) this.known.set(d.id, signature(d));
    const udevadm = this.opts.udevadm === false || !this.opts.policy.udev ? undefined : (this.opts.udevadm ?? findUdevadm());
    if (udevadm !== undefined) {
      this.udev = monitorUevents(
        udevadm,
        (e) => {
          if (e.action === 'add' || e.action === 'bind' || e.action === 'change') this.scanSoon('udev');
        },
        (code) => {
          this.udev = undefined;
          if (!this.stopped) this.opts.logger.warn({ code }, 'udevadm monitor ended; hot-plug detection falls back to the sysfs rescan');
        },
      );
    }
    const tick = (): void => {
      this.timer = setTimeout(() => {
        void this.scan('rescan').finally(() => {
          if (!this.stopped) tick();
        });
      }, this.opts.policy.rescan_ms);
    };
    tick();
    return { udev: udevadm !== undefined };
  }

  /** Stops watching. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.soon) clearTimeout(this.soon);
    this.udev?.kill();
    await this.scanning?.catch(() => undefined);
  }

  private scanSoon(source: BlockedDevice['source']): void {
    // A plug is a burst of events (device, then each interface): one rescan shortly after the first.
    if (this.soon || this.stopped) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.scan(source);
    }, 20);
  }

  /** One rescan: judges new and changed devices; returns those it blocked. Overlapping calls run one after another. */
  async scan(source: BlockedDevice['source'] = 'rescan'): Promise<BlockedDevice[]> {
    if (this.scanning) {
      this.again = true;
      return this.scanning;
    }
    const run = (async () => {
      const out: BlockedDevice[] = [];
      do {
        this.again = false;
        out.push(...(await this.scanOnce(source)));
      } while (this.again && !this.stopped);
      return out;
    })();
    this.scanning = run;
    try {
      return await run;
    } finally {
      this.scanning = undefined;
    }
  }

  private async scanOnce(source: BlockedDevice['source']): Promise<BlockedDevice[]> {
    let devices: HostDevice[];
    try {
      devices = allDevices(await readInventory(this.root));
    } catch (err) {
      this.opts.logger.error({ err: String(err) }, 'hot-plug rescan failed');
      return [];
    }
    const seen = new Set<string>();
    const fresh: HostDevice[] = [];
    for (const d of devices) {
      seen.add(d.id);
      const sig = signature(d);
      if (this.known.get(d.id) !== sig) fresh.push(d);
      this.known.set(d.id, sig);
    }
    // Unplugged: forgotten, so that plugging it again is new.
    for (const id of [...this.known.keys()]) if (!seen.has(id)) this.known.delete(id);
    if (fresh.length === 0) return [];
    const state = this.opts.state();
    if (state === 'armed') return [];
    const rules = this.opts.rules();
    const already = new Set(this.blocked.list().map((b) => b.id));
    const out: BlockedDevice[] = [];
    for (const d of fresh) {
      const rule = matchRule(rules, d);
      if (!rule || already.has(d.id)) continue;
      out.push(this.block(d, rule.text, source));
    }
    return out;
  }

  private block(device: HostDevice, rule: string, source: BlockedDevice['source']): BlockedDevice {
    const t0 = performance.now();
    const record = blockedRecord(device, rule, source);
    if (device.kind === 'usb' && this.opts.policy.deauthorize) {
      const err = setUsbAuthorized(this.root, record, 0);
      if (err === undefined) record.deauthorized = true;
      else record.error = err;
    }
    try {
      this.blocked.add(record);
    } catch (err) {
      record.error = [record.error, `not recorded: ${String(err)}`].filter(Boolean).join('; ');
    }
    this.opts.logger.warn({ device: record.id, rule, deauthorized: record.deauthorized, error: record.error }, 'kill switch engaged: new device blocked');
    try {
      this.opts.audit.append({
        time: new Date(),
        kind: 'killswitch',
        vm: '-',
        principal: KILLSWITCH_PRINCIPAL,
        command: 'killswitch block',
        args: { ...record },
        class: 'killswitch',
        outcome: record.error === undefined ? 'ok' : 'partial',
        reason: `${record.id} (${record.class}${record.vendorId ? ` ${record.vendorId}:${record.productId ?? '????'}` : ''}) plugged while engaged matched ${rule}`,
        error: record.error,
        durationMs: performance.now() - t0,
      });
    } catch (err) {
      this.opts.logger.error({ err: String(err) }, 'hot-plug block could not be audited');
    }
    return record;
  }
}
