/** What the argv builder needs besides the definition: everything that varies per host and per boot. */

/** Per-boot facts the caller resolves; the builder itself reads no files, environment or randomness. */
export interface ArgvContext {
  /** argv[0], e.g. 'qemu-system-x86_64'. */
  qemuBinary: string;
  /** The VM's runtime directory (0700): qmp.sock, monitor.sock, serial.sock, gdb.sock, vnc.sock, qemu.pid, ram. */
  runtimeDir: string;
  /** The VM's persistent directory: serial.log, uefi-vars.fd (the caller copies the template there first). */
  stateDir: string;
  /** Already resolved from 'auto' (see resolveAccel). */
  accel: 'kvm' | 'tcg';
  /** NIC id -> MAC (see resolveMacs). */
  macs: Record<string, string>;
  /** NIC id -> inherited fd number, for macvtap NICs (the caller opens /dev/tapN). */
  fds?: Record<string, number>;
  /** Add -daemonize (the supervisor does; tests may not). */
  daemonize: boolean;
  /**
   * A secret for this boot, handed to the guest (kernel command line `vigil.boot_token=` and fw_cfg
   * `opt/vigil/boot_token`) so it can call POST /vm/boot_complete.
   */
  bootToken?: string;
}
