/** `vigil vm ...`: define VMs from YAML and drive their life cycle. */
import { Command } from 'commander';
import { createConnection } from 'node:net';
import { existsSync, readFileSync, statSync, watch } from 'node:fs';
import { VigilError } from '../../core/errors.js';
import type { Vm } from '../../vm/service.js';
import { vmSummary } from '../../vm/view.js';
import { Vigil } from '../../vigil.js';
import { printJson } from '../output.js';
import { addSnapshotCommands } from './vm-snapshot.js';
import { addStatsCommands } from './vm-stats.js';

function uptime(vm: Vm): string {
  if (!vm.startedAt || (vm.state !== 'running' && vm.state !== 'paused')) return '-';
  const s = Math.floor((Date.now() - Date.parse(vm.startedAt)) / 1000);
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.floor(s / 60)}m` : s < 172800 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86400)}d`;
}

function memory(mib: number): string {
  return mib % 1024 === 0 ? `${mib / 1024}G` : `${mib}M`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** Opens Vigil for one command and closes it afterwards, whatever happens. */
async function withVigil<T>(fn: (vigil: Vigil) => Promise<T> | T): Promise<T> {
  const vigil = Vigil.open();
  try {
    return await fn(vigil);
  } finally {
    vigil.close();
  }
}

function report(vm: Vm, verb: string, json: boolean | undefined): void {
  if (json) printJson(vmSummary(vm));
  else process.stdout.write(`${vm.name}: ${verb} (${vm.state}${vm.pid ? `, pid ${vm.pid}` : ''})\n`);
}

/** Attaches the terminal to the VM's serial console until Ctrl-] (or the VM stops). */
async function attachConsole(socketPath: string, name: string): Promise<void> {
  if (!existsSync(socketPath)) throw new VigilError('VIGIL_VM_STATE', `VM '${name}' has no serial console socket (is it running?)`, { context: { vm: name } });
  const socket = createConnection({ path: socketPath });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  process.stderr.write(`vigil: connected to ${name}'s console; press Ctrl-] to detach\n`);
  const stdin = process.stdin;
  const raw = stdin.isTTY;
  if (raw) stdin.setRawMode(true);
  await new Promise<void>((resolve) => {
    const done = (): void => {
      if (raw) stdin.setRawMode(false);
      // destroy, not pause: a paused stdin pipe can keep the process alive.
      stdin.destroy();
      socket.destroy();
      resolve();
    };
    stdin.on('data', (d: Buffer) => {
      if (d.includes(0x1d)) done();
      else socket.write(d);
    });
    socket.on('data', (d: Buffer) => process.stdout.write(d));
    socket.on('close', done);
    process.once('SIGINT', done);
    stdin.resume();
  });
}

/** Builds the `vm` command group. */
export function vmCommand(): Command {
  const vm = new Command('vm').description('define VMs from YAML and control their life cycle');

  vm.command('add')
    .description('define a VM from one or more YAML files (deep-merged in order, later files win)')
    .argument('<file...>', 'definition files')
    .option('--json', 'print the VM as JSON')
    .action((files: string[], opts: { json?: boolean }) => withVigil((v) => report(v.add(files), 'defined', opts.json)));

  vm.command('ls')
    .alias('list')
    .description('list VMs with their state')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) =>
      withVigil((v) => {
        const vms = v.list();
        if (opts.json) {
          printJson(vms.map(vmSummary));
          return;
        }
        if (vms.length === 0) {
          process.stdout.write("no VMs defined; add one with 'vigil vm add <file.yaml>'\n");
          return;
        }
        const rows = [['NAME', 'STATE', 'PID', 'CPUS', 'MEMORY', 'UPTIME', 'AUTOSTART', 'TAGS']];
        for (const x of vms) {
          const state = x.needsRestart ? `${x.state}*` : x.state;
          rows.push([x.name, state, x.pid ? String(x.pid) : '-', String(x.definition.cpus), memory(x.definition.memory), uptime(x), x.definition.autostart.enabled ? `yes (${x.definition.autostart.order})` : 'no', x.definition.tags.join(',')]);
        }
        process.stdout.write(table(rows) + '\n');
        if (vms.some((x) => x.needsRestart)) process.stdout.write('* definition changed; restart to apply\n');
      }),
    );

  vm.command('show')
    .description('show a VM: definition, state, recent state changes')
    .argument('<vm>')
    .option('--json', 'print JSON')
    .action((name: string, opts: { json?: boolean }) =>
      withVigil((v) => {
        const x = v.show(name);
        if (opts.json) {
          printJson(x);
          return;
        }
        const files = v.vms.files(name);
        process.stdout.write(
          [
            `name:        ${x.name}`,
            `state:       ${x.state}${x.needsRestart ? ' (definition changed; restart to apply)' : ''}`,
            `pid:         ${x.pid ?? '-'}`,
            `uptime:      ${uptime(x)}`,
            `cpus:        ${x.definition.cpus}`,
            `memory:      ${memory(x.definition.memory)}`,
            `accel:       ${x.definition.accel}`,
            `sources:     ${x.sources.join(', ') || '-'}`,
            `qmp socket:  ${files.qmpSocket}`,
            `serial log:  ${files.serialLog}`,
            'history:',
            ...x.history.map((h) => `  ${h.time} ${h.from ?? '-'} -> ${h.to}: ${h.reason}`),
          ].join('\n') + '\n',
        );
      }),
    );

  vm.command('start')
    .description('start VMs; returns when QEMU reports them running')
    .argument('<vm...>')
    .option('--json', 'print JSON')
    .action((names: string[], opts: { json?: boolean }) =>
      withVigil(async (v) => {
        for (const n of names) report(await v.start(n), 'started', opts.json);
      }),
    );

  vm.command('stop')
    .description('stop a VM: ACPI power-down, then quit after the timeout, then SIGKILL')
    .argument('<vm...>')
    .option('--force', 'skip the power-down request: quit at once')
    .option('--timeout <seconds>', 'how long the guest gets to power off', '30')
    .option('--json', 'print JSON')
    .action((names: string[], opts: { force?: boolean; timeout: string; json?: boolean }) =>
      withVigil(async (v) => {
        const timeoutMs = Number(opts.timeout) * 1000;
        if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
          throw new VigilError('VIGIL_INVALID_INPUT', `--timeout '${opts.timeout}' is not a number of seconds`, { context: { field: 'timeout' } });
        }
        for (const n of names) report(await v.stop(n, { force: opts.force ?? false, timeoutMs }), 'stopped', opts.json);
      }),
    );

  for (const [verb, past, describe] of [
    ['restart', 'restarted', 'stop (if running) and start a VM, picking up a changed definition'],
    ['pause', 'paused', 'pause the vCPUs'],
    ['resume', 'resumed', 'resume paused vCPUs'],
    ['reset', 'reset', 'reset the machine, as the reset button would'],
  ] as const) {
    vm.command(verb)
      .description(describe)
      .argument('<vm...>')
      .option('--json', 'print JSON')
      .action((names: string[], opts: { json?: boolean }) =>
        withVigil(async (v) => {
          for (const n of names) report(await v[verb](n), past, opts.json);
        }),
      );
  }

  vm.command('rm')
    .alias('remove')
    .description('forget a VM (stopped; --force stops it first)')
    .argument('<vm>')
    .option('--purge', 'also delete its logs and state files')
    .option('--force', 'stop it first if it runs')
    .action((name: string, opts: { purge?: boolean; force?: boolean }) =>
      withVigil(async (v) => {
        await v.remove(name, { purge: opts.purge ?? false, force: opts.force ?? false });
        process.stdout.write(`${name}: removed${opts.purge ? ' (state purged)' : ''}\n`);
      }),
    );

  vm.command('apply')
    .description("update a VM's definition from files; says whether a restart is needed")
    .argument('<file...>')
    .option('--json', 'print JSON')
    .action((files: string[], opts: { json?: boolean }) =>
      withVigil((v) => {
        const r = v.apply(files);
        if (opts.json) printJson({ vm: r.vm.name, changed: r.changed, needsRestart: r.needsRestart });
        else if (r.changed.length === 0) process.stdout.write(`${r.vm.name}: unchanged\n`);
        else process.stdout.write(`${r.vm.name}: changed ${r.changed.join(', ')}${r.needsRestart ? `; restart to apply ('vigil vm restart ${r.vm.name}')` : ''}\n`);
      }),
    );

  vm.command('console')
    .description('attach to the serial console (Ctrl-] detaches)')
    .argument('<vm>')
    .action((name: string) => withVigil((v) => attachConsole(v.vms.files(v.vms.get(name).name).serialSocket, name)));

  vm.command('logs')
    .description('print the serial console log')
    .argument('<vm>')
    .option('-n, --lines <n>', 'how many lines', '100')
    .option('-f, --follow', 'keep printing new output')
    .action((name: string, opts: { lines: string; follow?: boolean }) =>
      withVigil(async (v) => {
        process.stdout.write(v.logs(name, Number(opts.lines) || 100));
        if (!opts.follow) return;
        const file = v.vms.files(name).serialLog;
        let offset = existsSync(file) ? statSync(file).size : 0;
        await new Promise<void>((resolve) => {
          const watcher = watch(file, () => {
            const size = statSync(file).size;
            if (size < offset) offset = 0; // rotated
            if (size > offset) process.stdout.write(readFileSync(file).subarray(offset, size));
            offset = size;
          });
          process.once('SIGINT', () => {
            watcher.close();
            resolve();
          });
        });
      }),
    );

  addSnapshotCommands(vm);
  addStatsCommands(vm);
  return vm;
}
