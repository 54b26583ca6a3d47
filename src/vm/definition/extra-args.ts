/**
 * The guard on `extraArgs` and on emulated `devices`: QEMU options Vigil owns (its monitors, sockets, paths,
 * machine, memory, disks, NICs, passthrough) and options that reach outside the VM (host files, host devices,
 * host commands, code loaded into QEMU) are refused, each with the definition field to use instead.
 *
 * The check walks the argument list the way QEMU does: it knows which of QEMU 7.2's options take an argument, so
 * an option cannot be smuggled in as the argument of another, and it refuses options it does not know rather than
 * guess. Arguments of the options it allows are parsed with QEMU's own rules (`,,` escapes, implied keys, the JSON
 * form of -device and -object) and checked for keys that name host files or descriptors.
 */
import { HOST_DEVICE_DRIVERS, HOST_KEY, VIGIL_CHARDEV_IDS } from '../../qmp/host-access.js';
import { parseOptionArgument, type KeyvalEntry } from '../argv/keyval.js';

/** A refused argument: `index` is its position in the extraArgs list. */
export interface ExtraArgProblem {
  index: number;
  message: string;
}

/** A refused part of an emulated device: `path` is relative to the device (`['props', 'romfile']`). */
export interface DeviceProblem {
  path: (string | number)[];
  message: string;
}

/** The chardev ids on Vigil's own command line (kept in src/qmp/host-access.ts, shared with the QMP guard). */
export { VIGIL_CHARDEV_IDS };

type Check = (entries: KeyvalEntry[], arg: string) => string | undefined;

type Rule =
  | { kind: 'allow'; arg: boolean }
  | { kind: 'owned'; arg: boolean; use: string }
  | { kind: 'refused'; arg: boolean; why: string }
  | { kind: 'check'; implied?: string; json?: boolean; check: Check };

const allow = (arg: boolean): Rule => ({ kind: 'allow', arg });
const owned = (arg: boolean, use: string): Rule => ({ kind: 'owned', arg, use });
const refused = (arg: boolean, why: string): Rule => ({ kind: 'refused', arg, why });
const checked = (check: Check, implied?: string, json = false): Rule => (implied === undefined ? { kind: 'check', json, check } : { kind: 'check', implied, json, check });

/** A problem and the key that caused it (absent when the option as a whole is the problem). */
interface Found {
  key?: string;
  message: string;
}

/** The first key that reaches host files or descriptors; `romfile=` (empty: no option ROM) is the one safe use. */
function hostKeyFound(entries: readonly KeyvalEntry[]): Found | undefined {
  for (const { key, value } of entries) {
    const last = key.split('.').pop() ?? key;
    if (last === 'romfile' && value !== '') return { key, message: `"romfile=${value}" loads a host file into the guest (only "romfile=" with no file is allowed)` };
    if (HOST_KEY.test(last)) return { key, message: `"${key}=" names a host file, device or descriptor, which only Vigil's own fields may do` };
  }
  return undefined;
}

function hostKeyProblem(entries: readonly KeyvalEntry[]): string | undefined {
  return hostKeyFound(entries)?.message;
}

/** Every value given for `key`: QemuOpts keeps duplicates and reads the last, so each one is checked. */
function valuesOf(entries: readonly KeyvalEntry[], key: string): string[] {
  return entries.filter((e) => e.key === key).map((e) => e.value);
}

function helpProblem(entries: readonly KeyvalEntry[]): string | undefined {
  return entries.some((e) => e.key === 'help' || e.key === '?' || (e.implied === true && (e.value === 'help' || e.value === '?')))
    ? 'asks QEMU for help text: QEMU would print it and exit instead of starting the VM'
    : undefined;
}

/** Host passthrough and outside-backend drivers (shared with the QMP guard's device_add rules). */
const DEVICE_RULES: readonly (readonly [RegExp, string])[] = HOST_DEVICE_DRIVERS.map((d) => [d.pattern, d.use] as const);

