/**
 * The VM definition: what a user writes in YAML. Validated with zod at the edge; unknown fields are refused.
 * Sizes accept units (`512M`, `2G`, `2GiB`) or a plain number of MiB.
 */
import { z } from 'zod';

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const ID = /^[a-zA-Z][a-zA-Z0-9_.-]{0,31}$/;
const MAC = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;
const PCI_ADDRESS = /^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/;
const HEX4 = /^(0x)?[0-9a-fA-F]{4}$/;
const USB_PORT = /^[0-9]+(\.[0-9]+)*$/;

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
  .refine((d) => (d.file === undefined) !== (d.device === undefined), {
    message: 'a disk needs exactly one of "file" (an image) or "device" (a /dev/disk/by-... path)',
  });

const hostForward = z.strictObject({
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  hostAddress: z.string().default('127.0.0.1'),
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
  .superRefine((n, ctx) => {
    const need: Record<string, keyof typeof n | undefined> = { tap: 'ifname', bridge: 'bridge', macvtap: 'macvtap', vf: 'address', user: undefined };
    const field = need[n.type];
    if (field && n[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: `a ${n.type} NIC needs "${field}"` });
    if (n.forward.length > 0 && n.type !== 'user') ctx.addIssue({ code: 'custom', path: ['forward'], message: 'port forwarding works only on user NICs' });
  });

const usbSchema = z
  .strictObject({
    id: id.optional(),
    vendor: z.string().regex(HEX4, 'write a USB vendor id as 4 hex digits, e.g. 046d').optional(),
    product: z.string().regex(HEX4, 'write a USB product id as 4 hex digits, e.g. 0825').optional(),
    bus: z.number().int().min(1).optional(),
    port: z.string().regex(USB_PORT, 'write a USB port path as 1 or 1.2.3').optional(),
  })
  .refine((u) => (u.vendor !== undefined && u.product !== undefined) !== (u.bus !== undefined && u.port !== undefined), {
    message: 'name a host USB device either by vendor and product, or by bus and port',
  });

const pciSchema = z.strictObject({
  id: id.optional(),
  address: z.string().regex(PCI_ADDRESS, 'write a PCI address as 0000:01:00.0'),
});

const deviceSchema = z.strictObject({
  id: id.optional(),
  driver: z.string().min(1),
  props: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
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
  machine: z.string().default('q35'),
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
  extraArgs: z.array(z.string()).default([]),
});

/** A validated definition, every default filled in. */
export type VmDefinition = z.output<typeof vmDefinitionSchema>;
/** A definition as written (before defaults). */
export type VmDefinitionInput = z.input<typeof vmDefinitionSchema>;
export type DiskSpec = VmDefinition['disks'][number];
export type NicSpec = VmDefinition['nics'][number];
export type UsbSpec = VmDefinition['usb'][number];
export type PciSpec = VmDefinition['pci'][number];
export type RestartPolicy = VmDefinition['autostart']['restart'];
