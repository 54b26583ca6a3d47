/**
 * Roles. Per VM: ReadOnly < Operator < Manager < Owner. Per host: admin (every VM as Owner, the kill switch,
 * the host agent, the audit log) and auditor (the audit log). A team holds grants on VMs; its members get them.
 */
import { VigilError } from '../core/errors.js';
import type { AccessRepo } from '../store/access-repo.js';

/** A role on one VM. */
export type VmRole = 'ReadOnly' | 'Operator' | 'Manager' | 'Owner';
/** A role on the host. */
export type HostRole = 'admin' | 'auditor';

/** VM roles from weakest to strongest. */
export const VM_ROLES: readonly VmRole[] = ['ReadOnly', 'Operator', 'Manager', 'Owner'];
/** Host roles. */
export const HOST_ROLES: readonly HostRole[] = ['admin', 'auditor'];

/** True when `have` is at least `need`. */
export function atLeast(have: VmRole | undefined, need: VmRole): boolean {
  return have !== undefined && VM_ROLES.indexOf(have) >= VM_ROLES.indexOf(need);
}

function strongest(roles: readonly string[]): VmRole | undefined {
  let best: VmRole | undefined;
  for (const r of roles) if ((VM_ROLES as readonly string[]).includes(r) && !atLeast(best, r as VmRole)) best = r as VmRole;
  return best;
}

/** Who a signed request comes from, with what they may do. */
export interface Caller {
  address: string;
  hostRole: HostRole | undefined;
  /** Registered in the store (unknown signers may still hold nothing). */
  registered: boolean;
  teams: string[];
}

/** Resolves roles from the store. */
export class AccessControl {
  constructor(private readonly repo: AccessRepo) {}

  /** The caller behind an address. */
  caller(address: string): Caller {
    const p = this.repo.principal(address);
    const hostRole = p?.hostRole === 'admin' || p?.hostRole === 'auditor' ? p.hostRole : undefined;
    return { address: address.toLowerCase(), hostRole, registered: p !== undefined, teams: this.repo.teamsOf(address).map((m) => m.team) };
  }

  /** The caller's role on a VM (undefined: none, and the VM must look absent to them). */
  roleOn(caller: Caller, vm: string): VmRole | undefined {
    if (caller.hostRole === 'admin') return 'Owner';
    const subjects = [caller.address, ...caller.teams.map((t) => `team:${t}`)];
    return strongest(this.repo.grantsFor(subjects).filter((g) => g.vm === vm).map((g) => g.role));
  }

  /** Every VM the caller has any role on, with that role (admins: pass `allVms`). */
  visibleVms(caller: Caller, allVms: readonly string[]): Map<string, VmRole> {
    const out = new Map<string, VmRole>();
    if (caller.hostRole === 'admin') {
      for (const vm of allVms) out.set(vm, 'Owner');
      return out;
    }
    const byVm = new Map<string, string[]>();
    for (const g of this.repo.grantsFor([caller.address, ...caller.teams.map((t) => `team:${t}`)])) byVm.set(g.vm, [...(byVm.get(g.vm) ?? []), g.role]);
    for (const vm of allVms) {
      const role = strongest(byVm.get(vm) ?? []);
      if (role) out.set(vm, role);
    }
    return out;
  }

  /**
   * Throws unless the caller has `need` on `vm`: VIGIL_NOT_FOUND when they have no role at all (the VM must
   * look absent), VIGIL_FORBIDDEN naming the role needed otherwise.
   */
  require(caller: Caller, vm: string, need: VmRole, action: string): VmRole {
    const role = this.roleOn(caller, vm);
    if (role === undefined) throw new VigilError('VIGIL_NOT_FOUND', `no VM named '${vm}'`, { context: { vm } });
    if (!atLeast(role, need)) {
      throw new VigilError('VIGIL_FORBIDDEN', `${action} on VM '${vm}' needs the ${need} role; you are ${role}`, { context: { vm, need, role } });
    }
    return role;
  }

  /** Throws VIGIL_FORBIDDEN unless the caller holds one of the host roles. */
  requireHost(caller: Caller, roles: readonly HostRole[], action: string): void {
    if (caller.hostRole === undefined || !roles.includes(caller.hostRole)) {
      throw new VigilError('VIGIL_FORBIDDEN', `${action} needs the host role ${roles.join(' or ')}`, { context: { need: roles } });
    }
  }
}
