/**
 * NICs: a -netdev backend and a guest -device for emulated NICs; a VF is a whole PCI function passed through with
 * vfio-pci and has no backend. The netdev id is `hostnet-<id>`, the device keeps the NIC's id (set_link and
 * device_del use it). Link state and VLANs are not command-line matters: see postStartActions and vm/host-net.
 */
import { VigilError } from '../../core/errors.js';
import type { NicSpec } from '../definition/schema.js';
import { vigilTapName } from '../host-net/tap-name.js';
import { netdevId } from './ids.js';
import { keyval, type KeyvalPart } from './keyval.js';
import type { ArgvContext } from './context.js';

const MODELS = { virtio: 'virtio-net-pci', e1000e: 'e1000e', rtl8139: 'rtl8139' } as const satisfies Record<NicSpec['model'], string>;

/** A PCI address with its domain (`01:00.0` -> `0000:01:00.0`), as vfio-pci and sysfs write it. */
export function fullPciAddress(address: string): string {
  return (address.length === 7 ? `0000:${address}` : address).toLowerCase();
}

function backend(vmName: string, nic: NicSpec & { id: string }, ctx: ArgvContext): string {
  const id = netdevId(nic.id);
  switch (nic.type) {
    case 'user': {
      const forwards: KeyvalPart[] = nic.forward.map((f) => ['hostfwd', `${f.protocol}:${f.hostAddress}:${f.hostPort}-:${f.guestPort}`]);
      return keyval('user', [['id', id], ...forwards]);
    }
    case 'tap':
      // script=no: QEMU runs no /etc/qemu-ifup as root; the host agent sets the tap up.
      return keyval('tap', [['id', id], ['ifname', nic.ifname], ['script', 'no'], ['downscript', 'no']]);
    case 'bridge':
      // With a VLAN, Vigil must know the port to tag: QEMU creates the tap under a name Vigil chose, and Vigil puts
      // it on the bridge in its VLAN while QEMU is still paused (vm/host-net).
      if (nic.vlan !== undefined) return keyval('tap', [['id', id], ['ifname', vigilTapName(vmName, nic.id)], ['script', 'no'], ['downscript', 'no']]);
      // qemu-bridge-helper creates the tap and adds it to the bridge, if /etc/qemu/bridge.conf allows that bridge.
      return keyval('bridge', [['id', id], ['br', nic.bridge]]);
    case 'macvtap': {
      const fd = ctx.fds?.[nic.id];
      if (fd === undefined) {
        throw new VigilError('VIGIL_INVALID_INPUT', `macvtap NIC ${nic.id} needs an open /dev/tapN: pass its fd number in ctx.fds["${nic.id}"]`, { context: { nic: nic.id } });
      }
      return keyval('tap', [['id', id], ['fd', fd]]);
    }
    case 'vf':
      throw new VigilError('VIGIL_INTERNAL', 'a VF NIC has no netdev');
  }
}

/** The arguments of every NIC. */
export function nicArgs(vmName: string, nics: readonly (NicSpec & { id: string })[], ctx: ArgvContext): string[] {
  const args: string[] = [];
  for (const nic of nics) {
    if (nic.type === 'vf') {
      // The VF's MAC and VLAN are set on the PF while QEMU is paused (vm/host-net); QEMU cannot set them.
      args.push('-device', keyval('vfio-pci', [['id', nic.id], ['host', fullPciAddress(nic.address ?? '')]]));
      continue;
    }
    const mac = ctx.macs[nic.id];
    if (mac === undefined) throw new VigilError('VIGIL_INVALID_INPUT', `no MAC for NIC ${nic.id}: build ctx.macs with resolveMacs(def, random)`, { context: { nic: nic.id } });
    args.push('-netdev', backend(vmName, nic, ctx));
    args.push('-device', keyval(MODELS[nic.model], [['id', nic.id], ['netdev', netdevId(nic.id)], ['mac', mac]]));
  }
  return args;
}
