/**
 * Which image files running VMs hold: each active VM's disk files, their whole backing chains, and the overlays
 * external snapshots put on top. Paths are compared after resolving symlinks.
 */
import { existsSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Vm } from '../vm/service.js';
import { isActive } from '../vm/states.js';
import { imageInfo } from './qemu-img.js';

/** Resolves symlinks when the file exists, so two names of one file compare equal. */
export function canonicalPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** The files one disk reaches: itself and every backing file below it. */
export async function diskChain(file: string, format?: string): Promise<string[]> {
  const out = [canonicalPath(file)];
  if (!existsSync(file)) return out;
  try {
    const chain = await imageInfo(file, { chain: true, ...(format ? { format } : {}) });
    let dir = dirname(file);
    for (const link of chain) {
      const backing = link['full-backing-filename'] ?? link['backing-filename'];
      if (backing === undefined) break;
      const path = resolve(dir, backing);
      out.push(canonicalPath(path));
      dir = dirname(path);
    }
  } catch {
    // An unreadable image still counts as in use by name.
  }
  return out;
}

/** Every image file active VMs use, mapped to the VMs using it. `extra` adds per-VM files (snapshot overlays). */
export async function imagesInUse(vms: readonly Vm[], extra: (vm: Vm) => string[] = () => []): Promise<Map<string, string[]>> {
  const used = new Map<string, string[]>();
  const add = (path: string, vm: string): void => {
    const list = used.get(path) ?? [];
    if (!list.includes(vm)) list.push(vm);
    used.set(path, list);
  };
  for (const vm of vms) {
    if (!isActive(vm.state)) continue;
    const files = [
      ...vm.definition.disks.filter((d) => d.file !== undefined).map((d) => ({ file: d.file!, format: d.format })),
      ...extra(vm).map((file) => ({ file, format: undefined })),
    ];
    for (const { file, format } of files) for (const p of await diskChain(file, format)) add(p, vm.name);
  }
  return used;
}

/** Every VM (running or not) whose definition names `path` as a disk, directly. */
export function vmsNaming(vms: readonly Vm[], path: string): Vm[] {
  const target = canonicalPath(path);
  return vms.filter((vm) => vm.definition.disks.some((d) => d.file !== undefined && canonicalPath(d.file) === target));
}
