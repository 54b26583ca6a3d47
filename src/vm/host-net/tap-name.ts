/** The name of a tap device Vigil lets QEMU create for a NIC, so that Vigil can find it again (bridge VLANs). */
import { createHash } from 'node:crypto';

/** `vt` + 12 hex digits of a hash of VM and NIC id: unique per NIC, stable across boots, within IFNAMSIZ (15). */
export function vigilTapName(vmName: string, nicId: string): string {
  return `vt${createHash('sha256').update(`${vmName}\0${nicId}`).digest('hex').slice(0, 12)}`;
}
