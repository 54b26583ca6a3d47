/** `vigil serve` (run vigild in the foreground) and `vigil install-service` (a systemd unit for it). */
import { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VigilError } from '../../core/errors.js';
import { createLogger } from '../../core/log.js';
import { handleSignals, startDaemon } from '../../daemon/daemon.js';

/** The systemd unit text for vigild. */
export function systemdUnit(options: { node: string; main: string; home?: string | undefined }): string {
  const env = options.home ? `Environment=VIGIL_HOME=${options.home}\n` : '';
  return `[Unit]
Description=Vigil: QEMU/KVM VM supervisor (vigild)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=${options.node} ${options.main}
ExecReload=/bin/kill -HUP $MAINPID
${env}# VMs run as daemonized QEMUs in this unit's cgroup: kill only vigild on stop so they keep running
# and are re-adopted when it starts again.
KillMode=process
Restart=on-failure
RestartSec=2

[Install]
WantedBy=multi-user.target
`;
}

/** Builds `serve` and `install-service`. */
export function daemonCommands(): Command[] {
  const serve = new Command('serve')
    .description('run vigild in the foreground (the same as bin/vigild)')
    .option('--port <port>', 'API port (overrides config api.port and VMM_API_PORT)')
    .action(async (opts: { port?: string }) => {
      const log = createLogger({ name: 'vigild' });
      const port = opts.port === undefined ? undefined : Number(opts.port);
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
        throw new VigilError('VIGIL_INVALID_INPUT', `--port '${opts.port}' is not a TCP port (0-65535)`, { context: { field: 'port' } });
      }
      handleSignals(await startDaemon({ logger: log, ...(port !== undefined ? { port } : {}) }), log);
      await new Promise(() => undefined);
    });

  const install = new Command('install-service')
    .description('write a systemd unit for vigild and print what was written')
    .option('-o, --output <file>', 'where to write the unit', '/etc/systemd/system/vigild.service')
    .option('--home <dir>', 'run vigild with VIGIL_HOME=<dir>')
    .action((opts: { output: string; home?: string }) => {
      const main = resolve(dirname(fileURLToPath(import.meta.url)), '../../daemon/main.js');
      const unit = systemdUnit({ node: process.execPath, main, home: opts.home ? resolve(opts.home) : undefined });
      mkdirSync(dirname(opts.output), { recursive: true });
      writeFileSync(opts.output, unit, { mode: 0o644 });
      process.stdout.write(`wrote ${opts.output}:\n\n${unit}\nthen run: systemctl daemon-reload && systemctl enable --now vigild\n`);
    });

  return [serve, install];
}