/** The problem with one emulated device (`-device` in extraArgs, or an entry of `devices`), if any. */
function deviceFound(driver: string, entries: readonly KeyvalEntry[]): Found | undefined {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(driver)) return { message: `"${driver}" is not a device driver name (letters, digits, "_", "." or "-")` };
  for (const [pattern, why] of DEVICE_RULES) if (pattern.test(driver)) return { message: `device "${driver}" is refused: ${why}` };
  if (entries.some((e) => e.key === 'drive')) return { key: 'drive', message: `device "${driver}" uses a block backend: disks belong in the "disks" field` };
  if (entries.some((e) => e.key === 'netdev')) return { key: 'netdev', message: `device "${driver}" uses a network backend: NICs belong in the "nics" field` };
  const help = helpProblem(entries);
  return help === undefined ? hostKeyFound(entries) : { message: help };
}

const checkDevice: Check = (entries) => {
  const drivers = valuesOf(entries, 'driver');
  if (drivers.length === 0) return '-device needs a driver (write -device DRIVER,prop=value)';
  for (const driver of drivers) {
    const found = deviceFound(driver, entries);
    if (found !== undefined) return found.message;
  }
  return undefined;
};

/** Object types that touch no host file, socket or device (reviewed for QEMU 7.2); everything else is refused. */
const SAFE_OBJECTS = new Set([
  'iothread',
  'throttle-group',
  'memory-backend-ram',
  'memory-backend-memfd',
  'rng-builtin',
  'rng-random',
  'cryptodev-backend-builtin',
  'main-loop',
  'thread-context',
  'secret',
  'authz-simple',
  'authz-list',
  'can-bus',
  'filter-buffer',
]);

const checkObject: Check = (entries) => {
  const types = valuesOf(entries, 'qom-type');
  if (types.length === 0) return '-object needs a type (write -object TYPE,id=...,prop=value)';
  const type = types.find((t) => !SAFE_OBJECTS.has(t)) ?? types[types.length - 1]!;
  if (!SAFE_OBJECTS.has(type)) {
    if (type === 'memory-backend-file') return 'object "memory-backend-file" maps a host file: guest RAM for introspection is the "introspection" field';
    return `object type "${type}" is refused: it reaches host files, sockets or devices, or Vigil has not reviewed it (allowed: ${[...SAFE_OBJECTS].join(', ')})`;
  }
  if (type === 'rng-random') {
    for (const source of valuesOf(entries, 'filename')) {
      if (source !== '/dev/urandom' && source !== '/dev/random') return `rng-random may read only /dev/urandom or /dev/random, not ${source}`;
    }
    return helpProblem(entries) ?? hostKeyProblem(entries.filter((e) => e.key !== 'filename'));
  }
  return helpProblem(entries) ?? hostKeyProblem(entries);
};

const SAFE_CHARDEVS = new Set(['null', 'ringbuf', 'memory', 'pty', 'msmouse', 'wctablet', 'testdev', 'braille', 'vc', 'qemu-vdagent']);

const checkChardev: Check = (entries) => {
  const id = valuesOf(entries, 'id').find((v) => VIGIL_CHARDEV_IDS.includes(v));
  if (id !== undefined) return `chardev id "${id}" is Vigil's own (QMP monitors, serial console, gdbstub); pick another id`;
  const backends = valuesOf(entries, 'backend');
  const backend = backends.find((b) => !SAFE_CHARDEVS.has(b)) ?? (backends.length === 0 ? '' : undefined);
  if (backend !== undefined) {
    return `chardev backend "${backend}" is refused: it opens a host file, socket or device (the console is the "serial" field; allowed backends: ${[...SAFE_CHARDEVS].join(', ')})`;
  }
  return helpProblem(entries) ?? hostKeyProblem(entries);
};

const checkGlobal: Check = (entries, arg) => {
  // Short form driver.property=value, read by QEMU with sscanf("%63[^.=].%63[^=]%n") before any keyval parsing.
  const short = /^([^.=]{1,63})\.([^=]{1,63})=(.*)$/s.exec(arg);
  const drivers = short === null ? valuesOf(entries, 'driver') : [short[1]!];
  // Defaults for the passthrough drivers would change the devices Vigil itself adds for usb, pci and vsock.
  const passthrough = drivers.find((d) => DEVICE_RULES.some(([pattern]) => pattern.test(d)));
  if (passthrough !== undefined) return `-global on "${passthrough}" would change the devices Vigil passes through; set them in their own fields`;
  if (short !== null) {
    const problem = hostKeyProblem([{ key: short[2]!, value: short[3]! }]);
    return problem === undefined ? undefined : `-global ${short[1]!}.${short[2]!}: ${problem}`;
  }
  const values = valuesOf(entries, 'value');
  for (const property of valuesOf(entries, 'property')) {
    const problem = hostKeyProblem(values.length === 0 ? [{ key: property, value: '' }] : values.map((value) => ({ key: property, value })));
    if (problem !== undefined) return `-global ${property}: ${problem}`;
  }
  return undefined;
};

