/** `vigil killswitch triggers`: the triggers config.yaml configures, and what each would do on this host. */
import { Command } from 'commander';
import { loadConfig } from '../../core/config.js';
import { resolvePaths } from '../../core/paths.js';
import { describeTriggers } from '../../killswitch/triggers/describe.js';
import { printJson } from '../output.js';

/** Builds the `killswitch triggers` subcommand. */
export function killswitchTriggersCommand(): Command {
  return new Command('triggers')
    .description("list the triggers in config.yaml's killswitch.triggers (file, schedule, hotkey, gpio) and what they need on this host")
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const paths = resolvePaths();
      const list = await describeTriggers(loadConfig(paths).killswitch?.triggers ?? [], { paths });
      if (opts.json) return printJson(list);
      if (list.length === 0) {
        process.stdout.write('no triggers configured (add killswitch.triggers to config.yaml; see docs/KILLSWITCH.md)\n');
        return;
      }
      for (const t of list) {
        process.stdout.write(`${t.name}  [${t.type}]\n  ${t.summary}\n`);
        if (t.type === 'schedule') for (const [k, at] of Object.entries(t.details.next as Record<string, string | null>)) process.stdout.write(`  next ${k}: ${at ?? 'never'}\n`);
        if (t.type === 'hotkey') process.stdout.write(`  devices: ${(t.details.devices as string[]).join(', ') || 'none'}\n`);
        if (t.type === 'file') process.stdout.write(`  file ${t.details.present ? 'present (engaged by it)' : 'absent'}\n`);
        for (const p of t.problems) process.stdout.write(`  problem: ${p}\n`);
      }
    });
}
