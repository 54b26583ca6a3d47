/** `vigil serve` (run vigild in the foreground) and `vigil install-service` (a systemd unit for it). */
import { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VigilError } from '../../core/errors.js';
import { createLogger } from '../../core/log.js';
import { handleSignals, startDaemon } from '../../daemon/daemon.js';
import { GUARDIAN_UNIT, guardianUnit, udevRules } from '../../killswitch/guardian/install.js';

/** The systemd unit text for vigild. */
export function systemdUnit(options: { node: string; main: string; home?: string | undefined }): string {
  const env = options.home ? `Environment=VIGIL_HOME=${options.home}\n` : '';
  return `[Unit]
Description=Vigil: QEMU/KVM VM supervisor (vigild)
After=network-online.target
Wants=network-online.target vigil-guardian.service

[Service]
Type=simple
ExecStart=${options.node} ${options.main}
ExecReload=/bin/kill -HUP $MAINPID
# Each keyboard the hotkey trigger reads holds one libuv pool thread while it waits for a key.
Environment=UV_THREADPOOL_SIZE=32
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
    .description("write vigild's systemd unit, the kill switch guardian's unit and udev rules for device access; print what was written")
    .option('-o, --output <file>', 'where to write the unit', '/etc/systemd/system/vigild.service')
    .option('--home <dir>', 'run vigild with VIGIL_HOME=<dir>')
    .option('--guardian-output <file>', `where to write the guardian's unit (default: ${GUARDIAN_UNIT} beside --output)`)
    .option('--udev-rules <file>', 'where to write the udev rules', '/etc/udev/rules.d/70-vigil.rules')
    .option('--group <name>', 'the group given access to VFIO, USB, input and GPIO devices', 'vigil')
    .option('--no-guardian', "write vigild's unit only")
    .action((opts: { output: string; home?: string; guardianOutput?: string; udevRules: string; group: string; guardian: boolean }) => {
      if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(opts.group)) throw new VigilError('VIGIL_INVALID_INPUT', `--group '${opts.group}' is not a group name`, { context: { field: 'group' } });
      const here = dirname(fileURLToPath(import.meta.url));
      const home = opts.home ? resolve(opts.home) : undefined;
      const files: { path: string; text: string }[] = [{ path: opts.output, text: systemdUnit({ node: process.execPath, main: resolve(here, '../../daemon/main.js'), home }) }];
      if (opts.guardian) {
        files.push({ path: opts.guardianOutput ?? join(dirname(opts.output), GUARDIAN_UNIT), text: guardianUnit({ node: process.execPath, main: resolve(here, '../../killswitch/guardian/main.js'), home }) });
        files.push({ path: opts.udevRules, text: udevRules(opts.group) });
      }
      for (const f of files) {
        mkdirSync(dirname(f.path), { recursive: true });
        writeFileSync(f.path, f.text, { mode: 0o644 });
        process.stdout.write(`wrote ${f.path}:\n\n${f.text}\n`);
      }
      const enable = opts.guardian ? 'vigil-guardian vigild' : 'vigild';
      process.stdout.write(`then run: systemctl daemon-reload && systemctl enable --now ${enable}${opts.guardian ? ' && udevadm control --reload-rules && udevadm trigger' : ''}\n`);
    });

  return [serve, install];
}