const checkAction: Check = (entries) => {
  for (const { key } of entries) {
    if (key === 'reboot' || key === 'shutdown') return `-action ${key}= is the supervisor's: what a guest reboot or poweroff does follows "autostart.restart"`;
  }
  return helpProblem(entries);
};

const checkAudio: Check = (entries) => {
  for (const driver of valuesOf(entries, 'driver')) {
    if (driver === 'wav') return 'audio driver "wav" writes a host file';
    if (driver === 'dbus' || driver === 'spice') return `audio driver "${driver}" needs a display Vigil does not give VMs`;
  }
  return helpProblem(entries) ?? hostKeyProblem(entries);
};

const checkKeymap: Check = (_entries, arg) =>
  /^[A-Za-z][A-Za-z0-9_-]*$/.test(arg) ? undefined : 'a keyboard layout is a name such as en-us or de (QEMU would read it as a path under its data directory)';

const checkKeys: Check = (entries) => helpProblem(entries) ?? hostKeyProblem(entries);

const checkTrace: Check = (entries) => {
  // events= reads a list of trace events from a file; file= writes the trace to one.
  if (entries.some((e) => e.key === 'events')) return '"events=" reads a host file; list the patterns with enable= instead';
  return checkKeys(entries, '');
};

const DISKS = 'disks belong in the "disks" field (file or device, format, bus, cache, readonly)';
const SUPERVISOR = "Vigil's supervisor runs QEMU and sets this itself";
const RESTART = 'what a guest reboot or poweroff does follows "autostart.restart"';
const PRINTS = 'QEMU prints text and exits instead of starting the VM';
const HOST_FILE = 'it reads a host file into the guest';

/**
 * Every option of qemu-system-x86_64 7.2 (from `-help`, probed for whether each takes an argument), with what
 * the guard does with it. Options missing here are refused: QEMU may treat them differently from a guess.
 */
