/** `vigil qmp ...`: run a guarded QMP command, stream events, explain the guard's verdict. */
import { Command, Option } from 'commander';
import { resolvePaths } from '../../core/paths.js';
import { loadConfig } from '../../core/config.js';
import { QmpGuard } from '../../qmp/guard.js';
import { openMonitor } from '../../vm/monitor.js';
import { parseJsonArg, printJson, toJson } from '../output.js';

interface ExecOpts {
  allowDangerous?: boolean;
  purpose?: string;
  timeout: string;
  compact?: boolean;
}

function timeoutMs(text: string): number {
  const n = Number(text);
  return Number.isFinite(n) && n > 0 ? n : 30000;
}

/** Builds the `qmp` command group. */
export function qmpCommand(): Command {
  const qmp = new Command('qmp').description('talk to a VM\'s QEMU monitor through the QMP guard');

  qmp
    .command('exec', { isDefault: true })
    .description('run one QMP command and print its JSON reply (the default: vigil qmp <vm|socket> <command>)')
    .argument('<target>', 'VM name, QMP socket path, unix:PATH or tcp:HOST:PORT')
    .argument('<command>', 'QMP command, e.g. query-status')
    .argument('[json-args]', 'arguments as a JSON object, e.g. \'{"id": "cam0"}\'')
    .option('--allow-dangerous', 'run a command the guard classes as dangerous (still audited)')
    .option('--purpose <text>', 'what a memory dump is for (recorded in the audit log)')
    .option('--timeout <ms>', 'reply deadline in milliseconds', '30000')
    .option('--compact', 'print the reply on one line')
    .action(async (target: string, command: string, jsonArgs: string | undefined, opts: ExecOpts) => {
      const args = parseJsonArg(jsonArgs, 'json-args');
      const monitor = await openMonitor(target);
      try {
        const reply = await monitor.qmp.execute(command, args, {
          timeoutMs: timeoutMs(opts.timeout),
          ...(opts.allowDangerous ? { allowDangerous: true } : {}),
          ...(opts.purpose !== undefined ? { purpose: opts.purpose } : {}),
        });
        printJson(reply, opts.compact);
      } finally {
        await monitor.close();
      }
    });

  qmp
    .command('events')
    .description('stream the VM\'s QMP events as JSON lines until interrupted')
    .argument('<target>', 'VM name or QMP socket')
    .option('--name <event...>', 'only these events (e.g. --name STOP RESUME)')
    .option('--count <n>', 'exit after this many events')
    .action(async (target: string, opts: { name?: string[]; count?: string }) => {
      const monitor = await openMonitor(target);
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const limit = opts.count === undefined ? Number.POSITIVE_INFINITY : Number(opts.count);
      let seen = 0;
      process.stderr.write(`vigil: streaming events from ${monitor.target.vm} (Ctrl-C to stop)\n`);
      try {
        for await (const event of monitor.client.events({ signal: stop.signal, ...(opts.name ? { names: opts.name } : {}) })) {
          process.stdout.write(toJson(event, true) + '\n');
          if (++seen >= limit) break;
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await monitor.close();
      }
    });

  qmp
    .command('classify')
    .description('explain how the guard classes a command (with --vm, against that QEMU\'s schema and runtime directory)')
    .argument('<command>', 'QMP command')
    .argument('[json-args]', 'arguments as a JSON object')
    .addOption(new Option('--vm <target>', 'check against this VM (schema, runtime directory)'))
    .option('--allow-dangerous', 'show the verdict as if --allow-dangerous were given')
    .action(async (command: string, jsonArgs: string | undefined, opts: { vm?: string; allowDangerous?: boolean }) => {
      const args = parseJsonArg(jsonArgs, 'json-args') ?? {};
      if (opts.vm !== undefined) {
        const monitor = await openMonitor(opts.vm);
        try {
          printJson(await monitor.qmp.verdict(command, args, opts.allowDangerous ?? false));
        } finally {
          await monitor.close();
        }
        return;
      }
      const guard = new QmpGuard(loadConfig(resolvePaths()).qmp.rules);
      printJson(guard.check(command, args, { allowDangerous: opts.allowDangerous ?? false }));
    });

  return qmp;
}
