/**
 * The FIM policy: the configured rules, and Vigil's default ones (its config and VM definitions, the QEMU binary,
 * firmware, and each VM's kernel, initrd, disk images and their backing chains). Writable disk images change
 * while a VM runs, so by default only their identity (mode, owner, inode) is compared; base images in a backing
 * chain must never change, so their size and mtime are compared too; contents only with `hashImages`.
 */
import { realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import type { VigilPaths } from '../../core/paths.js';
import { FIM_ATTRIBUTES, type FimAttribute, type FimRule } from '../config.js';
import { compileGlob, type Glob } from './glob.js';
import { backingChain } from './qcow2.js';

/** A rule ready to scan with. */
export interface ResolvedRule {
  path: string;
  include: Glob[];
  exclude: Glob[];
  attributes: FimAttribute[];
  maxHashBytes: number;
  /** Where the rule comes from: `config` (host.fim.rules.N) or `default: <why>`. */
  origin: string;
}

/** What the default policy needs to know about the host. */
export interface PolicyInputs {
  paths: VigilPaths;
  /** The QEMU binary (absolute) if found. */
  qemuBinary?: string | undefined;
  /** Each defined VM's files: boot kernel/initrd, firmware, disks (file, readonly). */
  vms: { name: string; sources: string[]; kernel?: string | undefined; initrd?: string | undefined; firmware: string[]; disks: { file: string; readonly: boolean }[] }[];
  hashImages: boolean;
}

/** Firmware directories QEMU loads ROMs and BIOS images from on Debian. */
export const FIRMWARE_DIRS = ['/usr/share/qemu', '/usr/share/seabios', '/usr/share/ipxe', '/usr/share/OVMF', '/usr/share/ovmf'];

const IDENTITY: FimAttribute[] = ['mode', 'uid', 'gid', 'inode', 'target'];

/** Compiles configured rules; glob errors name the rule. */
export function resolveRules(rules: readonly FimRule[], field = 'host.fim.rules'): ResolvedRule[] {
  return rules.map((r, i) => ({
    path: r.path.length > 1 ? r.path.replace(/\/+$/, '') : r.path,
    include: r.include.map((g, j) => compileGlob(g, `${field}.${i}.include.${j}`)),
    exclude: r.exclude.map((g, j) => compileGlob(g, `${field}.${i}.exclude.${j}`)),
    attributes: [...new Set(r.attributes)],
    maxHashBytes: r.maxHashBytes,
    origin: `config (${field}.${i})`,
  }));
}

function single(path: string, attributes: readonly FimAttribute[], origin: string): ResolvedRule {
  return { path, include: [], exclude: [], attributes: [...attributes], maxHashBytes: 0, origin };
}

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** Vigil's default rules for this host. */
export async function defaultRules(inputs: PolicyInputs): Promise<ResolvedRule[]> {
  const all = [...FIM_ATTRIBUTES];
  const rules: ResolvedRule[] = [
    { ...single(inputs.paths.config, all, 'default: Vigil configuration and VM definitions'), include: [compileGlob('**')] },
  ];
  if (inputs.qemuBinary) {
    rules.push(single(inputs.qemuBinary, all, 'default: the QEMU binary'));
    const target = real(inputs.qemuBinary);
    if (target !== inputs.qemuBinary) rules.push(single(target, all, 'default: the QEMU binary (link target)'));
  }
  for (const dir of FIRMWARE_DIRS) rules.push({ ...single(dir, all, 'default: firmware'), include: [compileGlob('**')] });
  const top = inputs.hashImages ? all : IDENTITY;
  const base = inputs.hashImages ? all : [...IDENTITY, 'size', 'mtime'] as FimAttribute[];
  for (const vm of inputs.vms) {
    for (const f of vm.sources) rules.push(single(f, all, `default: VM ${vm.name} definition file`));
    for (const f of [vm.kernel, vm.initrd, ...vm.firmware]) if (f) rules.push(single(f, all, `default: VM ${vm.name} boot file`));
    for (const d of vm.disks) {
      rules.push(single(d.file, d.readonly ? base : top, `default: VM ${vm.name} disk image`));
      for (const b of await backingChain(d.file)) rules.push(single(b, base, `default: VM ${vm.name} backing image of ${d.file}`));
      // A VM's images directory: an image swapped for another (a new inode) shows as a change of the path.
      rules.push(single(dirname(d.file), ['mode', 'uid', 'gid', 'inode'], `default: VM ${vm.name} image directory`));
    }
  }
  return rules;
}
