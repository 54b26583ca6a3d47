/** `vigil vmi <verb>` with only the vCPU verbs mounted, as the CLI will mount them (program.ts is wired at merge). */
import { Command } from 'commander';
import { vmiCpuCommands } from '../../src/cli/commands/vmi-cpu.js';
import { reportError } from '../../src/cli/output.js';

const vmi = new Command('vmi');
for (const c of vmiCpuCommands()) vmi.addCommand(c);
const program = new Command('vigil').addCommand(vmi);
try {
  await program.parseAsync(process.argv.slice(2), { from: 'user' });
} catch (err) {
  process.exitCode = reportError(err);
}
