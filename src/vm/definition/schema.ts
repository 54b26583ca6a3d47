/**
 * The VM definition: what a user writes in YAML. Validated with zod at the edge; unknown fields are refused.
 * Sizes accept units (`512M`, `2G`, `2GiB`) or a plain number of MiB.
 */
import { z } from 'zod';
import { killswitchSectionSchema } from '../../killswitch/section.js';
import { checkDeviceSpec, checkExtraArgs } from './extra-args.js';

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const ID = /^[a-zA-Z][a-zA-Z0-9_.-]{0,31}$/;
const MAC = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;
const PCI_ADDRESS = /^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/;
const HEX4 = /^(0x)?[0-9a-fA-F]{4}$/;
const USB_PORT = /^[0-9]+(\.[0-9]+)*$/;
const MACHINE = /^[a-zA-Z0-9][a-zA-Z0-9._-]*$/;

/** Device ids Vigil gives its own devices (USB and SATA controllers, vsock, VGA); a definition may not reuse them. */
export const RESERVED_DEVICE_IDS: readonly string[] = ['xhci', 'ahci', 'vsock0', 'video0'];

/** SATA ports on one AHCI controller (q35's built-in one, or the one Vigil adds on other machines). */
export const SATA_PORTS = 6;

/** Image formats by file extension, for disks whose `format` is left out. */
export const FORMAT_BY_EXTENSION: Readonly<Record<string, 'qcow2' | 'raw'>> = { qcow2: 'qcow2', raw: 'raw', img: 'raw', iso: 'raw' };

/**
 * Cross-field refinements run even when other fields already failed (zod skips them by default), so a user sees
 * every problem in one round; they therefore read their input defensively.
 */
const always = { when: (): boolean => true };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? (v as unknown[]) : []);

/** The extension of a path (`qcow2` of `/a/b.qcow2`), lower case; empty when there is none. */
export function fileExtension(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot + 1).toLowerCase();
}

/** Parses `512`, `512M`, `512MiB`, `2G`, `2GiB`, `1T` into MiB; undefined when malformed. */
export function parseSizeMiB(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(M|MB|MiB|G|GB|GiB|T|TB|TiB)?\s*$/i.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? 'M').toUpperCase()[0];
  const mib = unit === 'G' ? n * 1024 : unit === 'T' ? n * 1024 * 1024 : n;
  return Number.isInteger(mib) && mib > 0 ? mib : undefined;
}

const size = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    const mib = parseSizeMiB(v);
    if (mib === undefined) {
      ctx.addIssue({ code: 'custom', message: `'${v}' is not a size: write a whole number of MiB (2048) or use a unit (512M, 2G)` });
      return z.NEVER;
    }
    return mib;
  });

const id = z.string().regex(ID, 'ids start with a letter and use letters, digits, "_", "." or "-" (at most 32 characters)');
const absPath = z.string().startsWith('/', 'use an absolute path');

const diskSchema = z
  .strictObject({
    id: id.optional(),
    /** A disk image file (qcow2 or raw). */
    file: absPath.optional(),
    /** A whole host block device, by a stable path (/dev/disk/by-uuid/..., /dev/disk/by-id/...). */
    device: z
      .string()
      .regex(/^\/dev\/disk\/by-(uuid|id|partuuid|label|path)\//, 'pass whole block devices by a stable path: /dev/disk/by-uuid/<uuid> or /dev/disk/by-id/<id>')
      .optional(),
    format: z.enum(['qcow2', 'raw']).optional(),
    bus: z.enum(['virtio', 'nvme', 'sata']).default('virtio'),
    cache: z.enum(['none', 'writeback', 'writethrough']).default('writeback'),
    readonly: z.boolean().default(false),
    /** The serial number the guest sees (nvme needs one; generated from the id when absent). */
    serial: z.string().max(20).optional(),
  })
  .check(
    z.superRefine((d: unknown, ctx) => {
      if (!isRecord(d)) return;
      if (d.file === undefined && d.device === undefined) {
        ctx.addIssue({ code: 'custom', path: [], message: 'a disk needs "file" (an image) or "device" (a /dev/disk/by-... path)' });
      } else if (d.file !== undefined && d.device !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['device'], message: 'a disk has either "file" (an image) or "device" (a /dev/disk/by-... path), not both' });
      }
      if (typeof d.file === 'string' && d.format === undefined && FORMAT_BY_EXTENSION[fileExtension(d.file)] === undefined) {
        ctx.addIssue({ code: 'custom', path: ['file'], message: `cannot tell the image format from the name: add "format: qcow2" or "format: raw" (Vigil never lets QEMU guess a format)` });
      }
      if (d.bus === 'sata' && d.readonly === true) {
        ctx.addIssue({ code: 'custom', path: ['readonly'], message: 'QEMU cannot attach a read-only disk as SATA (ide-hd); use bus: virtio or nvme for a read-only disk' });
      }
    }, always),
  );

