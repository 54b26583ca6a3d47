/**
 * MAC addresses for NICs. A NIC without a fixed MAC gets a stable one derived from the VM name and NIC id, so the
 * guest keeps its address (and DHCP lease) across boots and hosts; `generate` asks for a fresh one every boot.
 */
import { createHash } from 'node:crypto';
import { VigilError } from '../../core/errors.js';
import type { VmDefinition } from '../definition/schema.js';
import { withDefaultIds } from './ids.js';

/**
 * The first two bytes of every MAC Vigil makes: 0x5a has the locally-administered bit set and the multicast bit
 * clear, and differs from QEMU's and libvirt's 52:54:00, so Vigil's MACs never collide with theirs.
 */
export const MAC_PREFIX = [0x5a, 0x56] as const;

function format(bytes: readonly number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The stable MAC of NIC `nicId` of VM `vmName`: the prefix and 4 bytes of SHA-256 over both names. */
export function stableMac(vmName: string, nicId: string): string {
  const digest = createHash('sha256').update(`vigil-mac\0${vmName}\0${nicId}`).digest();
  return format([...MAC_PREFIX, ...digest.subarray(0, 4)]);
}

/** A fresh MAC from `random` (at least 4 bytes), with the same locally administered prefix. */
export function randomMac(random: () => Buffer): string {
  const bytes = random();
  if (bytes.length < 4) throw new VigilError('VIGIL_INVALID_INPUT', `the random source gave ${bytes.length} bytes; a MAC needs 4`);
  return format([...MAC_PREFIX, ...bytes.subarray(0, 4)]);
}

/** NIC id -> MAC for this boot: fixed MACs as written (lower case), `generate` from `random`, the rest stable. */
export function resolveMacs(def: VmDefinition, random: () => Buffer): Record<string, string> {
  const macs: Record<string, string> = {};
  for (const nic of withDefaultIds(def).nics) {
    macs[nic.id] = nic.mac === undefined ? stableMac(def.name, nic.id) : nic.mac === 'generate' ? randomMac(random) : nic.mac.toLowerCase();
  }
  return macs;
}
