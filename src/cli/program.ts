/** The `vigil` command line: thin fronts over the library's calls. */
import { Command, CommanderError } from 'commander';
import { auditCommand } from './commands/audit.js';
import { imageCommand } from './commands/image.js';
import { importCommand } from './commands/import.js';
import { daemonCommands } from './commands/daemon.js';
import { devicesCommand } from './commands/devices.js';
import { keyCommands } from './commands/keys.js';
import { killswitchCommand } from './commands/killswitch.js';
import { fimCommand } from './commands/fim.js';
import { hostCommand } from './commands/host.js';
import { qmpCommand } from './commands/qmp.js';
import { vmCommand } from './commands/vm.js';
import { vmiCommand } from './commands/vmi.js';
import { EXIT } from './exit-codes.js';
import { reportError } from './output.js';
import { VERSION } from '../version.js';

/** Builds the program (exported for tests). */
export function buildProgram(): Command {
  const program = new Command('vigil')
    .description('Vigil: keeps QEMU/KVM virtual machines under watch and under control')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)');
  program.addCommand(vmCommand());
  program.addCommand(qmpCommand());
  program.addCommand(auditCommand());
  program.addCommand(imageCommand());
  program.addCommand(importCommand());
  program.addCommand(devicesCommand());
  program.addCommand(killswitchCommand());
  program.addCommand(vmiCommand());
  program.addCommand(fimCommand());
  program.addCommand(hostCommand());
  for (const c of daemonCommands()) program.addCommand(c);
  for (const c of keyCommands()) program.addCommand(c);
  for (const cmd of [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)]) cmd.exitOverride();
  return program;
}

/** Runs the CLI with `argv` and returns the exit status. */
export async function runCli(argv: readonly string[]): Promise<number> {
  // Ctrl-C cancels (exit 2) unless a streaming command handles it itself to end cleanly.
  process.on('SIGINT', () => {
    if (process.listenerCount('SIGINT') > 1) return;
    process.stderr.write('vigil: cancelled\n');
    process.exit(EXIT.CANCELLED);
  });
  try {
    // A command that reports through its status (fim check's bitmask, killswitch validate) sets process.exitCode;
    // it is handed back and the previous value restored, so in-process callers (tests) do not inherit it.
    const before = process.exitCode;
    try {
      await buildProgram().parseAsync([...argv], { from: 'user' });
      return typeof process.exitCode === 'number' && process.exitCode !== before ? process.exitCode : EXIT.OK;
    } finally {
      process.exitCode = before;
    }
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here too, with exit code 0.
      return err.exitCode === 0 ? EXIT.OK : EXIT.BAD_CONFIG;
    }
    return reportError(err);
  }
}
