/**
 * The guest's /init: a busybox shell script run as PID 1. Tests pass their own `body` to start the processes
 * they want to observe; the ready line tells the host the body has run.
 */

/** The line the default init prints on the console once the guest is up and the test body has run. */
export const GUEST_READY_LINE = 'VIGIL-GUEST-READY';

/** A /init script that sets up /proc, /sys and /dev, runs `body`, prints the ready line and keeps the guest up. */
export function defaultInitScript(body = ''): string {
  return `#!/bin/sh
# Vigil test guest init (PID 1). If this script ends the kernel panics and QEMU (-no-reboot) exits.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root TERM=linux
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# busybox background jobs redirect stdin from /dev/null; without it they fail at random.
[ -c /dev/null ] || mknod -m 666 /dev/null c 1 3
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
# The kernel may have had no /dev/console to give PID 1 before devtmpfs was mounted.
exec </dev/console >/dev/console 2>&1
hostname vigil-guest
ip link set lo up
# --- test body ---
${body}
# --- end of test body ---
echo ${GUEST_READY_LINE} >/dev/console
# A shell on the serial console lets a test type commands through the serial socket; respawned if it exits.
while :; do setsid cttyhack sh; sleep 1; done
`;
}
