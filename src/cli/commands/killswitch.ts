/**
 * `vigil killswitch status|engage|release|toggle|validate|test|logs|config`: the kill switch, run in-process like
 * `vigil vm`; an engage or release vigild is running at the same time is waited for and shared, not repeated.
 */
import { Command } from 'commander';
import { userInfo } from 'node:os';
import { KillswitchEngine } from '../../killswitch/engine.js';
import type { SwitchReport } from '../../killswitch/report.js';
import { readInventory } from '../../sysfs/inventory.js';
import { Vigil } from '../../vigil.js';
import { printJson } from '../output.js';
import { EXIT } from '../exit-codes.js';
import { formatReport, validateKillswitch } from '../../killswitch/validate.js';
import { addKillswitchDiagnostics } from './killswitch-diag.js';
import { killswitchTriggersCommand } from './killswitch-triggers.js';

async function withEngine<T>(fn: (engine: KillswitchEngine) => Promise<T> | T): Promise<T> {
  const vigil = Vigil.open();
  try {
    const engine = new KillswitchEngine({
      db: vigil.db,
      vms: vigil.vms,
      audit: vigil.audit,
      paths: vigil.paths,
      logger: vigil.logger,
      inventory: () => readInventory(),
    });
    // A CLI run is also a start: finish whatever a crashed run left half-done before acting.
    await engine.recover();
    return await fn(engine);
  } finally {
    vigil.close();
  }
}

function ms(n: number): string {
  return `${Math.round(n)} ms`;
}

function printReport(report: SwitchReport): void {
  const lines = [`${report.action} (${report.trigger.source}) in ${ms(report.elapsedMs)}`];
  if (report.error) lines.push(`  error: ${report.error}`);
  for (const vm of report.vms) {
    const esc = vm.escalated.map((e) => `${e.step}${e.ok ? '' : ' failed'} at ${ms(e.atMs)}`).join(', ');
    const notes = [vm.notRunning ? 'not running' : '', esc ? `escalated: ${esc}` : '', vm.resumed ? 'resumed' : '', vm.error ?? ''].filter(Boolean);
    lines.push(`  ${vm.vmName}: ${vm.safe ? 'safe' : 'NOT SAFE'} in ${ms(vm.elapsedMs)}${notes.length ? ` (${notes.join('; ')})` : ''}`);
    for (const d of vm.devices) lines.push(`    ${d.device.deviceId.padEnd(12)} ${d.device.kind.padEnd(9)} ${d.outcome.padEnd(15)} ${ms(d.elapsedMs)}${d.error ? `  ${d.error}` : ''}`);
  }
  for (const u of report.unrestored ?? []) lines.push(`  not restored: ${u}`);
  process.stdout.write(lines.join('\n') + '\n');
}

const trigger = (): { source: string; principal: string } => ({ source: 'cli', principal: userInfo().username });

/** Builds the `killswitch` command group. */
export function killswitchCommand(): Command {
  const ks = new Command('killswitch').description('cut cameras, microphones, NICs and other devices from VMs, and restore them');

  ks.command('status')
    .description('the switch state, its last engage or release, and the plan over the defined VMs')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) =>
      withEngine(async (engine) => {
        const status = engine.status();
        const plan = await engine.plan();
        if (opts.json) return printJson({ ...status, plan });
        process.stdout.write(`kill switch: ${status.state}${status.inFlight ? ` (${status.inFlight} in flight)` : ''}${status.report ? ` since ${status.updatedAt}` : ' (never used)'}\n`);
        for (const vm of plan.vms) {
          const devices = vm.devices.map((d) => `${d.deviceId} (${d.class}, ${d.action})`).join(', ') || 'no devices';
          process.stdout.write(`  ${vm.vmName}: ${devices}; deadline ${vm.deadlineMs} ms; escalation ${vm.escalation.join(' > ') || 'none'}${vm.problem ? `\n    problem: ${vm.problem}` : ''}\n`);
        }
        if (status.report) printReport(status.report);
      }),
    );

  for (const [verb, description] of [
    ['engage', 'cut every planned device now (idempotent)'],
    ['release', 're-attach what the engage cut and resume the VMs it paused'],
    ['toggle', 'engage when armed, release when engaged'],
  ] as const) {
    ks.command(verb)
      .description(description)
      .option('--json', 'print the report as JSON')
      .action((opts: { json?: boolean }) =>
        withEngine(async (engine) => {
          const report = await engine[verb](trigger());
          if (opts.json) printJson({ state: engine.status().state, report });
          else printReport(report);
        }),
      );
  }
  ks.command('validate')
    .description("check seed 000's devices.yaml and vms.yaml (in --config, default the config directory) against this host: every problem at once")
    .option('--config <dir>', 'directory holding devices.yaml and vms.yaml')
    .option('--sysfs <root>', 'read host devices from this sysfs root (default /)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { config?: string; sysfs?: string; json?: boolean }) => {
      const vigil = Vigil.open();
      try {
        const report = await validateKillswitch({ configDir: opts.config ?? vigil.paths.config, vigil, ...(opts.sysfs ? { sysfsRoot: opts.sysfs } : {}) });
        if (opts.json) printJson(report);
        else process.stdout.write(formatReport(report) + '\n');
        if (!report.ok) process.exitCode = EXIT.BAD_CONFIG;
      } finally {
        vigil.close();
      }
    });
  addKillswitchDiagnostics(ks);
  ks.addCommand(killswitchTriggersCommand());
  return ks;
}