const OPTIONS: Readonly<Record<string, Rule>> = {
  // Vigil's own plumbing.
  qmp: owned(true, 'Vigil gives every VM its QMP sockets (qmp.sock, monitor.sock); use `vigil qmp` or the API'),
  'qmp-pretty': owned(true, 'Vigil gives every VM its QMP sockets (qmp.sock, monitor.sock); use `vigil qmp` or the API'),
  monitor: owned(true, 'Vigil gives every VM its QMP sockets (qmp.sock, monitor.sock); use `vigil qmp` or the API'),
  mon: owned(true, 'Vigil gives every VM its QMP sockets (qmp.sock, monitor.sock); use `vigil qmp` or the API'),
  serial: owned(true, 'the console is serial.sock, logged as set by the "serial" field'),
  gdb: owned(true, 'set "introspection: true" for a gdbstub on gdb.sock'),
  s: owned(false, 'set "introspection: true" for a gdbstub on gdb.sock'),
  S: owned(false, 'Vigil starts every VM paused and resumes it after its own setup'),
  preconfig: owned(false, 'Vigil starts every VM paused (-S) and resumes it over QMP'),
  daemonize: owned(false, SUPERVISOR),
  pidfile: owned(true, SUPERVISOR),
  runas: owned(true, SUPERVISOR),
  chroot: owned(true, SUPERVISOR),
  sandbox: owned(true, SUPERVISOR),
  name: owned(true, 'the VM\'s name is the "name" field'),
  nodefaults: owned(false, 'Vigil always sets it, so a VM has exactly the devices its definition lists'),
  'no-user-config': owned(false, 'Vigil always sets it, so no host config file adds devices behind the definition'),
  'no-reboot': owned(false, RESTART),
  'no-shutdown': owned(false, RESTART),
  action: checked(checkAction),
  // The machine.
  machine: owned(true, 'use the "machine" field'),
  M: owned(true, 'use the "machine" field'),
  accel: owned(true, 'use the "accel" field (kvm, tcg or auto)'),
  'enable-kvm': owned(false, 'use "accel: kvm"'),
  m: owned(true, 'use the "memory" field'),
  smp: owned(true, 'use the "cpus" field'),
  cpu: owned(true, 'use the "cpu" field'),
  'mem-path': owned(true, 'file-backed guest RAM is "introspection: true" (in the runtime directory)'),
  kernel: owned(true, 'use "boot.kernel"'),
  initrd: owned(true, 'use "boot.initrd"'),
  append: owned(true, 'use "boot.cmdline"'),
  dtb: owned(true, 'use "boot" (x86 guests need no device tree)'),
  bios: owned(true, 'use the "firmware" field (bios or uefi with code and vars)'),
  pflash: owned(true, 'use "firmware: { type: uefi, code, vars }"'),
  L: owned(true, 'use the "firmware" field; a firmware search path would load host files as ROMs'),
  // Storage, network, passthrough, display.
  drive: owned(true, DISKS),
  blockdev: owned(true, DISKS),
  hda: owned(true, DISKS),
  hdb: owned(true, DISKS),
  hdc: owned(true, DISKS),
  hdd: owned(true, DISKS),
  fda: owned(true, DISKS),
  fdb: owned(true, DISKS),
  cdrom: owned(true, 'attach the ISO through "disks" (format: raw, readonly: true)'),
  mtdblock: owned(true, DISKS),
  sd: owned(true, DISKS),
  snapshot: owned(false, `${DISKS}; -snapshot would silently discard every disk's writes`),
  netdev: owned(true, 'NICs belong in the "nics" field (user, tap, bridge, macvtap, vf)'),
  net: owned(true, 'NICs belong in the "nics" field (user, tap, bridge, macvtap, vf)'),
  nic: owned(true, 'NICs belong in the "nics" field (user, tap, bridge, macvtap, vf)'),
  usbdevice: owned(true, 'host USB devices belong in "usb"; emulated ones in "devices" (e.g. driver: usb-tablet)'),
  display: owned(true, 'use the "display" field (none or vnc on a socket in the runtime directory)'),
  vnc: owned(true, 'use "display: vnc" (a VNC socket in the runtime directory, never a TCP port)'),
  spice: owned(true, 'use the "display" field'),
  nographic: owned(false, 'use the "display" field; -nographic would also move the console and monitor to stdio'),
  // Dangerous: code loaded into QEMU, host files, host commands, options this check cannot see.
  plugin: refused(true, 'it loads a shared library into QEMU: arbitrary code in the VM process'),
  'add-fd': refused(true, 'it hands QEMU file descriptors Vigil did not open'),
  incoming: refused(true, 'migration input: "exec:" runs a host command and the others listen on the host'),
  readconfig: refused(true, 'it reads more options from a file this check never sees'),
  writeconfig: refused(true, 'it writes a host file'),
  set: refused(true, "it rewrites options already given, Vigil's own included"),
  D: refused(true, "it writes QEMU's log to a host file (QEMU's stderr already reaches Vigil's log)"),
  'dump-vmstate': refused(true, 'it writes a host file and exits'),
  qtest: refused(true, "the qtest protocol reads and writes guest memory and I/O from outside Vigil's guard"),
  'qtest-log': refused(true, 'it writes a host file'),
  'option-rom': refused(true, HOST_FILE),
  acpitable: refused(true, HOST_FILE),
  virtfs: refused(true, 'it exposes a host directory to the guest'),
  fsdev: refused(true, 'it exposes a host directory to the guest'),
  tpmdev: refused(true, "it passes the host's TPM, or an outside emulator's socket, to the guest"),
  parallel: refused(true, 'it connects a host device or file; Vigil has no field for a parallel port'),
  debugcon: refused(true, 'it connects a host file or device; a chardev-backed isa-debugcon in "devices" can use a ringbuf'),
  semihosting: refused(false, 'it gives the guest access to host files'),
  'semihosting-config': refused(true, 'it gives the guest access to host files'),
  h: refused(false, PRINTS),
  help: refused(false, PRINTS),
  version: refused(false, PRINTS),
  'audio-help': refused(false, PRINTS),
  // Allowed, with their arguments checked.
  device: checked(checkDevice, 'driver', true),
  object: checked(checkObject, 'qom-type', true),
  chardev: checked(checkChardev, 'backend'),
  global: checked(checkGlobal),
  audiodev: checked(checkAudio, 'driver', true),
  audio: checked(checkAudio, 'driver'),
  trace: checked(checkTrace, 'enable'),
  smbios: checked(checkKeys),
  fw_cfg: checked(checkKeys, 'name'),
  boot: checked(checkKeys, 'order'),
  icount: checked(checkKeys, 'shift'),
  numa: checked(checkKeys, 'type'),
  rtc: checked(checkKeys),
  overcommit: checked(checkKeys),
  msg: checked(checkKeys),
  compat: checked(checkKeys),
  // Allowed as they are: guest-visible settings that touch nothing outside the VM.
  d: allow(true),
  dfilter: allow(true),
  echr: allow(true),
  g: allow(true),
  iscsi: allow(true),
  k: checked(checkKeymap),
  loadvm: allow(true),
  'prom-env': allow(true),
  rotate: allow(true),
  seed: allow(true),
  uuid: allow(true),
  vga: allow(true),
  'watchdog-action': allow(true),
  'async-teardown': allow(false),
  'enable-sync-profile': allow(false),
  'full-screen': allow(false),
  'mem-prealloc': allow(false),
  'no-acpi': allow(false),
  'no-fd-bootchk': allow(false),
  'no-hpet': allow(false),
  'only-migratable': allow(false),
  portrait: allow(false),
  singlestep: allow(false),
  usb: allow(false),
  'win2k-hack': allow(false),
};