const hostForward = z.strictObject({
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  /** QEMU 7.2's user networking forwards IPv4 only. */
  hostAddress: z.ipv4({ message: 'write an IPv4 address such as 127.0.0.1 (QEMU 7.2 forwards IPv4 only)' }).default('127.0.0.1'),
  hostPort: z.number().int().min(1).max(65535),
  guestPort: z.number().int().min(1).max(65535),
});

const nicSchema = z
  .strictObject({
    id: id.optional(),
    /** user: QEMU's user-mode NAT; tap: an existing tap; bridge: a tap on a host bridge; macvtap: a macvtap device; vf: an SR-IOV VF passed through. */
    type: z.enum(['user', 'tap', 'bridge', 'macvtap', 'vf']),
    /** A fixed MAC, or `generate` for a new locally administered MAC on each boot (default: stable, derived from VM name and NIC id). */
    mac: z.union([z.string().regex(MAC, 'write a MAC as 52:54:00:12:34:56'), z.literal('generate')]).optional(),
    model: z.enum(['virtio', 'e1000e', 'rtl8139']).default('virtio'),
    /** tap: the tap interface's name. */
    ifname: z.string().max(15).optional(),
    /** bridge: the host bridge. */
    bridge: z.string().max(15).optional(),
    /** macvtap: the macvtap interface's name (its /dev/tapN is opened by Vigil). */
    macvtap: z.string().max(15).optional(),
    /** vf: the VF's PCI address. */
    address: z.string().regex(PCI_ADDRESS, 'write a PCI address as 0000:01:00.0').optional(),
    vlan: z.number().int().min(1).max(4094).optional(),
    /** The link state at boot. */
    link: z.enum(['up', 'down']).default('up'),
    /** user: host ports forwarded into the guest. */
    forward: z.array(hostForward).default([]),
  })
  .check(
    z.superRefine((n: unknown, ctx) => {
      if (!isRecord(n) || typeof n.type !== 'string') return;
      const type = n.type;
      const own: Record<string, string> = { ifname: 'tap', bridge: 'bridge', macvtap: 'macvtap', address: 'vf' };
      for (const [field, owner] of Object.entries(own)) {
        if (type === owner && n[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: `a ${type} NIC needs "${field}"` });
        if (type !== owner && n[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `"${field}" belongs to ${owner} NICs; this NIC is ${type}: remove it` });
      }
      if (list(n.forward).length > 0 && type !== 'user') ctx.addIssue({ code: 'custom', path: ['forward'], message: 'port forwarding works only on user NICs' });
      if (n.vlan !== undefined && type === 'user') ctx.addIssue({ code: 'custom', path: ['vlan'], message: 'a VLAN tag is set on the host side of tap, bridge, macvtap or vf NICs; a user NIC has none' });
      if (n.link === 'down' && type === 'vf') {
        ctx.addIssue({ code: 'custom', path: ['link'], message: "a VF's link is controlled on the host (ip link set PF vf N state disable), not by QEMU: remove link: down" });
      }
      if (typeof n.mac === 'string' && MAC.test(n.mac) && (parseInt(n.mac.slice(0, 2), 16) & 1) === 1) {
        ctx.addIssue({ code: 'custom', path: ['mac'], message: 'this is a multicast MAC (odd first byte); use a unicast one, e.g. 52:54:00:12:34:56' });
      }
      const seen = new Set<string>();
      list(n.forward).forEach((f, i) => {
        if (!isRecord(f)) return;
        const text = (v: unknown, fallback: string): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : fallback);
        const key = `${text(f.protocol, 'tcp')} ${text(f.hostAddress, '127.0.0.1')}:${text(f.hostPort, '?')}`;
        if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['forward', i, 'hostPort'], message: `host port ${key} is forwarded twice` });
        seen.add(key);
      });
    }, always),
  );

