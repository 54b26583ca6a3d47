/**
 * What reaches outside a VM, as data shared by the two guards that judge QEMU configuration: the QMP guard
 * (commands sent at run time, src/qmp/guard-table.ts) and the definition guard (`devices` and `extraArgs`,
 * src/vm/definition/extra-args.ts). Keeping one list means a driver or property refused at start is also refused
 * when hot-plugged, and the other way round.
 */

/**
 * Property names (keys) that name a host file, directory, socket, device node or descriptor, as a regular
 * expression source. Matched against a whole key, or its last dotted part; `-` separated suffixes count, so
 * `mem-path`, `dh-cert-file` and `out.dev` are caught too. `romfile` is not here: `romfile=` with no file is the one
 * safe use of a file key, so each guard handles it on its own.
 */
export const HOST_KEY_PATTERN =
  '(^|-)(file|filename|path|dir|rootdir|logfile|script|downscript|helper|sock|socket|fd|fds|vhostfd|vhostfds|vhostdev|sysfsdev|hostdevice|evdev|hidraw|ibdev|splash|rrfile|sdrfile|frudatafile|cdat|pcap|kernel|initrd|dtb|dumpdtb|db|cert\\d*|dev)$';

/** {@link HOST_KEY_PATTERN}, compiled. */
export const HOST_KEY = new RegExp(HOST_KEY_PATTERN);

/** A device driver that gives the guest host hardware or an outside backend. */
export interface HostDeviceDriver {
  /** Matches the driver name. */
  pattern: RegExp;
  /** What it reaches on the host, for the QMP guard's reason. */
  risk: string;
  /** Why a definition may not use it, and the field to use instead (the definition guard's message). */
  use: string;
}

const PCI_FIELD = 'host PCI passthrough is the "pci" field (or a NIC of type vf), so the kill switch knows the device';

/** Drivers refused in `devices`/`extraArgs` and dangerous in `device_add`; the first pattern that matches decides. */
export const HOST_DEVICE_DRIVERS: readonly HostDeviceDriver[] = [
  { pattern: /^vfio/, risk: 'it passes a host PCI device (VFIO) into the guest; only the kill switch may re-attach host devices', use: PCI_FIELD },
  { pattern: /^((kvm-)?pci-assign|xen-pci-passthrough)$/, risk: 'it passes a host PCI device into the guest; only the kill switch may re-attach host devices', use: PCI_FIELD },
  {
    pattern: /^usb-host$/,
    risk: 'it passes a host USB device into the guest; only the kill switch may re-attach host devices',
    use: 'host USB passthrough is the "usb" field, so the kill switch knows the device',
  },
  {
    pattern: /^u2f-passthru$/,
    risk: 'it passes a host security key (hidraw) into the guest',
    use: 'it passes a host security key through behind the kill switch; Vigil has no field for it',
  },
  {
    pattern: /^(vhost-vsock|vhost-user-vsock)/,
    risk: "it gives the guest a vsock address on the host (through /dev/vhost-vsock or a vhost-user backend), so it can reach the host's vsock services",
    use: 'vsock is the "vsock" field (vsock.cid)',
  },
  { pattern: /^(loader|guest-loader)$/, risk: 'it loads host files into guest memory', use: 'it loads host files into guest memory' },
  { pattern: /^virtio-input-host/, risk: 'it grabs a host input device (evdev): the host keyboard or mouse goes to the guest', use: 'it grabs a host input device (evdev)' },
  {
    pattern: /^(vhost-scsi|vhost-user-scsi|vhost-vdpa)/,
    risk: 'it connects a host storage or network backend (vhost) to the guest, outside the kill switch',
    use: 'it connects a host storage or network backend behind the kill switch',
  },
  {
    pattern: /^vhost-user-/,
    risk: 'it hands guest memory to an outside vhost-user backend process over a socket',
    use: 'it hands guest memory to an outside vhost-user backend process; Vigil has no field for it',
  },
  {
    pattern: /^x-pci-proxy-dev$/,
    risk: 'it connects the guest to a device emulated by another process, through a file descriptor (fd=)',
    use: 'it connects a device emulated by another process through a file descriptor',
  },
  { pattern: /^pvrdma$/, risk: 'it connects the guest to a host RDMA device (ibdev=)', use: 'it connects a host RDMA device; Vigil has no field for it' },
  {
    pattern: /^ccid-card-emulated$/,
    risk: "it passes the host's smart cards, or its NSS certificate database, into the guest",
    use: "it reads the host's smart cards or NSS certificate database; Vigil has no field for it",
  },
];

/** The chardev ids on Vigil's own command line (QMP monitors, serial console, gdbstub). */
export const VIGIL_CHARDEV_IDS: readonly string[] = ['qmp', 'monitor', 'serial0', 'gdb'];
