/**
 * Who may do what: registered principals (Ethereum addresses) with their host role, per-VM grants to an address
 * or a team, and teams with their members. Roles are stored as text; src/auth/roles.ts gives them meaning.
 */
import type { Statement } from 'better-sqlite3';
import type { StoreDb } from './db.js';

/** A registered principal. */
export interface PrincipalRow {
  address: string;
  name: string | null;
  hostRole: string | null;
  createdAt: string;
}

/** A grant of a role on a VM to an address or to `team:<name>`. */
export interface GrantRow {
  vm: string;
  subject: string;
  role: string;
  grantedBy: string;
  grantedAt: string;
}

/** A team member. */
export interface MemberRow {
  team: string;
  address: string;
  admin: boolean;
}

/** Reads and writes principals, grants and teams. Addresses are stored lowercased. */
export class AccessRepo {
  // Every signed request looks these up: prepare them once.
  private readonly principalStmt: Statement;
  private readonly teamsOfStmt: Statement;
  private readonly grantsForStmts = new Map<number, Statement>();

  constructor(private readonly db: StoreDb) {
    this.principalStmt = db.prepare('SELECT address, name, host_role, created_at FROM principals WHERE address = ?');
    this.teamsOfStmt = db.prepare('SELECT team, address, admin FROM team_members WHERE address = ?');
  }

  /** A principal, or undefined. */
  principal(address: string): PrincipalRow | undefined {
    const r = this.principalStmt.get(address.toLowerCase()) as
      | { address: string; name: string | null; host_role: string | null; created_at: string }
      | undefined;
    return r ? { address: r.address, name: r.name, hostRole: r.host_role, createdAt: r.created_at } : undefined;
  }

  /** Every principal. */
  principals(): PrincipalRow[] {
    return (this.db.prepare('SELECT address, name, host_role, created_at FROM principals ORDER BY address').all() as {
      address: string;
      name: string | null;
      host_role: string | null;
      created_at: string;
    }[]).map((r) => ({ address: r.address, name: r.name, hostRole: r.host_role, createdAt: r.created_at }));
  }

  /** Registers (or updates) a principal. */
  upsertPrincipal(address: string, hostRole: string | null, name: string | null = null): void {
    this.db
      .prepare(
        `INSERT INTO principals (address, name, host_role, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (address) DO UPDATE SET host_role = excluded.host_role, name = coalesce(excluded.name, principals.name)`,
      )
      .run(address.toLowerCase(), name, hostRole, new Date().toISOString());
  }

  /** Removes a principal and every grant to it. */
  removePrincipal(address: string): void {
    const a = address.toLowerCase();
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM principals WHERE address = ?').run(a);
      this.db.prepare('DELETE FROM vm_permissions WHERE subject = ?').run(a);
      this.db.prepare('DELETE FROM team_members WHERE address = ?').run(a);
    })();
  }

  /** Grants on one VM. */
  grants(vm: string): GrantRow[] {
    return (this.db.prepare('SELECT * FROM vm_permissions WHERE vm = ? ORDER BY subject').all(vm) as {
      vm: string;
      subject: string;
      role: string;
      granted_by: string;
      granted_at: string;
    }[]).map((r) => ({ vm: r.vm, subject: r.subject, role: r.role, grantedBy: r.granted_by, grantedAt: r.granted_at }));
  }

  /** Grants held by any of `subjects` (an address and its teams), on any VM. */
  grantsFor(subjects: readonly string[]): GrantRow[] {
    if (subjects.length === 0) return [];
    let stmt = this.grantsForStmts.get(subjects.length);
    if (!stmt) {
      stmt = this.db.prepare(`SELECT * FROM vm_permissions WHERE subject IN (${subjects.map(() => '?').join(',')})`);
      this.grantsForStmts.set(subjects.length, stmt);
    }
    const rows = stmt.all(...subjects) as {
      vm: string;
      subject: string;
      role: string;
      granted_by: string;
      granted_at: string;
    }[];
    return rows.map((r) => ({ vm: r.vm, subject: r.subject, role: r.role, grantedBy: r.granted_by, grantedAt: r.granted_at }));
  }

  /** Sets a subject's role on a VM. */
  grant(vm: string, subject: string, role: string, by: string): void {
    this.db
      .prepare(
        `INSERT INTO vm_permissions (vm, subject, role, granted_by, granted_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (vm, subject) DO UPDATE SET role = excluded.role, granted_by = excluded.granted_by, granted_at = excluded.granted_at`,
      )
      .run(vm, subject.startsWith('team:') ? subject : subject.toLowerCase(), role, by.toLowerCase(), new Date().toISOString());
  }

  /** Removes a subject's grant on a VM; true if there was one. */
  revoke(vm: string, subject: string): boolean {
    return this.db.prepare('DELETE FROM vm_permissions WHERE vm = ? AND subject = ?').run(vm, subject.startsWith('team:') ? subject : subject.toLowerCase()).changes > 0;
  }

  /** Drops every grant on a VM (it was removed). */
  revokeAll(vm: string): void {
    this.db.prepare('DELETE FROM vm_permissions WHERE vm = ?').run(vm);
  }

  /** Creates a team with its creator as admin; false if the name is taken. */
  createTeam(name: string, by: string): boolean {
    return this.db.transaction(() => {
      const ok = this.db.prepare('INSERT OR IGNORE INTO teams (name, created_by, created_at) VALUES (?, ?, ?)').run(name, by.toLowerCase(), new Date().toISOString()).changes === 1;
      if (ok) this.db.prepare('INSERT INTO team_members (team, address, admin) VALUES (?, ?, 1)').run(name, by.toLowerCase());
      return ok;
    })();
  }

  /** Every team name. */
  teams(): string[] {
    return (this.db.prepare('SELECT name FROM teams ORDER BY name').all() as { name: string }[]).map((r) => r.name);
  }

  /** True when the team exists. */
  teamExists(name: string): boolean {
    return this.db.prepare('SELECT 1 FROM teams WHERE name = ?').get(name) !== undefined;
  }

  /** Deletes a team, its members and its grants. */
  deleteTeam(name: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM team_members WHERE team = ?').run(name);
      this.db.prepare('DELETE FROM vm_permissions WHERE subject = ?').run(`team:${name}`);
      this.db.prepare('DELETE FROM teams WHERE name = ?').run(name);
    })();
  }

  /** A team's members. */
  members(team: string): MemberRow[] {
    return (this.db.prepare('SELECT team, address, admin FROM team_members WHERE team = ? ORDER BY address').all(team) as { team: string; address: string; admin: number }[]).map(
      (r) => ({ team: r.team, address: r.address, admin: r.admin === 1 }),
    );
  }

  /** The teams an address belongs to. */
  teamsOf(address: string): MemberRow[] {
    return (this.teamsOfStmt.all(address.toLowerCase()) as { team: string; address: string; admin: number }[]).map(
      (r) => ({ team: r.team, address: r.address, admin: r.admin === 1 }),
    );
  }

  /** Adds or updates a member. */
  setMember(team: string, address: string, admin: boolean): void {
    this.db
      .prepare('INSERT INTO team_members (team, address, admin) VALUES (?, ?, ?) ON CONFLICT (team, address) DO UPDATE SET admin = excluded.admin')
      .run(team, address.toLowerCase(), admin ? 1 : 0);
  }

  /** Removes a member; true if it was one. */
  removeMember(team: string, address: string): boolean {
    return this.db.prepare('DELETE FROM team_members WHERE team = ? AND address = ?').run(team, address.toLowerCase()).changes > 0;
  }
}