const usbSchema = z
  .strictObject({
    id: id.optional(),
    vendor: z.string().regex(HEX4, 'write a USB vendor id as 4 hex digits, e.g. 046d').optional(),
    product: z.string().regex(HEX4, 'write a USB product id as 4 hex digits, e.g. 0825').optional(),
    bus: z.number().int().min(1).optional(),
    port: z.string().regex(USB_PORT, 'write a USB port path as 1 or 1.2.3').optional(),
  })
  .check(
    z.superRefine((u: unknown, ctx) => {
      if (!isRecord(u)) return;
      const byId = u.vendor !== undefined || u.product !== undefined;
      const byPort = u.bus !== undefined || u.port !== undefined;
      if (byId === byPort) {
        ctx.addIssue({ code: 'custom', path: [], message: 'name a host USB device either by vendor and product (046d/0825), or by bus and port (1 and "1.2"), not both' });
        return;
      }
      const pairs: [string, string][] = byId ? [['vendor', 'product'], ['product', 'vendor']] : [['bus', 'port'], ['port', 'bus']];
      for (const [have, need] of pairs) {
        if (u[have] !== undefined && u[need] === undefined) ctx.addIssue({ code: 'custom', path: [need], message: `"${have}" needs "${need}" too` });
      }
    }, always),
  );

const pciSchema = z.strictObject({
  id: id.optional(),
  address: z.string().regex(PCI_ADDRESS, 'write a PCI address as 0000:01:00.0'),
});

const deviceSchema = z
  .strictObject({
    id: id.optional(),
    driver: z.string().min(1),
    props: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  })
  .superRefine((d, ctx) => {
    for (const p of checkDeviceSpec(d.driver, d.props)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  });

const restartSchema = z.strictObject({
  policy: z.enum(['no', 'on-failure', 'always']).default('no'),
  /** First delay before a restart; doubled after each failure up to maxDelayMs. */
  initialDelayMs: z.number().int().min(0).default(1000),
  maxDelayMs: z.number().int().min(0).default(60000),
  /** Restarts allowed within `windowMs` before Vigil gives up (the VM is left crashed). */
  limit: z.number().int().min(0).default(5),
  windowMs: z.number().int().min(1000).default(600000),
});

const autostartSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** Lower starts first. */
  order: z.number().int().default(0),
  /** VMs that must be running before this one starts. */
  after: z.array(z.string().regex(NAME)).default([]),
  restart: restartSchema.default(() => restartSchema.parse({})),
});

const firmwareSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('bios') }),
  z.strictObject({
    type: z.literal('uefi'),
    code: absPath.default('/usr/share/OVMF/OVMF_CODE_4M.fd'),
    /** The variable store template; copied per VM on first start. */
    vars: absPath.default('/usr/share/OVMF/OVMF_VARS_4M.fd'),
  }),
]);

const serialSchema = z.strictObject({
  /** Keep a log of the console (serial.log beside the VM's state). */
  log: z.boolean().default(true),
  /** Rotate the log past this size (MiB, or with a unit: 10M). */
  maxSize: size.default(10),
  /** Rotated logs kept. */
  keep: z.number().int().min(0).max(100).default(3),
});

