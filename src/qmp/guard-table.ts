/**
 * The QMP guard's classification table, as data. Rules are tried in order and the first whose command matches
 * and whose condition holds decides; a command no rule names is `safe` if this QEMU's schema lists it.
 * Operators prepend their own rules in config.yaml (`qmp.rules`), so any verdict can be tightened or relaxed.
 *
 * Host paths: only the VM's files directory (`files/` in its runtime directory) holds the VM's own files. The rest
 * of the runtime directory is Vigil's (QMP, monitor, serial, gdb and VNC sockets, the pidfile, the RAM file), so
 * a path there counts as outside like any other host path.
 */
import { HOST_DEVICE_DRIVERS, HOST_KEY_PATTERN, VIGIL_CHARDEV_IDS } from './host-access.js';

/** Risk classes, after MAQET's model (seed 004). */
export type QmpClass = 'dangerous' | 'memory-dump' | 'privileged' | 'safe';

/** All classes, in order of severity. */
export const QMP_CLASSES: readonly QmpClass[] = ['dangerous', 'memory-dump', 'privileged', 'safe'];

/**
 * A condition on a command's arguments. "Dotted path" arguments name one place (`backend.type`); "keys" are
 * searched at any depth, inside nested objects and arrays.
 */
export type RuleCondition =
  /** A string argument (dotted path) starts with one of the prefixes. */
  | { kind: 'arg-prefix'; arg: string; prefixes: string[] }
  /** A string argument (dotted path) equals one of the values. */
  | { kind: 'arg-in'; arg: string; values: string[] }
  /** An argument (dotted path) is missing, not a string, or a string other than the values. */
  | { kind: 'arg-not-in'; arg: string; values: string[] }
  /** An argument (dotted path) is not given at all (`null` counts as given). */
  | { kind: 'arg-absent'; arg: string }
  /** A key listed in `keys`, or whose name matches the regular expression `pattern`, is given, whatever its value. */
  | { kind: 'has-key'; keys?: string[] | undefined; pattern?: string | undefined }
  /** A string given under one of `keys` (every string inside, for an array or object) matches the regular expression `pattern`. */
  | { kind: 'key-match'; keys: string[]; pattern: string }
  /**
   * A host path outside the VM's files directory appears under one of `keys`;
   * `strip` removes a scheme prefix first (dump-guest-memory's `file:`), values without it are not paths.
   */
  | { kind: 'host-path-outside'; keys: string[]; strip?: string | undefined }
  /** Every one of `conditions` holds. */
  | { kind: 'all'; conditions: RuleCondition[] };

/** One row of the table. */
export interface GuardRule {
  command: string;
  class: QmpClass;
  /** Why, in words a user understands; shown in refusals and by `vigil qmp classify`. */
  reason: string;
  when?: RuleCondition | undefined;
}

const OUTSIDE = "it names a host path outside the VM's files directory (files/ in its runtime directory)";

/** Image formats that name further host files in their own metadata, which QEMU opens on its own. */
const HEADER =
  'qcow2, qcow, qed and vmdk images name further host files in their own headers (a backing file, an external data file, extents), ' +
  'which QEMU would open without the guard seeing them; a file in the VM directory can be written through QMP (pmemsave), so its header cannot be trusted';

/** Opening an existing image by file name, in a format other than raw. */
const EXISTING_IMAGE =
  "QEMU would open an existing image in a format other than raw (or probe the format), and the image's header may name further host files it opens without the guard seeing them; use format raw or let QEMU create the image";

const NETWORK_BLOCK = 'it makes the host connect to a network server for the disk, including services only the host can reach (such as a cloud metadata endpoint)';

/** SocketAddress types that are not a Unix socket path. */
const NETWORK_SOCKET = '^(inet|vsock|fd)$';

/** The rules for commands that create a chardev backend. */
function chardevRules(command: string): GuardRule[] {
  return [
    {
      command,
      class: 'dangerous',
      reason: `${OUTSIDE} (QEMU would create, read or write that file, socket or device)`,
      when: { kind: 'host-path-outside', keys: ['path', 'out', 'in', 'logfile', 'device'] },
    },
    {
      command,
      class: 'dangerous',
      reason: "the stdio backend reads and writes QEMU's own standard input and output, which belong to Vigil's supervisor",
      when: { kind: 'arg-in', arg: 'backend.type', values: ['stdio'] },
    },
    {
      command,
      class: 'dangerous',
      reason: 'it opens a host network socket: a server others can reach, or a connection to any address the host can reach (its loopback-only services included)',
      when: { kind: 'key-match', keys: ['type'], pattern: NETWORK_SOCKET },
    },
  ];
}

