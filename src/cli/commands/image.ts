/** `vigil image ...`: disk images in the images directory (qemu-img underneath). */
import { Command } from 'commander';
import type { Image } from '../../images/service.js';
import { parseSize } from '../../images/service.js';
import { Vigil } from '../../vigil.js';
import { printJson } from '../output.js';

async function withVigil<T>(fn: (vigil: Vigil) => Promise<T>): Promise<T> {
  const vigil = Vigil.open();
  try {
    return await fn(vigil);
  } finally {
    vigil.close();
  }
}

/** Bytes in the largest unit that keeps a whole-ish number (KiB, MiB, GiB). */
export function humanBytes(n: number | undefined): string {
  if (n === undefined) return '-';
  const units = ['B', 'K', 'M', 'G', 'T'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)}${units[i]}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

function describe(img: Image): string {
  const lines = [
    `name:          ${img.name}`,
    `path:          ${img.path}`,
    `format:        ${img.format ?? '?'}`,
    `virtual size:  ${humanBytes(img.virtualSize)}${img.virtualSize !== undefined ? ` (${img.virtualSize} bytes)` : ''}`,
    `disk size:     ${humanBytes(img.actualSize)}`,
    `backing chain: ${img.backingChain.length === 0 ? '-' : img.backingChain.map((b) => `${b.file} (${b.format ?? '?'})`).join(' <- ')}`,
    `used by:       ${img.usedBy.join(', ') || '-'}`,
    `defined in:    ${img.definedIn.join(', ') || '-'}`,
  ];
  if (img.snapshots?.length) lines.push(`snapshots:     ${img.snapshots.map((s) => s.name).join(', ')}`);
  if (img.error) lines.push(`error:         ${img.error}`);
  return `${lines.join('\n')}\n`;
}

/** A one-line progress bar, redrawn in place on a terminal. */
function progressBar(percent: number, width = 30): string {
  const filled = Math.round((percent / 100) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${percent.toFixed(1).padStart(5)}%`;
}

/** The `image` command group. */
export function imageCommand(): Command {
  const image = new Command('image').description('disk images in the images directory (VMM_IMAGES_DIR or images.dir in config.yaml)');

  image
    .command('ls')
    .alias('list')
    .description('list images with format, sizes, backing file and the running VMs using them')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) =>
      withVigil(async (v) => {
        const images = await v.images.list();
        if (opts.json) return printJson({ dir: v.images.dir, images });
        if (images.length === 0) return void process.stdout.write(`no images in ${v.images.dir}\n`);
        const rows = [['NAME', 'FORMAT', 'VIRTUAL', 'DISK', 'BACKING', 'USED BY']];
        for (const i of images) rows.push([i.name, i.error ? 'error' : (i.format ?? '?'), humanBytes(i.virtualSize), humanBytes(i.actualSize), i.backingChain[0]?.file ?? '-', i.usedBy.join(',') || '-']);
        process.stdout.write(`${table(rows)}\n`);
      }),
    );

  image
    .command('info')
    .description('one image with its backing chain and snapshots')
    .argument('<name>', 'image file name in the images directory')
    .option('--json', 'print JSON')
    .action((name: string, opts: { json?: boolean }) =>
      withVigil(async (v) => {
        const img = await v.images.info(name);
        if (opts.json) printJson(img);
        else process.stdout.write(describe(img));
      }),
    );

  image
    .command('create')
    .description('create an empty image, or a qcow2 overlay on a backing image')
    .argument('<name>', 'new image file name')
    .option('--size <size>', 'virtual size: 10G, 512M, bytes (a backing image gives its own size)')
    .option('--format <format>', 'raw or qcow2', 'qcow2')
    .option('--backing <image>', 'an image in the directory to put below the new one (qcow2 only)')
    .option('--json', 'print JSON')
    .action((name: string, opts: { size?: string; format: string; backing?: string; json?: boolean }) =>
      withVigil(async (v) => {
        const img = await v.images.create(name, {
          format: opts.format as 'raw',
          ...(opts.size !== undefined ? { size: parseSize(opts.size) } : {}),
          ...(opts.backing !== undefined ? { backing: opts.backing } : {}),
        });
        if (opts.json) printJson(img);
        else process.stdout.write(`${img.name}: created (${img.format}, ${humanBytes(img.virtualSize)})\n`);
      }),
    );

  image
    .command('convert')
    .description('convert an image into a new one (e.g. qcow2 to raw for speed), with a progress bar on a terminal')
    .argument('<src>', 'source image name')
    .argument('<dst>', 'new image name')
    .requiredOption('--format <format>', 'raw or qcow2')
    .option('--json', 'print JSON')
    .action((src: string, dst: string, opts: { format: string; json?: boolean }) =>
      withVigil(async (v) => {
        const tty = process.stderr.isTTY && !opts.json;
        const controller = new AbortController();
        const onSigint = (): void => controller.abort();
        process.on('SIGINT', onSigint);
        try {
          const img = await v.images.convert(src, dst, {
            format: opts.format,
            signal: controller.signal,
            ...(tty ? { onProgress: (p: number) => process.stderr.write(`\r${progressBar(p)}`) } : {}),
          });
          if (tty) process.stderr.write('\n');
          if (opts.json) printJson(img);
          else process.stdout.write(`${img.name}: converted from ${src} (${img.format}, ${humanBytes(img.actualSize)} on disk)\n`);
        } finally {
          process.off('SIGINT', onSigint);
        }
      }),
    );

  image
    .command('rm')
    .description('delete an image (refused while a running VM uses it, directly or as a backing file)')
    .argument('<name>', 'image file name')
    .action((name: string) =>
      withVigil(async (v) => {
        await v.images.remove(name);
        process.stdout.write(`${name}: removed\n`);
      }),
    );

  return image;
}
