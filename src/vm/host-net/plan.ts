/**
 * Host network setup that QEMU's command line cannot express: a NIC's VLAN (as the VLAN of its bridge port, or
 * on the PF for an SR-IOV VF, or checked on a macvtap's lower device) and a VF's MAC. Everything that can be
 * checked is checked before QEMU starts, so a host that cannot do it refuses the start with the fix instead of
 * running a VM on the wrong network; the commands themselves run while QEMU is still paused (-S), before the
 * guest sees a single packet.
 */
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, join } from 'node:path';
import { VigilError } from '../../core/errors.js';
import { fullPciAddress } from '../argv/nics.js';
import { withDefaultIds } from '../argv/ids.js';
import type { VmDefinition } from '../definition/schema.js';
import { vigilTapName } from './tap-name.js';

/** One command to run on the host (`ip` or `bridge`), with what it is for. */
export interface HostNetStep {
  nic: string;
  argv: string[];
  why: string;
  /** Runs only with the MAC this boot resolved (a VF's `mac` argument is filled in then). */
  needsMac?: boolean;
  /** Instead of `argv`: remove every VLAN of bridge port `dev` but `keep` (what an earlier boot or the host left). */
  pruneVlans?: { dev: string; keep: number };
}

/** Where host facts are read (tests point these at fixture trees). */
export interface HostNetRoots {
  /** The root under which `sys/` is read (default `/`). */
  sysRoot?: string;
  /** The root under which `proc/` is read (default `/`). */
  procRoot?: string;
}

