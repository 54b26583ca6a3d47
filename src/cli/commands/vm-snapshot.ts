/** `vigil vm snapshot create|ls|restore|rm <vm> [name]`: disk-and-memory snapshots in the VM's qcow2 disks. */
import type { Command } from 'commander';
import type { SnapshotResult } from '../../vm/snapshot/service.js';
import { Vigil } from '../../vigil.js';
import { printJson } from '../output.js';
import { humanBytes } from './image.js';

async function withVigil<T>(fn: (vigil: Vigil) => Promise<T>): Promise<T> {
  const vigil = Vigil.open();
  try {
    return await fn(vigil);
  } finally {
    vigil.close();
  }
}

function done(r: SnapshotResult, verb: string, json: boolean | undefined): void {
  if (json) return printJson(r);
  process.stdout.write(`${r.vm}: ${r.kind === 'external' ? 'disk-only ' : ''}snapshot '${r.name}' ${verb} in ${(r.ms / 1000).toFixed(2)} s\n`);
  if (r.dropped?.length) process.stderr.write(`vigil: newer disk-only snapshots deleted: ${r.dropped.join(', ')}\n`);
  if (r.skipped.length > 0) process.stderr.write(`vigil: not covered (raw or read-only disks): ${r.skipped.join(', ')}\n`);
}

function progress(json: boolean | undefined): ((p: number) => void) | undefined {
  if (json || !process.stderr.isTTY) return undefined;
  return (p) => process.stderr.write(`\r${p.toFixed(0).padStart(3)}%`);
}

/** Adds `snapshot` to the `vm` command group. */
export function addSnapshotCommands(vm: Command): void {
  const snap = vm.command('snapshot').description("snapshots: memory and disks inside the VM's qcow2 disks, or disk-only overlays of its raw disks");

  snap
    .command('create')
    .description('snapshot a running VM (its memory and every writable qcow2 disk; the guest pauses while it is written), or with --disk-only freeze every writable raw disk under a qcow2 overlay')
    .argument('<vm>', 'VM name')
    .argument('[name]', 'snapshot name (default: snap-<time>)')
    .option('--disk-only', 'an external disk-only snapshot of the raw disks (no memory): their files are frozen, new writes go to qcow2 overlays')
    .option('--json', 'print JSON')
    .action((name: string, snapName: string | undefined, opts: { json?: boolean; diskOnly?: boolean }) =>
      withVigil(async (v) => {
        const onProgress = progress(opts.json);
        done(await v.snapshots.create(name, snapName, { ...(opts.diskOnly ? { diskOnly: true } : {}), ...(onProgress ? { onProgress } : {}) }), 'created', opts.json);
      }),
    );

  snap
    .command('ls')
    .alias('list')
    .description("list a VM's snapshots")
    .argument('<vm>', 'VM name')
    .option('--json', 'print JSON')
    .action((name: string, opts: { json?: boolean }) =>
      withVigil(async (v) => {
        const list = await v.snapshots.list(name);
        if (opts.json) return printJson(list);
        if (list.length === 0) return void process.stdout.write(`${name}: no snapshots\n`);
        const w = Math.max(4, ...list.map((s) => s.name.length));
        process.stdout.write(`${'NAME'.padEnd(w)}  ${'KIND'.padEnd(8)}  ${'MEMORY'.padEnd(8)}  DATE\n`);
        for (const s of list) process.stdout.write(`${s.name.padEnd(w)}  ${s.kind.padEnd(8)}  ${(s.kind === 'external' ? '-' : humanBytes(s.vmStateSize)).padEnd(8)}  ${s.date}\n`);
      }),
    );

  snap
    .command('restore')
    .description("bring back a snapshot: memory and disks of a running VM, or (disk-only snapshots) the disks of a stopped VM; the current state is lost")
    .argument('<vm>', 'VM name')
    .argument('<name>', 'snapshot name')
    .option('--json', 'print JSON')
    .action((name: string, snapName: string, opts: { json?: boolean }) =>
      withVigil(async (v) => done(await v.snapshots.restore(name, snapName, progress(opts.json)), 'restored', opts.json)),
    );

  snap
    .command('rm')
    .description('delete a snapshot (a disk-only one is merged away, with the VM stopped; the disks keep their content)')
    .argument('<vm>', 'VM name')
    .argument('<name>', 'snapshot name')
    .option('--json', 'print JSON')
    .action((name: string, snapName: string, opts: { json?: boolean }) => withVigil(async (v) => done(await v.snapshots.remove(name, snapName), 'removed', opts.json)));

  // program.ts makes two levels of commands throw instead of exiting; these sit one level deeper.
  for (const c of [snap, ...snap.commands]) c.exitOverride();
}
