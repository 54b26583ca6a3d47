/** `vigil audit tail|grep|verify`: read and check the hash-chained audit log. */
import { Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { VigilError } from '../../core/errors.js';
import { resolvePaths, storePath } from '../../core/paths.js';
import { AuditLog, type AuditFilter, type AuditRow } from '../../store/audit-log.js';
import { openStore } from '../../store/db.js';
import { printJson, toJson } from '../output.js';

interface FilterOpts {
  vm?: string;
  command?: string;
  class?: string;
  outcome?: string;
  principal?: string;
  since?: string;
  until?: string;
  json?: boolean;
}

function parseDate(text: string | undefined, field: string): Date | undefined {
  if (text === undefined) return undefined;
  const relative = /^(\d+)([smhd])$/.exec(text);
  if (relative) {
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[relative[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(Date.now() - Number(relative[1]) * unit);
  }
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) {
    throw new VigilError('VIGIL_INVALID_INPUT', `--${field} '${text}' is not a time: use ISO 8601 (2026-11-24T10:00:00Z) or an age like 15m, 2h, 1d`, {
      context: { field },
    });
  }
  return d;
}

function toFilter(opts: FilterOpts): AuditFilter {
  return {
    vm: opts.vm,
    command: opts.command,
    class: opts.class,
    outcome: opts.outcome,
    principal: opts.principal,
    since: parseDate(opts.since, 'since'),
    until: parseDate(opts.until, 'until'),
  };
}

function line(r: AuditRow): string {
  const args = Object.keys(r.args).length > 0 ? ' ' + JSON.stringify(r.args) : '';
  const extra = r.outcome === 'refused' ? ` (${r.reason})` : r.error ? ` (${r.error})` : '';
  const purpose = r.purpose ? ` purpose=${r.purpose}` : '';
  return `${String(r.seq).padStart(6)} ${r.time} ${r.vm} ${r.principal} ${r.class.padEnd(11)} ${r.outcome.padEnd(7)} ${r.command}${args}${purpose}${extra}`;
}

function print(rows: AuditRow[], json: boolean | undefined): void {
  for (const r of rows) process.stdout.write((json ? toJson(r, true) : line(r)) + '\n');
}

function withFilters(cmd: Command): Command {
  return cmd
    .option('--vm <name>', 'only this VM')
    .option('--command <cmd>', 'only this QMP command')
    .option('--class <class>', 'only this class: dangerous, memory-dump, privileged, safe, unknown')
    .option('--outcome <outcome>', 'only this outcome: ok, failed, refused')
    .option('--principal <who>', 'only this principal')
    .option('--since <time>', 'from this time (ISO 8601, or an age: 15m, 2h, 1d)')
    .option('--until <time>', 'before this time')
    .option('--json', 'one JSON object per line');
}

/** Builds the `audit` command group. */
export function auditCommand(): Command {
  const audit = new Command('audit').description('read and verify the tamper-evident audit log');
  const open = (): { log: AuditLog; close: () => void } => {
    const db = openStore(storePath(resolvePaths()));
    return { log: new AuditLog(db), close: () => db.close() };
  };

  withFilters(audit.command('tail').description('the newest entries'))
    .option('-n, --lines <n>', 'how many', '20')
    .option('-f, --follow', 'keep printing new entries until interrupted')
    .action(async (opts: FilterOpts & { lines: string; follow?: boolean }) => {
      const { log, close } = open();
      try {
        const filter = toFilter(opts);
        const rows = log.query(filter, Math.max(0, Number(opts.lines) || 20));
        print(rows, opts.json);
        if (!opts.follow) return;
        let last = rows.at(-1)?.seq ?? log.head().seq;
        const stop = new AbortController();
        process.once('SIGINT', () => stop.abort());
        while (!stop.signal.aborted) {
          const fresh = log.query({ ...filter, afterSeq: last });
          print(fresh, opts.json);
          last = fresh.at(-1)?.seq ?? last;
          await sleep(300, undefined, { signal: stop.signal }).catch(() => undefined);
        }
      } finally {
        close();
      }
    });

  withFilters(audit.command('grep').description('entries whose command, arguments, VM, principal or reason match a regular expression'))
    .argument('<pattern>', 'regular expression (case-insensitive)')
    .action((pattern: string, opts: FilterOpts) => {
      const { log, close } = open();
      try {
        print(log.query({ ...toFilter(opts), pattern }), opts.json);
      } finally {
        close();
      }
    });

  audit
    .command('verify')
    .description('walk the hash chain; exit 7 if any row was changed, removed or inserted')
    .option('--json', 'print the result as JSON')
    .action((opts: { json?: boolean }) => {
      const { log, close } = open();
      try {
        const result = log.verify();
        if (opts.json) printJson(result);
        else if (result.ok) process.stdout.write(`audit log OK: ${result.rows} rows, head ${result.head}\n`);
        else {
          process.stdout.write(`audit log TAMPERED: ${result.problems.length} problem(s) in ${result.rows} rows\n`);
          for (const p of result.problems) process.stdout.write(`  seq ${p.seq}: ${p.problem}: ${p.detail}\n`);
        }
        if (!result.ok) {
          throw new VigilError('VIGIL_AUDIT_TAMPERED', `audit log verification failed at seq ${result.problems[0]?.seq ?? '?'}`, {
            context: { problems: result.problems.length },
          });
        }
      } finally {
        close();
      }
    });

  return audit;
}
