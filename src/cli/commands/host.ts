/**
 * `vigil host ports|lockdown|agent`: the listening-port audit, named lockdowns, and the host agent run in the
 * foreground (vigild runs the same agent when it is wired in).
 */
import { Command } from 'commander';
import { userInfo } from 'node:os';
import { HostAgent } from '../../host/agent.js';
import { vigilActionSink } from '../../host/lockdown/sink.js';
import { listListeners, PortWatcher, type Listener } from '../../host/ports/audit.js';
import { KillswitchEngine } from '../../killswitch/engine.js';
import { readInventory } from '../../sysfs/inventory.js';
import { findBinary } from '../../vm/preflight.js';
import { Vigil } from '../../vigil.js';
import { loadConfig } from '../../core/config.js';
import { resolvePaths } from '../../core/paths.js';
import { printJson, toJson } from '../output.js';

function row(l: Listener): string {
  const addr = l.family === 6 ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`;
  const hidden = process.getuid?.() === 0 ? '? (no process here holds it: another PID namespace, or the kernel)' : "? (run as root to see other users' processes)";
  const procs = l.processes.map((p) => `${p.name}[${p.pid}]`).join(',') || hidden;
  return `${`${l.proto}${l.family === 6 ? '6' : ''}`.padEnd(5)} ${addr.padEnd(28)} ${l.user.padEnd(10)} ${l.allowed ? 'allowed' : 'NOT ALLOWED'}${l.allowedBy ? ` (${l.allowedBy})` : ''}  ${procs}`;
}

/** Resolves on Ctrl-C or SIGTERM, keeping the process alive meanwhile (the watchers' timers do not). */
function untilSignal(): Promise<void> {
  const keepAlive = setInterval(() => undefined, 1 << 30);
  return new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  }).finally(() => clearInterval(keepAlive));
}

function agentFor(vigil: Vigil, onEvent?: ConstructorParameters<typeof HostAgent>[0]['onEvent']): HostAgent {
  const killswitch = new KillswitchEngine({ db: vigil.db, vms: vigil.vms, audit: vigil.audit, paths: vigil.paths, logger: vigil.logger, inventory: () => readInventory() });
  let qemuBinary: string | undefined;
  try {
    qemuBinary = findBinary(vigil.config.qemu.binary);
  } catch {
    qemuBinary = undefined;
  }
  return new HostAgent({
    config: vigil.config.host,
    paths: vigil.paths,
    db: vigil.db,
    audit: vigil.audit,
    logger: vigil.logger,
    sink: vigilActionSink({ vms: vigil.vms, killswitch, logger: vigil.logger }),
    vms: () => vigil.list(),
    qemuBinary,
    ...(onEvent ? { onEvent } : {}),
  });
}

/** Builds the `host` command group. */
export function hostCommand(): Command {
  const host = new Command('host').description('the host agent: listening ports, lockdowns, honeypots and canaries');

  host
    .command('ports')
    .description('every listening TCP/UDP socket (v4 and v6) with its process, compared with host.ports.allow')
    .option('--json', 'print JSON (with --watch: one object per new listener)')
    .option('--watch', 'keep polling and report each new listener')
    .option('--interval <sec>', 'poll period with --watch (default host.ports.intervalSec)')
    .action(async (opts: { json?: boolean; watch?: boolean; interval?: string }) => {
      const config = loadConfig(resolvePaths());
      const allow = config.host.ports.allow;
      const now = await listListeners(allow);
      if (opts.json && !opts.watch) return printJson(now);
      if (!opts.json) for (const l of now) process.stdout.write(row(l) + '\n');
      if (!opts.watch) return;
      const intervalMs = (opts.interval === undefined ? config.host.ports.intervalSec : Math.max(0.1, Number(opts.interval))) * 1000;
      const watcher = new PortWatcher({ allow: () => allow, intervalMs }, (fresh) => {
        for (const l of fresh) process.stdout.write(opts.json ? toJson({ new: true, time: new Date().toISOString(), ...l }, true) + '\n' : `${new Date().toISOString()} new: ${row(l)}\n`);
      });
      await watcher.start();
      process.stderr.write('vigil: watching for new listeners (Ctrl-C to stop)\n');
      await untilSignal();
      watcher.stop();
    });

  host
    .command('lockdown <name>')
    .description('run a named lockdown from host.lockdowns now (kill switch, pause VMs, webhooks; api-local-only needs vigild)')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { json?: boolean }) => {
      const vigil = Vigil.open();
      try {
        const r = await agentFor(vigil).lockdown(name, { source: 'cli', principal: userInfo().username });
        if (opts.json) return printJson(r);
        process.stdout.write(`lockdown ${name}:\n`);
        for (const o of r.outcomes) process.stdout.write(`  ${o.action.padEnd(15)} ${o.outcome}${o.error ? `: ${o.error}` : ''} (${Math.round(o.elapsedMs)} ms)\n`);
      } finally {
        vigil.close();
      }
    });

  host
    .command('agent')
    .description('run the host agent (honeypots, canaries, port and FIM watch from config.yaml) in the foreground; alarms as JSON lines')
    .action(async () => {
      const vigil = Vigil.open();
      const agent = agentFor(vigil, (e) => process.stdout.write(toJson(e, true) + '\n'));
      try {
        const status = await agent.start();
        process.stderr.write(`vigil: host agent running: ${JSON.stringify(status)} (Ctrl-C to stop)\n`);
        await untilSignal();
      } finally {
        await agent.stop();
        vigil.close();
      }
    });
  return host;
}