/** The VM definition schema. */
export const vmDefinitionSchema = z.strictObject({
  name: z.string().regex(NAME, 'VM names use letters, digits, "_", "." or "-" and start with a letter or digit (at most 63 characters)'),
  description: z.string().optional(),
  memory: size.default(512),
  cpus: z.number().int().min(1).max(512).default(1),
  /** The vCPU model (default: host under KVM, max under TCG). */
  cpu: z.string().optional(),
  machine: z.string().regex(MACHINE, 'write a machine type such as q35, pc or pc-q35-7.2 (machine properties cannot be set here)').default('q35'),
  accel: z.enum(['kvm', 'tcg', 'auto']).default('auto'),
  firmware: firmwareSchema.default({ type: 'bios' }),
  boot: z
    .strictObject({
      kernel: absPath,
      initrd: absPath.optional(),
      cmdline: z.string().optional(),
    })
    .optional(),
  disks: z.array(diskSchema).default([]),
  nics: z.array(nicSchema).default([]),
  vsock: z.strictObject({ cid: z.number().int().min(3).max(0xfffffffe) }).optional(),
  usb: z.array(usbSchema).default([]),
  pci: z.array(pciSchema).default([]),
  devices: z.array(deviceSchema).default([]),
  serial: serialSchema.default(() => serialSchema.parse({})),
  display: z.enum(['none', 'vnc']).default('none'),
  /** Shared RAM file and a gdbstub socket, for host-side introspection. */
  introspection: z.boolean().default(false),
  autostart: autostartSchema.default(() => autostartSchema.parse({})),
  tags: z.array(z.string().min(1)).default([]),
  /** Extra QEMU arguments, checked against the options Vigil owns and the dangerous ones. */
  extraArgs: z
    .array(z.string())
    .default([])
    .superRefine((args, ctx) => {
      for (const p of checkExtraArgs(args)) ctx.addIssue({ code: 'custom', path: [p.index], message: p.message });
    }),
  /** What the kill switch cuts from this VM and how it escalates; absent: the kill switch leaves this VM alone. */
  killswitch: killswitchSectionSchema.optional(),
}).check(
  z.superRefine((def: unknown, ctx) => {
    if (!isRecord(def)) return;
    // QEMU's -device ids share one namespace, so an id may appear once across every list.
    const seen = new Map<string, string>();
    for (const field of ['disks', 'nics', 'usb', 'pci', 'devices']) {
      list(def[field]).forEach((item, i) => {
        if (!isRecord(item) || typeof item.id !== 'string') return;
        const where = `${field}.${i}`;
        if (RESERVED_DEVICE_IDS.includes(item.id)) {
          ctx.addIssue({ code: 'custom', path: [field, i, 'id'], message: `"${item.id}" is the id of a device Vigil adds itself (${RESERVED_DEVICE_IDS.join(', ')}); pick another` });
        } else if (seen.has(item.id)) {
          ctx.addIssue({ code: 'custom', path: [field, i, 'id'], message: `id "${item.id}" is already used by ${seen.get(item.id)!}; ids are unique across disks, nics, usb, pci and devices` });
        } else seen.set(item.id, where);
      });
    }
    const sata = list(def.disks).filter((d) => isRecord(d) && d.bus === 'sata').length;
    if (sata > SATA_PORTS) ctx.addIssue({ code: 'custom', path: ['disks'], message: `${sata} SATA disks, but an AHCI controller has ${SATA_PORTS} ports; put the others on virtio or nvme` });
    // One host PCI function can be given to a VM once, whether as a PCI device or as a VF NIC.
    const pciSeen = new Map<string, string>();
    const normalise = (a: string): string => (a.length === 7 ? `0000:${a}` : a).toLowerCase();
    const claim = (address: unknown, path: (string | number)[]): void => {
      if (typeof address !== 'string' || !PCI_ADDRESS.test(address)) return;
      const key = normalise(address);
      const before = pciSeen.get(key);
      if (before !== undefined) ctx.addIssue({ code: 'custom', path, message: `host PCI device ${key} is already passed through by ${before}` });
      else pciSeen.set(key, path.slice(0, 2).join('.'));
    };
    list(def.pci).forEach((p, i) => isRecord(p) && claim(p.address, ['pci', i, 'address']));
    list(def.nics).forEach((n, i) => isRecord(n) && n.type === 'vf' && claim(n.address, ['nics', i, 'address']));
    if (typeof def.name === 'string' && isRecord(def.autostart) && list(def.autostart.after).includes(def.name)) {
      ctx.addIssue({ code: 'custom', path: ['autostart', 'after'], message: 'a VM cannot wait for itself to start' });
    }
  }, always),
);

/** A validated definition, every default filled in. */
export type VmDefinition = z.output<typeof vmDefinitionSchema>;
/** A definition as written (before defaults). */
export type VmDefinitionInput = z.input<typeof vmDefinitionSchema>;
export type DiskSpec = VmDefinition['disks'][number];
export type NicSpec = VmDefinition['nics'][number];
export type UsbSpec = VmDefinition['usb'][number];
export type PciSpec = VmDefinition['pci'][number];
export type RestartPolicy = VmDefinition['autostart']['restart'];