/** The rules for commands that open block nodes from options (blockdev-add, blockdev-reopen, blockdev-create). */
function blockRules(command: string, extraPathKeys: string[] = []): GuardRule[] {
  return [
    {
      command,
      class: 'dangerous',
      reason: `${OUTSIDE} (a host file or block device would be opened for the guest)`,
      when: { kind: 'host-path-outside', keys: ['filename', 'path', 'dir', 'config', 'conf', 'logfile', ...extraPathKeys] },
    },
    {
      command,
      class: 'dangerous',
      reason: NETWORK_BLOCK,
      when: { kind: 'key-match', keys: ['driver'], pattern: '^(http|https|ftp|ftps|ssh|nfs|iscsi|gluster|rbd)$' },
    },
    { command, class: 'dangerous', reason: NETWORK_BLOCK, when: { kind: 'key-match', keys: ['type'], pattern: NETWORK_SOCKET } },
    {
      command,
      class: 'dangerous',
      reason: 'the nvme block driver takes a host NVMe controller (a PCI device) away from the host',
      when: { kind: 'key-match', keys: ['driver'], pattern: '^nvme$' },
    },
  ];
}

/** Migration URIs: `exec:` runs a shell command; `unix:` and `file:` name host paths. */
function migrationRules(command: string, direction: string, otherwise: string): GuardRule[] {
  return [
    { command, class: 'dangerous', reason: 'an exec: migration URI runs a shell command on the host', when: { kind: 'arg-prefix', arg: 'uri', prefixes: ['exec:'] } },
    ...['unix:', 'file:'].map(
      (strip): GuardRule => ({ command, class: 'dangerous', reason: `${OUTSIDE} (${direction})`, when: { kind: 'host-path-outside', keys: ['uri'], strip } }),
    ),
    { command, class: 'privileged', reason: otherwise },
  ];
}

/** Object types reviewed for QEMU 7.2: their host paths are checked by the rules above, and they reach nothing else. */
const REVIEWED_OBJECTS = [
  'authz-list',
  'authz-list-file',
  'authz-simple',
  'can-bus',
  'colo-compare',
  'cryptodev-backend-builtin',
  'cryptodev-vhost-user',
  'filter-buffer',
  'filter-dump',
  'filter-mirror',
  'filter-redirector',
  'filter-replay',
  'filter-rewriter',
  'iothread',
  'main-loop',
  'memory-backend-file',
  'memory-backend-memfd',
  'memory-backend-ram',
  'pr-manager-helper',
  'rng-builtin',
  'rng-egd',
  'rng-random',
  'secret',
  'thread-context',
  'throttle-group',
  'tls-cipher-suites',
  'tls-creds-anon',
  'tls-creds-psk',
  'tls-creds-x509',
];