function fail(nic: string, message: string, fix: string): never {
  throw new VigilError('VIGIL_HOST_NET', `NIC ${nic}: ${message}; ${fix}`, { context: { nic, fix } });
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The bridge must filter VLANs; Vigil does not switch that on by itself (it changes every port of the bridge). */
function checkBridge(sys: string, nic: string, bridge: string): void {
  const dir = join(sys, 'class/net', bridge);
  if (read(join(dir, 'ifindex')) === undefined) fail(nic, `bridge '${bridge}' does not exist on this host`, `create it (ip link add ${bridge} type bridge vlan_filtering 1) or correct "bridge"`);
  if (read(join(dir, 'bridge/bridge_id')) === undefined) fail(nic, `'${bridge}' is not a bridge`, 'name a Linux bridge in "bridge"');
  const filtering = read(join(dir, 'bridge/vlan_filtering'));
  if (filtering === undefined) {
    fail(nic, `this host's kernel has no bridge VLAN filtering (no ${join(dir, 'bridge/vlan_filtering')})`, 'use a kernel built with CONFIG_BRIDGE_VLAN_FILTERING, or remove "vlan" from this NIC');
  }
  if (filtering !== '1') fail(nic, `bridge '${bridge}' does not filter VLANs`, `turn it on: ip link set ${bridge} type bridge vlan_filtering 1`);
}

function portVlanSteps(sys: string, nic: string, port: string, bridge: string, vlan: number): HostNetStep[] {
  // The bridge's default PVID (1 unless changed) is what a new port gets; it must go, or the port is in two VLANs.
  const defaultPvid = Number(read(join(sys, 'class/net', bridge, 'bridge/default_pvid')) ?? '1');
  const steps: HostNetStep[] = [];
  if (defaultPvid !== 0 && defaultPvid !== vlan) steps.push({ nic, argv: ['bridge', 'vlan', 'del', 'dev', port, 'vid', String(defaultPvid)], why: `leave the bridge's default VLAN ${defaultPvid}` });
  steps.push({ nic, argv: ['bridge', 'vlan', 'add', 'dev', port, 'vid', String(vlan), 'pvid', 'untagged'], why: `guest traffic untagged inside, VLAN ${vlan} on the bridge` });
  return steps;
}

/** The PF's network interface and the VF's index on it, from sysfs (`physfn`, `virtfnN`). */
export function vfOnPf(sys: string, address: string): { pf: string; pfDev: string; index: number } {
  const vfDir = join(sys, 'bus/pci/devices', address);
  let pfDir: string;
  try {
    pfDir = realpathSync(join(vfDir, 'physfn'));
  } catch {
    throw new VigilError('VIGIL_HOST_NET', `PCI device ${address} is not an SR-IOV VF (no physfn link in sysfs); name a VF in "address", or enable VFs on the PF (echo N > /sys/bus/pci/devices/<pf>/sriov_numvfs)`, { context: { address } });
  }
  const vfReal = realpathSync(vfDir);
  const entries = readdirSync(pfDir);
  const link = entries.find((e) => /^virtfn\d+$/.test(e) && realpathSync(join(pfDir, e)) === vfReal);
  const dev = (() => {
    try {
      return readdirSync(join(pfDir, 'net'))[0];
    } catch {
      return undefined;
    }
  })();
  if (link === undefined || dev === undefined) {
    throw new VigilError('VIGIL_HOST_NET', `cannot find the network interface of VF ${address}'s PF ${basename(pfDir)} (is its driver bound?)`, { context: { address, pf: basename(pfDir) } });
  }
  return { pf: basename(pfDir), pfDev: dev, index: Number(link.slice('virtfn'.length)) };
}

function lowerDevice(sys: string, ifname: string): string | undefined {
  try {
    const lower = readdirSync(join(sys, 'class/net', ifname)).find((e) => e.startsWith('lower_'));
    return lower?.slice('lower_'.length);
  } catch {
    return undefined;
  }
}

/** A VLAN interface's id, from /proc/net/vlan/<dev> (`... VID: 10 ...`). */
function vlanIdOf(proc: string, dev: string): number | undefined {
  const text = read(join(proc, 'net/vlan', dev));
  const m = text?.match(/VID:\s*(\d+)/);
  return m ? Number(m[1]) : undefined;
}

/** Checks the host and returns the commands to run once QEMU has started paused; throws VIGIL_HOST_NET with the fix. */
export function planHostNet(def: VmDefinition, roots: HostNetRoots = {}): HostNetStep[] {
  const sys = join(roots.sysRoot ?? '/', 'sys');
  const proc = join(roots.procRoot ?? '/', 'proc');
  const steps: HostNetStep[] = [];
  for (const nic of withDefaultIds(def).nics) {
    switch (nic.type) {
      case 'bridge': {
        if (nic.vlan === undefined || !nic.bridge) break;
        checkBridge(sys, nic.id, nic.bridge);
        // QEMU creates the tap under this name (see the argv builder); Vigil puts it on the bridge.
        const tap = vigilTapName(def.name, nic.id);
        steps.push({ nic: nic.id, argv: ['ip', 'link', 'set', 'dev', tap, 'master', nic.bridge], why: `put the VM's tap on bridge ${nic.bridge}` });
        steps.push(...portVlanSteps(sys, nic.id, tap, nic.bridge, nic.vlan));
        steps.push({ nic: nic.id, argv: ['ip', 'link', 'set', 'dev', tap, 'up'], why: 'bring the tap up once it is in its VLAN' });
        break;
      }
      case 'tap': {
        if (nic.vlan === undefined || !nic.ifname) break;
        let master: string;
        try {
          master = basename(readlinkSync(join(sys, 'class/net', nic.ifname, 'master')));
        } catch {
          fail(nic.id, `tap '${nic.ifname}' is not a port of a bridge (or does not exist yet), so there is no port to tag`, `create it and add it to a VLAN-filtering bridge first (ip tuntap add dev ${nic.ifname} mode tap; ip link set ${nic.ifname} master br0), or use a bridge NIC`);
        }
        checkBridge(sys, nic.id, master);
        // A persistent tap keeps the VLANs of earlier boots: drop them all, then add this one.
        steps.push({ nic: nic.id, argv: ['bridge', 'vlan', 'show', 'dev', nic.ifname], why: `remove the other VLANs of ${nic.ifname}`, pruneVlans: { dev: nic.ifname, keep: nic.vlan } });
        steps.push(...portVlanSteps(sys, nic.id, nic.ifname, master, nic.vlan));
        break;
      }
      case 'macvtap': {
        if (nic.vlan === undefined || !nic.macvtap) break;
        // A macvtap's VLAN is its lower device's: Vigil checks rather than rebuilds a device the host owns.
        const lower = lowerDevice(sys, nic.macvtap);
        const vid = lower === undefined ? undefined : vlanIdOf(proc, lower);
        if (vid !== nic.vlan) {
          fail(
            nic.id,
            `macvtap '${nic.macvtap}' is ${lower === undefined ? 'not found or has no lower device' : vid === undefined ? `on '${lower}', which is not a VLAN interface` : `on VLAN ${vid}`}, not VLAN ${nic.vlan}`,
            `create it on a VLAN interface: ip link add link eth0 name eth0.${nic.vlan} type vlan id ${nic.vlan}; ip link add link eth0.${nic.vlan} name ${nic.macvtap} type macvtap mode bridge`,
          );
        }
        break;
      }
      case 'vf': {
        if (!nic.address) break;
        const { pfDev, index } = vfOnPf(sys, fullPciAddress(nic.address));
        // The VF's MAC and VLAN live on the PF; the guest's driver reads them when it probes, after `cont`.
        // Without `vlan`, the VF's VLAN is left as the host set it.
        const vlan = nic.vlan === undefined ? [] : ['vlan', String(nic.vlan)];
        steps.push({ nic: nic.id, argv: ['ip', 'link', 'set', 'dev', pfDev, 'vf', String(index), 'mac', '', ...vlan], why: `set VF ${index}'s MAC${nic.vlan ? ` and VLAN ${nic.vlan}` : ''} on ${pfDev}`, needsMac: true });
        break;
      }
      case 'user':
        break;
    }
  }
  return steps;
}
