/** The FIM policy for this host: Vigil's defaults over the defined VMs, then the configured rules. */
import type { VigilPaths } from '../../core/paths.js';
import type { HostConfig } from '../config.js';
import { defaultRules, resolveRules, type PolicyInputs, type ResolvedRule } from './policy.js';

/** A defined VM's files as the default policy needs them (a VmDefinition has this shape). */
export interface PolicyVmSource {
  name: string;
  sources: string[];
  definition: {
    boot?: { kernel: string; initrd?: string | undefined } | undefined;
    firmware: { type: 'bios' } | { type: 'uefi'; code: string; vars: string };
    disks: { file?: string | undefined; readonly: boolean }[];
  };
}

/** The default policy's view of the defined VMs. */
export function policyVms(vms: readonly PolicyVmSource[]): PolicyInputs['vms'] {
  return vms.map((vm) => ({
    name: vm.name,
    sources: vm.sources,
    kernel: vm.definition.boot?.kernel,
    initrd: vm.definition.boot?.initrd,
    firmware: vm.definition.firmware.type === 'uefi' ? [vm.definition.firmware.code, vm.definition.firmware.vars] : [],
    disks: vm.definition.disks.flatMap((d) => (d.file ? [{ file: d.file, readonly: d.readonly }] : [])),
  }));
}

/** Every rule: the configured ones first (a path's first rule decides its attributes), then the defaults. */
export async function fimRules(fim: HostConfig['fim'], inputs: Omit<PolicyInputs, 'hashImages'> & { paths: VigilPaths }): Promise<ResolvedRule[]> {
  const configured = resolveRules(fim.rules);
  if (!fim.defaults) return configured;
  return [...configured, ...(await defaultRules({ ...inputs, hashImages: fim.hashImages }))];
}
