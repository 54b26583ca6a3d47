/**
 * `vigil fim init|check|update|watch|policy`: file integrity of Vigil's own files, QEMU, firmware, disk images
 * and the configured paths. `check` exits with 16 + a bitmask (added 1, removed 2, changed 4) when the tree
 * differs from the baseline, so scripts can tell a difference from an error (1..8).
 */
import { Command } from 'commander';
import { userInfo } from 'node:os';
import { Fim, type FimCheckResult } from '../../host/fim/fim.js';
import { formatDiff } from '../../host/fim/report.js';
import { fimRules, policyVms } from '../../host/fim/setup.js';
import { FimWatcher } from '../../host/fim/watch.js';
import { findBinary } from '../../vm/preflight.js';
import { Vigil } from '../../vigil.js';
import { EXIT } from '../exit-codes.js';
import { printJson, toJson } from '../output.js';

function qemuBinary(vigil: Vigil): string | undefined {
  try {
    return findBinary(vigil.config.qemu.binary);
  } catch {
    return undefined;
  }
}

function open(): { vigil: Vigil; fim: Fim; rules: () => ReturnType<typeof fimRules> } {
  const vigil = Vigil.open();
  const cfg = vigil.config.host.fim;
  const rules = (): ReturnType<typeof fimRules> => fimRules(cfg, { paths: vigil.paths, qemuBinary: qemuBinary(vigil), vms: policyVms(vigil.list()) });
  const fim = new Fim({ db: vigil.db, audit: vigil.audit, logger: vigil.logger, rules, concurrency: cfg.concurrency, principal: userInfo().username });
  return { vigil, fim, rules };
}

function progress(json: boolean | undefined): ((n: number) => void) | undefined {
  if (json || !process.stderr.isTTY) return undefined;
  return (n) => process.stderr.write(`\rscanned ${n} paths`);
}

function rate(stats: FimCheckResult['scanned']): string {
  const s = stats.elapsedMs / 1000;
  return `${stats.files} paths, ${stats.hashedFiles} hashed (${(stats.hashedBytes / 1048576).toFixed(1)} MiB) in ${s.toFixed(2)} s`;
}

function printProblems(problems: FimCheckResult['problems']): void {
  for (const p of problems.slice(0, 20)) process.stderr.write(`vigil: cannot read ${p.path}: ${p.error}\n`);
  if (problems.length > 20) process.stderr.write(`vigil: ... and ${problems.length - 20} more unreadable paths\n`);
}

/** The exit status of a check: 0 when clean, 16 + bitmask otherwise. */
export function fimExit(bits: number): number {
  return bits === 0 ? EXIT.OK : EXIT.FIM_DIFF_BASE + bits;
}

/** Builds the `fim` command group. */
export function fimCommand(): Command {
  const fim = new Command('fim').description('file integrity: record a baseline of Vigil, QEMU, firmware, images and configured paths; report what changed');

  fim
    .command('init')
    .description('record the first baseline (sha256, mode, owner, size, mtime, inode, link target)')
    .option('--force', 'start a new baseline even though one exists')
    .option('--json', 'print JSON')
    .action(async (opts: { force?: boolean; json?: boolean }) => {
      const { vigil, fim: f } = open();
      try {
        const r = await f.init({ ...(opts.force ? { force: true } : {}), ...(progress(opts.json) ? { onProgress: progress(opts.json)! } : {}) });
        if (opts.json) return printJson(r);
        process.stdout.write(`${progress(false) ? '\n' : ''}baseline generation ${r.generation}: ${rate(r.scanned)}\n`);
        printProblems(r.problems);
      } finally {
        vigil.close();
      }
    });

  fim
    .command('check')
    .description('compare the tree with the baseline; exit 16 + bitmask (added 1, removed 2, changed 4) on a difference')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const { vigil, fim: f } = open();
      try {
        const r = await f.check(progress(opts.json));
        if (opts.json) printJson(r);
        else {
          if (progress(false)) process.stderr.write('\n');
          process.stdout.write(`${formatDiff(r)} (baseline generation ${r.baseline.generation} of ${r.baseline.createdAt}; ${rate(r.scanned)})\n`);
          printProblems(r.problems);
        }
        process.exitCode = fimExit(r.bits);
      } finally {
        vigil.close();
      }
    });

  fim
    .command('update')
    .description('report the differences, then accept the current tree as the new baseline')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const { vigil, fim: f } = open();
      try {
        const r = await f.update(progress(opts.json));
        if (opts.json) return printJson(r);
        process.stdout.write(`${formatDiff(r.check)}\nbaseline generation ${r.baseline.generation} recorded: ${rate(r.baseline.scanned)}\n`);
        printProblems(r.baseline.problems);
      } finally {
        vigil.close();
      }
    });

  fim
    .command('watch')
    .description('watch the baseline paths (inotify, with a full rescan every host.fim.rescanSec); print each difference as it happens')
    .option('--json', 'one JSON object per report')
    .option('--rescan <sec>', 'full rescan period in seconds (default host.fim.rescanSec)')
    .action(async (opts: { json?: boolean; rescan?: string }) => {
      const { vigil, fim: f, rules } = open();
      const rescanSec = opts.rescan === undefined ? vigil.config.host.fim.rescanSec : Number(opts.rescan);
      const watcher = new FimWatcher(f, { rules, concurrency: vigil.config.host.fim.concurrency, rescanMs: Math.max(1, rescanSec) * 1000, logger: vigil.logger }, (r) => {
        if (opts.json) process.stdout.write(toJson(r, true) + '\n');
        else process.stdout.write(`${r.time}${r.full ? ' (full rescan)' : ''}\n${formatDiff(r)}\n`);
      });
      // The watches and the rescan timer do not hold the process open (so vigild can stop cleanly): this does.
      const keepAlive = setInterval(() => undefined, 1 << 30);
      const stop = new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      }).finally(() => clearInterval(keepAlive));
      try {
        const first = await watcher.start();
        if (!opts.json && first.bits === 0) process.stderr.write(`vigil: no difference from the baseline; watching ${watcher.watchedCount()} places (Ctrl-C to stop)\n`);
        await stop;
      } finally {
        clearInterval(keepAlive);
        await watcher.stop();
        vigil.close();
      }
    });

  fim
    .command('policy')
    .description('the rules a scan uses now: configured rules first, then the defaults')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const { vigil, rules } = open();
      try {
        const list = (await rules()).map((r) => ({ path: r.path, include: r.include.map((g) => g.source), exclude: r.exclude.map((g) => g.source), attributes: r.attributes, maxHashBytes: r.maxHashBytes, origin: r.origin }));
        if (opts.json) return printJson(list);
        for (const r of list) {
          const globs = r.include.length ? ` include ${r.include.join(',')}` : '';
          const ex = r.exclude.length ? ` exclude ${r.exclude.join(',')}` : '';
          process.stdout.write(`${r.path}${globs}${ex}\n    ${r.attributes.join(',')}  [${r.origin}]\n`);
        }
      } finally {
        vigil.close();
      }
    });
  return fim;
}
