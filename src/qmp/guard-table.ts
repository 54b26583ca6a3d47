/**
 * The QMP guard's classification table, as data. Rules are tried in order and the first whose command matches
 * and whose condition holds decides; a command no rule names is `safe` if this QEMU's schema lists it.
 * Operators prepend their own rules in config.yaml (`qmp.rules`), so any verdict can be tightened or relaxed.
 */

/** Risk classes, after MAQET's model (seed 004). */
export type QmpClass = 'dangerous' | 'memory-dump' | 'privileged' | 'safe';

/** All classes, in order of severity. */
export const QMP_CLASSES: readonly QmpClass[] = ['dangerous', 'memory-dump', 'privileged', 'safe'];

/** A condition on a command's arguments. */
export type RuleCondition =
  /** A string argument (dotted path) starts with one of the prefixes. */
  | { kind: 'arg-prefix'; arg: string; prefixes: string[] }
  /** A string argument (dotted path) equals one of the values. */
  | { kind: 'arg-in'; arg: string; values: string[] }
  /**
   * A host path outside the VM's runtime directory appears under one of `keys`, searched at any depth;
   * `strip` removes a scheme prefix first (dump-guest-memory's `file:`), values without it are not paths.
   */
  | { kind: 'host-path-outside'; keys: string[]; strip?: string | undefined };

/** One row of the table. */
export interface GuardRule {
  command: string;
  class: QmpClass;
  /** Why, in words a user understands; shown in refusals and by `vigil qmp classify`. */
  reason: string;
  when?: RuleCondition | undefined;
}

const OUTSIDE = 'it names a host path outside the VM runtime directory';

/** Vigil's default table. */
export const DEFAULT_GUARD_RULES: readonly GuardRule[] = [
  { command: 'human-monitor-command', class: 'dangerous', reason: 'it runs arbitrary HMP monitor commands, bypassing every protection' },
  { command: 'inject-nmi', class: 'dangerous', reason: 'a non-maskable interrupt can crash the guest operating system' },
  {
    command: 'migrate',
    class: 'dangerous',
    reason: 'an exec: migration URI runs a shell command on the host',
    when: { kind: 'arg-prefix', arg: 'uri', prefixes: ['exec:'] },
  },
  { command: 'migrate', class: 'privileged', reason: 'migration moves the VM state off this host and stops the VM' },
  {
    command: 'device_add',
    class: 'dangerous',
    reason: 'it passes a host device into the guest; only the kill switch may re-attach host devices',
    when: { kind: 'arg-in', arg: 'driver', values: ['usb-host', 'vfio-pci'] },
  },
  { command: 'screendump', class: 'dangerous', reason: `${OUTSIDE} (QEMU would write that file)`, when: { kind: 'host-path-outside', keys: ['filename'] } },
  { command: 'pmemsave', class: 'dangerous', reason: `${OUTSIDE} (QEMU would write guest memory there)`, when: { kind: 'host-path-outside', keys: ['filename'] } },
  { command: 'memsave', class: 'dangerous', reason: `${OUTSIDE} (QEMU would write guest memory there)`, when: { kind: 'host-path-outside', keys: ['filename'] } },
  {
    command: 'dump-guest-memory',
    class: 'dangerous',
    reason: `${OUTSIDE} (QEMU would write guest memory there)`,
    when: { kind: 'host-path-outside', keys: ['protocol'], strip: 'file:' },
  },
  {
    command: 'blockdev-add',
    class: 'dangerous',
    reason: `${OUTSIDE} (a host file or block device would be opened for the guest)`,
    when: { kind: 'host-path-outside', keys: ['filename', 'path', 'dir'] },
  },
  {
    command: 'chardev-add',
    class: 'dangerous',
    reason: `${OUTSIDE} (QEMU would create, read or write that file or socket)`,
    when: { kind: 'host-path-outside', keys: ['path', 'out', 'in', 'logfile'] },
  },
  {
    command: 'object-add',
    class: 'dangerous',
    reason: `${OUTSIDE} (QEMU would open that file for the object)`,
    when: { kind: 'host-path-outside', keys: ['mem-path', 'filename', 'file', 'dir'] },
  },
  { command: 'pmemsave', class: 'memory-dump', reason: 'it copies guest physical memory, which may hold secrets' },
  { command: 'memsave', class: 'memory-dump', reason: 'it copies guest virtual memory, which may hold secrets' },
  { command: 'dump-guest-memory', class: 'memory-dump', reason: 'it dumps all guest memory, which may hold secrets' },
  { command: 'system_powerdown', class: 'privileged', reason: 'it asks the guest to power off' },
  { command: 'system_reset', class: 'privileged', reason: 'it resets the VM at once, losing unsaved guest state' },
  { command: 'quit', class: 'privileged', reason: 'it terminates QEMU and the VM with it' },
  { command: 'stop', class: 'privileged', reason: 'it pauses every vCPU' },
  { command: 'cont', class: 'privileged', reason: 'it resumes a paused VM' },
  { command: 'device_del', class: 'privileged', reason: 'it hot-unplugs a device from the guest' },
  { command: 'blockdev-del', class: 'privileged', reason: 'it removes a block device' },
  { command: 'set_link', class: 'privileged', reason: "it changes a NIC's link state" },
];