function takesArgument(rule: Rule): boolean {
  return rule.kind === 'check' ? true : rule.arg;
}

/** Checks an extraArgs list; returns one problem per refused argument (empty when all is well). */
export function checkExtraArgs(args: readonly string[]): ExtraArgProblem[] {
  const problems: ExtraArgProblem[] = [];
  for (let i = 0; i < args.length; i++) {
    const token = args[i]!;
    // QEMU reads any argument not starting with "-" (and a lone "-") as a disk image for -hda.
    if (!token.startsWith('-') || token === '-') {
      problems.push({ index: i, message: `"${token}" is not an option: QEMU would open it as a disk image; ${DISKS}` });
      continue;
    }
    // QEMU accepts --option as -option.
    const name = token.startsWith('--') ? token.slice(2) : token.slice(1);
    const rule = Object.hasOwn(OPTIONS, name) ? OPTIONS[name] : undefined;
    if (rule === undefined) {
      problems.push({ index: i, message: `"${token}" is not a QEMU 7.2 option Vigil knows, so it cannot be checked; remove it or use a definition field` });
      // Without knowing whether it takes an argument the rest cannot be read reliably; its problem is enough.
      break;
    }
    const hasArg = takesArgument(rule);
    if (hasArg && i + 1 >= args.length) {
      problems.push({ index: i, message: `"${token}" needs an argument` });
      break;
    }
    const argIndex = i + 1;
    if (hasArg) i += 1;
    if (rule.kind === 'owned') problems.push({ index: argIndex - 1, message: `"${token}" is set by Vigil: ${rule.use}` });
    else if (rule.kind === 'refused') problems.push({ index: argIndex - 1, message: `"${token}" is refused: ${rule.why}` });
    else if (rule.kind === 'check') {
      const arg = args[argIndex]!;
      let message: string | undefined;
      try {
        message = rule.check(parseOptionArgument(arg, rule.implied, rule.json === true), arg);
      } catch (err) {
        message = `cannot read the JSON form: ${err instanceof Error ? err.message : String(err)}`;
      }
      if (message !== undefined) problems.push({ index: argIndex, message: `${token} ${arg}: ${message}` });
    }
  }
  return problems;
}

/** Checks one entry of the `devices` field the way `-device` in extraArgs is checked. */
export function checkDeviceSpec(driver: string, props: Readonly<Record<string, string | number | boolean>>): DeviceProblem[] {
  const problems: DeviceProblem[] = [];
  for (const key of Object.keys(props)) {
    if (key === 'id' || key === 'driver') problems.push({ path: ['props', key], message: `write "${key}" as the device's own field, not as a prop` });
    else if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) problems.push({ path: ['props', key], message: `"${key}" is not a property name (letters, digits, "_", "." or "-")` });
  }
  const entries = Object.entries(props).map(([key, value]) => ({ key, value: typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value) }));
  const found = deviceFound(driver, entries);
  if (found !== undefined) problems.push({ path: found.key === undefined ? ['driver'] : ['props', found.key], message: found.message });
  return problems;
}
