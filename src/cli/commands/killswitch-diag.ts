/** `vigil killswitch test|logs|config`: seed 000's diagnostics verbs (self-test, history, effective configuration). */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { KillswitchEngine } from '../../killswitch/engine.js';
import { formatSelfTest, selfTest } from '../../killswitch/selftest.js';
import type { AuditRow } from '../../store/audit-log.js';
import { readInventory } from '../../sysfs/inventory.js';
import { Vigil } from '../../vigil.js';
import { EXIT } from '../exit-codes.js';
import { printJson } from '../output.js';

function engineOf(vigil: Vigil, sysfsRoot?: string): KillswitchEngine {
  return new KillswitchEngine({ db: vigil.db, vms: vigil.vms, audit: vigil.audit, paths: vigil.paths, logger: vigil.logger, inventory: () => readInventory(sysfsRoot) });
}

interface LoggedVm {
  vm: string;
  safe?: boolean;
  ms: number;
  escalated?: { step: string; ok: boolean }[];
  error?: string;
}

function formatLogRow(row: AuditRow, verbose: boolean): string {
  const args = row.args as { trigger?: { source?: string; principal?: string; detail?: string }; vms?: LoggedVm[]; devices?: { vm: string; id: string; outcome: string; ms: number; error?: string }[]; unrestored?: string[] };
  const t = args.trigger ?? {};
  const head = `${row.time}  ${row.command.replace('killswitch ', '').padEnd(7)}  ${row.outcome.padEnd(7)}  ${Math.round(row.durationMs)} ms  by ${t.source ?? '?'}${t.principal ? ` (${t.principal})` : ''}${t.detail ? `: ${t.detail}` : ''}`;
  const lines = [head];
  for (const vm of args.vms ?? []) {
    const esc = (vm.escalated ?? []).map((e) => `${e.step}${e.ok ? '' : ' failed'}`).join(', ');
    lines.push(`    ${vm.vm}: ${vm.safe === false ? 'NOT SAFE' : 'ok'} in ${vm.ms} ms${esc ? `; escalated: ${esc}` : ''}${vm.error ? `; ${vm.error}` : ''}`);
    if (verbose) for (const d of (args.devices ?? []).filter((x) => x.vm === vm.vm)) lines.push(`      ${d.id.padEnd(12)} ${d.outcome.padEnd(15)} ${d.ms} ms${d.error ? `  ${d.error}` : ''}`);
  }
  for (const u of args.unrestored ?? []) lines.push(`    not restored: ${u}`);
  if (row.error) lines.push(`    error: ${row.error}`);
  return lines.join('\n');
}

/** Adds `test`, `logs` and `config` to the `killswitch` command group. */
export function addKillswitchDiagnostics(ks: Command): void {
  ks.command('test')
    .description('check the host and the VMs as the kill switch will use them (IOMMU, VFIO, QMP, devices), with the fix for each failure')
    .option('-v, --verbose', 'also list the checks that passed')
    .option('--sysfs <root>', 'read host devices from this sysfs root (default /)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { verbose?: boolean; sysfs?: string; json?: boolean }) => {
      const vigil = Vigil.open();
      try {
        const engine = engineOf(vigil, opts.sysfs);
        const report = await selfTest({
          plan: await engine.plan(),
          state: engine.status().state,
          vm: (name) => {
            const vm = vigil.vms.get(name);
            return { definition: vm.definition, state: vm.state, files: vigil.vms.files(name) };
          },
          ...(opts.sysfs ? { sysfsRoot: opts.sysfs } : {}),
        });
        if (opts.json) printJson(report);
        else process.stdout.write(formatSelfTest(report, opts.verbose === true) + '\n');
        if (!report.ok) process.exitCode = EXIT.FAILURE;
      } finally {
        vigil.close();
      }
    });

  ks.command('logs')
    .description('engages and releases from the audit log: trigger, outcome and timing per VM')
    .option('-n, --lines <n>', 'how many', '20')
    .option('-v, --verbose', 'also each device with its outcome and timing')
    .option('-f, --follow', 'keep printing new entries until interrupted')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { lines: string; verbose?: boolean; follow?: boolean; json?: boolean }) => {
      const vigil = Vigil.open();
      try {
        const print = (rows: AuditRow[]): void => {
          for (const r of rows) process.stdout.write((opts.json ? JSON.stringify(r) : formatLogRow(r, opts.verbose === true)) + '\n');
        };
        const rows = vigil.audit.query({ kind: 'killswitch' }, Math.max(0, Number(opts.lines) || 20));
        print(rows);
        if (!opts.follow) return;
        let last = rows.at(-1)?.seq ?? vigil.audit.head().seq;
        const stop = new AbortController();
        process.once('SIGINT', () => stop.abort());
        while (!stop.signal.aborted) {
          const fresh = vigil.audit.query({ kind: 'killswitch', afterSeq: last });
          print(fresh);
          last = fresh.at(-1)?.seq ?? last;
          await sleep(300, undefined, { signal: stop.signal }).catch(() => undefined);
        }
      } finally {
        vigil.close();
      }
    });

  ks.command('config')
    .description("the effective configuration: each VM's killswitch section and the devices it resolves to, and seed 000's files")
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const vigil = Vigil.open();
      try {
        const plan = await engineOf(vigil).plan();
        const seedFiles = Object.fromEntries(['devices.yaml', 'vms.yaml'].map((f) => [f, existsSync(join(vigil.paths.config, f)) ? join(vigil.paths.config, f) : null]));
        const out = {
          vms: plan.vms.map((p) => ({
            vm: p.vmName,
            section: vigil.vms.get(p.vmName).definition.killswitch,
            resolves: p.devices.map((d) => `${d.deviceId} (${d.kind}, ${d.class}, ${d.action})`),
            ...(p.problem ? { problem: p.problem } : {}),
          })),
          seedFiles,
        };
        if (opts.json) printJson(out);
        else process.stdout.write(stringify(out));
      } finally {
        vigil.close();
      }
    });
}
