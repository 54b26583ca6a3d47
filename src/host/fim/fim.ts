/**
 * File integrity: `init` records a baseline, `check` compares the tree with it, `update` records a new
 * generation. Before any comparison the baseline is verified: its hash chains, and its head against the one the
 * audit log recorded when it was written (so rewriting the baseline with freshly computed hashes also shows).
 */
import { VigilError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { AuditLog } from '../../store/audit-log.js';
import type { StoreDb } from '../../store/db.js';
import { FimRepo, type FimGeneration } from '../../store/fim-repo.js';
import type { FimEntry } from './entry.js';
import { diffEntries, type FimDiff } from './report.js';
import { scan, type ScanResult } from './scan.js';
import type { ResolvedRule } from './policy.js';

/** The audit entry that anchors each baseline generation. */
export const FIM_BASELINE_COMMAND = 'fim baseline';

/** What Fim needs. */
export interface FimOptions {
  db: StoreDb;
  audit: AuditLog;
  logger: Logger;
  /** The rules to scan with (computed per call: VMs and their backing chains change). */
  rules: () => Promise<ResolvedRule[]>;
  concurrency: number;
  principal: string;
}

/** A check's outcome. */
export interface FimCheckResult extends FimDiff {
  baseline: { generation: number; createdAt: string; entries: number };
  scanned: ScanResult['stats'];
  problems: ScanResult['problems'];
}

/** A new baseline generation. */
export interface FimBaselineResult {
  generation: number;
  entries: number;
  hash: string;
  scanned: ScanResult['stats'];
  problems: ScanResult['problems'];
}

/** File integrity over one store. */
export class Fim {
  readonly repo: FimRepo;

  constructor(private readonly opts: FimOptions) {
    this.repo = new FimRepo(opts.db);
  }

  /** Scans the policy's paths now. */
  async scan(onProgress?: (n: number) => void): Promise<ScanResult> {
    return scan(await this.opts.rules(), { concurrency: this.opts.concurrency, ...(onProgress ? { onProgress } : {}) });
  }

  /** Records the first baseline; refuses when one exists unless `force`. */
  async init(options: { force?: boolean; onProgress?: (n: number) => void } = {}): Promise<FimBaselineResult> {
    if (this.repo.latest() && !options.force) {
      throw new VigilError('VIGIL_FIM_NO_BASELINE', 'a baseline already exists: run `vigil fim update` to accept the current tree, or `vigil fim init --force` to start over');
    }
    return this.record('init', await this.scan(options.onProgress));
  }

  /** Verifies the baseline and returns it (throws VIGIL_FIM_TAMPERED or VIGIL_FIM_NO_BASELINE). */
  async verifiedBaseline(): Promise<{ generation: FimGeneration; entries: Map<string, FimEntry> }> {
    const v = await this.repo.verify();
    const problems = v.problems.map((p) => p.detail);
    if (!v.latest) throw new VigilError('VIGIL_FIM_NO_BASELINE', 'no file integrity baseline: run `vigil fim init` first');
    const anchor = this.opts.audit.query({ kind: 'fim', command: FIM_BASELINE_COMMAND }, 1)[0];
    if (!anchor) problems.push(`the audit log holds no record of any baseline, but generation ${v.latest.generation} exists: the baseline was written behind Vigil's back`);
    else if (anchor.args.generation !== v.latest.generation || anchor.args.hash !== v.latest.hash) {
      problems.push(
        `the audit log recorded generation ${String(anchor.args.generation)} with hash ${String(anchor.args.hash).slice(0, 16)}…, the store holds generation ${v.latest.generation} with ${v.latest.hash.slice(0, 16)}…: the baseline was replaced`,
      );
    }
    if (problems.length > 0) {
      throw new VigilError('VIGIL_FIM_TAMPERED', `the file integrity baseline was tampered with:\n  ${problems.join('\n  ')}\nre-create it from a trusted state with \`vigil fim init --force\``, {
        context: { problems },
      });
    }
    return { generation: v.latest, entries: v.entries as Map<string, FimEntry> };
  }

  /** Compares the tree with the verified baseline. */
  async check(onProgress?: (n: number) => void): Promise<FimCheckResult> {
    const base = await this.verifiedBaseline();
    const now = await this.scan(onProgress);
    const diff = diffEntries(base.entries, now.entries);
    const result: FimCheckResult = {
      baseline: { generation: base.generation.generation, createdAt: base.generation.createdAt, entries: base.generation.entries },
      ...diff,
      scanned: now.stats,
      problems: now.problems,
    };
    this.auditCheck(result);
    return result;
  }

  /** Checks, then accepts the current tree as the new baseline; returns both. */
  async update(onProgress?: (n: number) => void): Promise<{ check: FimCheckResult; baseline: FimBaselineResult }> {
    const base = await this.verifiedBaseline();
    const now = await this.scan(onProgress);
    const diff = diffEntries(base.entries, now.entries);
    const check: FimCheckResult = {
      baseline: { generation: base.generation.generation, createdAt: base.generation.createdAt, entries: base.generation.entries },
      ...diff,
      scanned: now.stats,
      problems: now.problems,
    };
    return { check, baseline: await this.record('update', now) };
  }

  private async record(reason: string, result: ScanResult): Promise<FimBaselineResult> {
    const gen = await this.repo.append(result.entries.values(), { reason, principal: this.opts.principal });
    this.opts.audit.append({
      time: new Date(),
      kind: 'fim',
      vm: '-',
      principal: this.opts.principal,
      command: FIM_BASELINE_COMMAND,
      args: { generation: gen.generation, hash: gen.hash, entries: gen.entries, reason },
      class: 'host',
      outcome: 'ok',
      reason: `baseline ${reason}: ${gen.entries} paths`,
      durationMs: result.stats.elapsedMs,
    });
    return { generation: gen.generation, entries: gen.entries, hash: gen.hash, scanned: result.stats, problems: result.problems };
  }

  private auditCheck(r: FimCheckResult): void {
    this.opts.audit.append({
      time: new Date(),
      kind: 'fim',
      vm: '-',
      principal: this.opts.principal,
      command: 'fim check',
      args: {
        generation: r.baseline.generation,
        added: r.added.length,
        removed: r.removed.length,
        changed: r.changed.length,
        // The first paths only: a report of 50,000 changes belongs in the CLI's output, not in every audit row.
        paths: [...r.added.map((a) => `+${a.path}`), ...r.removed.map((a) => `-${a.path}`), ...r.changed.map((c) => `~${c.path}`)].slice(0, 20),
      },
      class: 'host',
      outcome: r.bits === 0 ? 'ok' : 'changed',
      reason: `${r.added.length} added, ${r.removed.length} removed, ${r.changed.length} changed`,
      durationMs: r.scanned.elapsedMs,
    });
  }
}
