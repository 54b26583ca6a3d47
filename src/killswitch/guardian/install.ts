/** What `vigil install-service` writes for the kill switch: the guardian's systemd unit and the udev rules. */

/** The guardian's unit file name. */
export const GUARDIAN_UNIT = 'vigil-guardian.service';

/**
 * The systemd unit of the guardian. It is not tied to vigild's unit (no BindsTo/PartOf): it must keep running
 * exactly when vigild does not. It starts before vigild so that it is watching from vigild's first moment, is
 * restarted whatever ends it, and is among the last processes the OOM killer picks.
 */
export function guardianUnit(options: { node: string; main: string; home?: string | undefined }): string {
  const env = options.home ? `Environment=VIGIL_HOME=${options.home}\n` : '';
  return `[Unit]
Description=Vigil kill switch guardian: engages the fail-safe devices if vigild dies
Before=vigild.service

[Service]
Type=simple
ExecStart=${options.node} ${options.main}
${env}Restart=always
RestartSec=1
OOMScoreAdjust=-900

[Install]
WantedBy=multi-user.target
`;
}

/**
 * udev rules for device access by members of `group` (the user QEMU and Vigil run as when not root): VFIO group
 * nodes for PCI passthrough, USB device nodes for usb-host (libusb), input event devices for the hotkey trigger
 * and GPIO chips for the GPIO trigger. Writing a USB device's `authorized` (the hot-plug block) stays with root:
 * the guardian runs as root.
 */
export function udevRules(group: string): string {
  return `# Written by vigil install-service: device access for Vigil (group ${group}).
# Apply with: udevadm control --reload-rules && udevadm trigger
# VFIO group nodes, which QEMU opens for PCI passthrough (vfio-pci).
SUBSYSTEM=="vfio", KERNEL!="vfio", GROUP="${group}", MODE="0660"
KERNEL=="vfio", SUBSYSTEM=="misc", GROUP="${group}", MODE="0660"
# USB device nodes, which QEMU's usb-host opens through libusb.
SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", GROUP="${group}", MODE="0660"
# Input event devices, read by the kill switch's hotkey trigger (evdev).
SUBSYSTEM=="input", KERNEL=="event*", GROUP="${group}", MODE="0640"
# GPIO character devices, read by the kill switch's GPIO trigger.
SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="${group}", MODE="0660"
`;
}