/** Vigil's default table. */
export const DEFAULT_GUARD_RULES: readonly GuardRule[] = [
  { command: 'human-monitor-command', class: 'dangerous', reason: 'it runs arbitrary HMP monitor commands, bypassing every protection' },
  { command: 'inject-nmi', class: 'dangerous', reason: 'a non-maskable interrupt can crash the guest operating system' },

  // Migration: the VM's whole state, memory included, leaves or enters QEMU.
  ...migrationRules('migrate', "QEMU would write the VM's whole state, memory included, there", 'migration moves the VM state off this host and stops the VM'),
  ...migrationRules('migrate-incoming', "QEMU would read the VM's state from there", "an incoming migration replaces the VM's whole state"),
  ...migrationRules('migrate-recover', "QEMU would read the VM's state from there", "it resumes a postcopy migration, replacing the VM's state"),
  {
    command: 'xen-save-devices-state',
    class: 'dangerous',
    reason: `${OUTSIDE} (QEMU would write the VM's device state there)`,
    when: { kind: 'host-path-outside', keys: ['filename'] },
  },
  {
    command: 'xen-load-devices-state',
    class: 'dangerous',
    reason: `${OUTSIDE} (QEMU would read device state from that file)`,
    when: { kind: 'host-path-outside', keys: ['filename'] },
  },
  { command: 'xen-load-devices-state', class: 'privileged', reason: "it replaces the VM's device state with one read from a file" },

  // File descriptors: the guard cannot see what a passed descriptor opens.
  ...['getfd', 'add-fd'].map(
    (command): GuardRule => ({
      command,
      class: 'dangerous',
      reason:
        'it hands QEMU a file descriptor the guard cannot inspect (any host file, socket or device the sender opened); commands then use it by name (fd:NAME, /dev/fdset/N) past every path rule',
    }),
  ),

  // Devices: host hardware, outside backends and host files.
  ...HOST_DEVICE_DRIVERS.map(
    (d): GuardRule => ({ command: 'device_add', class: 'dangerous', reason: d.risk, when: { kind: 'key-match', keys: ['driver'], pattern: d.pattern.source } }),
  ),
  {
    command: 'device_add',
    class: 'dangerous',
    reason: 'romfile= loads a host file as the device\'s option ROM (only romfile="" is allowed)',
    when: { kind: 'key-match', keys: ['romfile'], pattern: '.' },
  },
  {
    command: 'device_add',
    class: 'dangerous',
    reason: 'a property names a host file, device or descriptor (such as file=, fd=, evdev=, rootdir= or pcap=): only the VM definition may give a device host access',
    when: { kind: 'has-key', pattern: HOST_KEY_PATTERN },
  },
  {
    command: 'qom-set',
    class: 'dangerous',
    reason: 'the property names a host file, device or descriptor (such as romfile, mem-path, file, fd or evdev)',
    when: { kind: 'key-match', keys: ['property'], pattern: `${HOST_KEY_PATTERN}|^romfile$` },
  },

  // Network backends: only user-mode networking stays inside QEMU.
  {
    command: 'netdev_add',
    class: 'dangerous',
    reason: 'it runs a host program: QEMU runs script= and downscript=, and runs helper= through /bin/sh -c',
    when: { kind: 'has-key', keys: ['script', 'downscript', 'helper'] },
  },
  {
    command: 'netdev_add',
    class: 'dangerous',
    reason: 'a tap or bridge backend attaches to host network interfaces and runs host programs (the default /etc/qemu-ifup scripts, or the setuid bridge helper)',
    when: { kind: 'arg-in', arg: 'type', values: ['tap', 'bridge'] },
  },
  {
    command: 'netdev_add',
    class: 'dangerous',
    reason: `${OUTSIDE} (QEMU would open that socket or device for the network backend)`,
    when: { kind: 'host-path-outside', keys: ['path', 'sock', 'vhostdev'] },
  },
  {
    command: 'netdev_add',
    class: 'dangerous',
    reason:
      'only the user-mode (slirp) backend stays inside QEMU; every other backend (socket, stream, dgram, vhost-user, vhost-vdpa, l2tpv3, vde, hubport, ...) reaches host network interfaces, devices, sockets or other processes',
    when: { kind: 'arg-not-in', arg: 'type', values: ['user'] },
  },
  {
    command: 'netdev_add',
    class: 'dangerous',
    reason: 'smb= shares a host directory with the guest and runs smbd on the host',
    when: { kind: 'has-key', keys: ['smb'] },
  },
  {
    command: 'netdev_add',
    class: 'dangerous',
    reason: 'tftp= serves a host directory to the guest (bootfile= names a file in it)',
    when: { kind: 'has-key', keys: ['tftp', 'bootfile'] },
  },
  {
    command: 'netdev_add',
    class: 'dangerous',
    reason: 'guestfwd= connects guest connections to a host chardev (a file, socket or device) or runs a host command (cmd:)',
    when: { kind: 'has-key', keys: ['guestfwd'] },
  },
  {
    command: 'netdev_add',
    class: 'dangerous',
    reason: 'hostfwd= listens on a host port on every interface or a non-loopback address, exposing the guest to the network (only 127.x.x.x host addresses are not dangerous)',
    when: { kind: 'key-match', keys: ['hostfwd'], pattern: '^(?!(tcp|udp)?:127\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}:)' },
  },
  { command: 'netdev_add', class: 'privileged', reason: 'hostfwd= listens on a host loopback port, which every local user can reach', when: { kind: 'has-key', keys: ['hostfwd'] } },

  // Character devices: host files, sockets, devices; Vigil's own chardevs.
  ...['chardev-change', 'chardev-remove'].map(
    (command): GuardRule => ({
      command,
      class: 'dangerous',
      reason: "it replaces or removes one of Vigil's own chardevs (its QMP monitors, serial console or gdbstub)",
      when: { kind: 'arg-in', arg: 'id', values: [...VIGIL_CHARDEV_IDS] },
    }),
  ),
  ...chardevRules('chardev-add'),
  ...chardevRules('chardev-change'),

  // Objects.
  {
    command: 'object-add',
    class: 'safe',
    reason: "rng-random reading the host's random number device is harmless",
    when: {
      kind: 'all',
      conditions: [
        { kind: 'arg-in', arg: 'qom-type', values: ['rng-random'] },
        { kind: 'arg-in', arg: 'filename', values: ['/dev/urandom', '/dev/random'] },
      ],
    },
  },
  {
    command: 'object-add',
    class: 'dangerous',
    reason: `${OUTSIDE} (QEMU would open that file, device or socket for the object)`,
    when: { kind: 'host-path-outside', keys: ['mem-path', 'filename', 'file', 'dir', 'evdev', 'path', 'log', 'dh-cert-file', 'session-file', 'sev-device'] },
  },
  {
    command: 'object-add',
    class: 'dangerous',
    reason: 'it connects the guest to a host CAN network interface (if=)',
    when: { kind: 'arg-in', arg: 'qom-type', values: ['can-host-socketcan'] },
  },
  {
    command: 'object-add',
    class: 'dangerous',
    reason: 'the qtest protocol lets whoever is on the other end of its chardev read and write guest memory and I/O ports, outside the guard',
    when: { kind: 'arg-in', arg: 'qom-type', values: ['qtest'] },
  },
  {
    command: 'object-add',
    class: 'dangerous',
    reason: "it reads a key from the host user's kernel keyring",
    when: { kind: 'arg-in', arg: 'qom-type', values: ['secret_keyring'] },
  },
  {
    command: 'object-add',
    class: 'dangerous',
    reason: 'it serves a device to another process over a file descriptor number (fd=), which can be any descriptor QEMU holds',
    when: { kind: 'arg-in', arg: 'qom-type', values: ['x-remote-object', 'vfio-user-server'] },
  },
  {
    command: 'object-add',
    class: 'dangerous',
    reason: "it connects to an outside service (a Barrier server over the network, or a D-Bus bus) that then drives or reads the guest's input, display or state",
    when: { kind: 'arg-in', arg: 'qom-type', values: ['input-barrier', 'dbus-display', 'dbus-vmstate'] },
  },
  {
    command: 'object-add',
    class: 'dangerous',
    reason: `Vigil has not reviewed this object type for host access (reviewed: ${REVIEWED_OBJECTS.join(', ')})`,
    when: { kind: 'arg-not-in', arg: 'qom-type', values: REVIEWED_OBJECTS },
  },

  // Block devices and jobs.
  ...blockRules('blockdev-add'),
  { command: 'blockdev-add', class: 'dangerous', reason: HEADER, when: { kind: 'key-match', keys: ['driver'], pattern: '^(qcow|qcow2|qed|vmdk)$' } },
  ...blockRules('blockdev-reopen'),
  ...blockRules('blockdev-create', ['backing-file']),
  ...['drive-mirror', 'drive-backup'].flatMap((command): GuardRule[] => [
    {
      command,
      class: 'dangerous',
      reason: `${OUTSIDE} (QEMU would create or overwrite that image)`,
      when: { kind: 'host-path-outside', keys: ['target'] },
    },
    {
      command,
      class: 'dangerous',
      reason: EXISTING_IMAGE,
      when: {
        kind: 'all',
        conditions: [
          { kind: 'arg-in', arg: 'mode', values: ['existing'] },
          { kind: 'arg-not-in', arg: 'format', values: ['raw'] },
        ],
      },
    },
  ]),
  {
    command: 'blockdev-snapshot-sync',
    class: 'dangerous',
    reason: `${OUTSIDE} (QEMU would create or open that image)`,
    when: { kind: 'host-path-outside', keys: ['snapshot-file'] },
  },
  {
    command: 'blockdev-snapshot-sync',
    class: 'dangerous',
    reason: EXISTING_IMAGE,
    when: {
      kind: 'all',
      conditions: [
        { kind: 'arg-in', arg: 'mode', values: ['existing'] },
        { kind: 'arg-not-in', arg: 'format', values: ['raw'] },
      ],
    },
  },
  {
    command: 'blockdev-change-medium',
    class: 'dangerous',
    reason: `${OUTSIDE} (QEMU would open that file as the new medium)`,
    when: { kind: 'host-path-outside', keys: ['filename'] },
  },
  { command: 'blockdev-change-medium', class: 'dangerous', reason: EXISTING_IMAGE, when: { kind: 'arg-not-in', arg: 'format', values: ['raw'] } },
  ...['block-commit', 'block-stream', 'change-backing-file'].map(
    (command): GuardRule => ({
      command,
      class: 'dangerous',
      reason: `${OUTSIDE} (it would be written into an image header as its backing file, and opened whenever that image is)`,
      when: { kind: 'host-path-outside', keys: ['backing-file'] },
    }),
  ),
  {
    command: 'transaction',
    class: 'dangerous',
    reason: `${OUTSIDE} (a snapshot action would create or open that image)`,
    when: { kind: 'host-path-outside', keys: ['snapshot-file'] },
  },
  {
    command: 'transaction',
    class: 'dangerous',
    reason: `${OUTSIDE} (a drive-backup action would create or overwrite that image)`,
    when: {
      kind: 'all',
      conditions: [
        { kind: 'key-match', keys: ['type'], pattern: '^drive-backup$' },
        { kind: 'host-path-outside', keys: ['target'] },
      ],
    },
  },
  { command: 'transaction', class: 'dangerous', reason: EXISTING_IMAGE, when: { kind: 'key-match', keys: ['mode'], pattern: '^existing$' } },

  // Exports and displays: sockets others connect to.
  ...['nbd-server-start', 'block-export-add', 'display-update'].flatMap((command): GuardRule[] => [
    {
      command,
      class: 'dangerous',
      reason: `${OUTSIDE} (QEMU would create a socket or mount an export there)`,
      when: { kind: 'host-path-outside', keys: ['path', 'mountpoint'] },
    },
    {
      command,
      class: 'dangerous',
      reason:
        command === 'display-update'
          ? "it opens the VM's display on a network socket, where anyone who reaches it sees and drives the guest"
          : "it serves the VM's disks on a network socket, to anyone who can reach it",
      when: { kind: 'key-match', keys: ['type'], pattern: NETWORK_SOCKET },
    },
  ]),
  { command: 'nbd-server-start', class: 'privileged', reason: "it serves the VM's disks (once exported) to other processes on this host" },
  { command: 'block-export-add', class: 'privileged', reason: 'it exports a VM disk to other processes on this host' },

  // Files QEMU writes.
  { command: 'screendump', class: 'dangerous', reason: `${OUTSIDE} (QEMU would write that file)`, when: { kind: 'host-path-outside', keys: ['filename'] } },
  { command: 'dumpdtb', class: 'dangerous', reason: `${OUTSIDE} (QEMU would write that file)`, when: { kind: 'host-path-outside', keys: ['filename'] } },
  { command: 'pmemsave', class: 'dangerous', reason: `${OUTSIDE} (QEMU would write guest memory there)`, when: { kind: 'host-path-outside', keys: ['filename'] } },
  { command: 'memsave', class: 'dangerous', reason: `${OUTSIDE} (QEMU would write guest memory there)`, when: { kind: 'host-path-outside', keys: ['filename'] } },
  {
    command: 'dump-guest-memory',
    class: 'dangerous',
    reason: `${OUTSIDE} (QEMU would write guest memory there)`,
    when: { kind: 'host-path-outside', keys: ['protocol'], strip: 'file:' },
  },
  { command: 'pmemsave', class: 'memory-dump', reason: 'it copies guest physical memory, which may hold secrets' },
  { command: 'memsave', class: 'memory-dump', reason: 'it copies guest virtual memory, which may hold secrets' },
  { command: 'dump-guest-memory', class: 'memory-dump', reason: 'it dumps all guest memory, which may hold secrets' },

  // Privileged: changes the VM's state.
  { command: 'system_powerdown', class: 'privileged', reason: 'it asks the guest to power off' },
  { command: 'system_reset', class: 'privileged', reason: 'it resets the VM at once, losing unsaved guest state' },
  { command: 'quit', class: 'privileged', reason: 'it terminates QEMU and the VM with it' },
  { command: 'stop', class: 'privileged', reason: 'it pauses every vCPU' },
  { command: 'cont', class: 'privileged', reason: 'it resumes a paused VM' },
  { command: 'device_del', class: 'privileged', reason: 'it hot-unplugs a device from the guest' },
  { command: 'blockdev-del', class: 'privileged', reason: 'it removes a block device' },
  { command: 'snapshot-save', class: 'privileged', reason: "it pauses the VM and writes its memory and disk state into the VM's qcow2 disks" },
  { command: 'snapshot-load', class: 'privileged', reason: "it replaces the running guest's memory and disks with a snapshot's, losing the current state" },
  { command: 'snapshot-delete', class: 'privileged', reason: 'it deletes a snapshot from the VM disks' },
  { command: 'set_link', class: 'privileged', reason: "it changes a NIC's link state" },
];
