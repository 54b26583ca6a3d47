/**
 * Assembles the guest image from the two downloaded packages: the kernel, its config, and a small gzip'd newc
 * initramfs (static busybox with applet symlinks, a handful of kernel modules, a default /init).
 */
import { copyFile, mkdir, readdir, readFile, stat, symlink, writeFile, chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { downloadPackages, type ResolvedPackages } from './apt.js';
import { defaultInitScript } from './init-script.js';
import { run } from './run.js';

/**
 * Modules shipped in the base initramfs (not loaded at boot): `dummy` gives tests a network device without
 * hardware, the virtio ones let a hot-plugged virtio-net/virtio-blk device bind. Paths under kernel/.
 */
export const GUEST_MODULES: readonly string[] = [
  'drivers/net/dummy.ko',
  'drivers/virtio/virtio.ko',
  'drivers/virtio/virtio_ring.ko',
  'drivers/virtio/virtio_pci.ko',
  'drivers/virtio/virtio_pci_legacy_dev.ko',
  'drivers/virtio/virtio_pci_modern_dev.ko',
  'net/core/failover.ko',
  'drivers/net/net_failover.ko',
  'drivers/net/virtio_net.ko',
  'drivers/block/virtio_blk.ko',
];

/** File names inside a built image directory. */
export const IMAGE_FILES = { kernel: 'vmlinuz', baseInitrd: 'base.cpio.gz', kernelConfig: 'config', manifest: 'manifest.json' } as const;

const DECOMPRESSORS: readonly (readonly [suffix: string, tool: string])[] = [
  ['', ''],
  ['.xz', 'xz'],
  ['.zst', 'zstd'],
  ['.gz', 'gzip'],
];

/** Copies one module into the staging tree uncompressed, whatever compression the package used. */
async function copyModule(srcKernelDir: string, dstKernelDir: string, rel: string): Promise<boolean> {
  for (const [suffix, tool] of DECOMPRESSORS) {
    const src = join(srcKernelDir, rel + suffix);
    if (!(await exists(src))) continue;
    const dst = join(dstKernelDir, rel);
    await mkdir(dirname(dst), { recursive: true });
    if (tool === '') await copyFile(src, dst);
    else await run('sh', ['-c', `${tool} -dc "$0" > "$1"`, src, dst]);
    return true;
  }
  return false;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Lists every path under `root` (relative, parents first) for cpio's stdin, in a stable order. */
async function listTree(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true });
  return entries.sort();
}

/** Builds the staging root of the base initramfs from unpacked packages. */
async function stageRoot(unpacked: string, root: string, release: string, log: (line: string) => void): Promise<void> {
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'tmp', 'run', 'root', 'etc', 'var/log', 'mnt']) {
    await mkdir(join(root, d), { recursive: true, mode: 0o755 });
  }
  await chmod(join(root, 'tmp'), 0o1777);
  const busybox = join(root, 'bin/busybox');
  await copyFile(join(unpacked, 'bin/busybox'), busybox);
  await chmod(busybox, 0o755);
  // The guest's busybox is static, so it runs on the host too and can list its own applets.
  const applets = (await run(busybox, ['--list-full'])).stdout.split('\n').filter((p) => p !== '' && p.includes('/'));
  for (const applet of applets) {
    if (applet === 'bin/busybox') continue;
    await mkdir(dirname(join(root, applet)), { recursive: true });
    await symlink('/bin/busybox', join(root, applet));
  }
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\n');
  await writeFile(join(root, 'init'), defaultInitScript(), { mode: 0o755 });

  const modSrc = join(unpacked, 'lib/modules', release);
  const modDst = join(root, 'lib/modules', release);
  const copied: string[] = [];
  for (const rel of GUEST_MODULES) if (await copyModule(join(modSrc, 'kernel'), join(modDst, 'kernel'), rel)) copied.push(rel);
  log(`modules: ${copied.map((m) => m.replace(/^.*\//, '')).join(' ') || '(none found)'}`);
  if (copied.length > 0) {
    for (const f of ['modules.builtin', 'modules.order']) if (await exists(join(modSrc, f))) await copyFile(join(modSrc, f), join(modDst, f));
    // The .deb ships no modules.dep (depmod runs at install time); busybox's depmod makes one for modprobe.
    await run(busybox, ['depmod', '-b', root, release]);
  }
}

/** Downloads, unpacks and assembles an image into `outDir`, using `workDir` for scratch (caller deletes it). */
export async function buildBaseImage(pkgs: ResolvedPackages, workDir: string, outDir: string, log: (line: string) => void): Promise<void> {
  const debs = join(workDir, 'debs');
  const unpacked = join(workDir, 'unpacked');
  const root = join(workDir, 'root');
  await mkdir(debs, { recursive: true });
  const { kernelDeb, busyboxDeb } = await downloadPackages(pkgs, debs, log);
  log('unpacking');
  for (const deb of [kernelDeb, busyboxDeb]) await run('dpkg', ['-x', deb, unpacked]);
  const vmlinuz = join(unpacked, 'boot', `vmlinuz-${pkgs.kernelRelease}`);
  if (!(await exists(vmlinuz))) throw new Error(`${kernelDeb} has no boot/vmlinuz-${pkgs.kernelRelease}`);
  await copyFile(vmlinuz, join(outDir, IMAGE_FILES.kernel));
  await copyFile(join(unpacked, 'boot', `config-${pkgs.kernelRelease}`), join(outDir, IMAGE_FILES.kernelConfig));

  log('building base initramfs');
  await stageRoot(unpacked, root, pkgs.kernelRelease, log);
  const cpioPath = join(outDir, 'base.cpio');
  const list = (await listTree(root)).join('\n') + '\n';
  await run('sh', ['-c', 'cpio -o -H newc -R 0:0 --quiet > "$0"', cpioPath], { cwd: root, input: list });
  await run('gzip', ['-9n', cpioPath]);
  const size = (await stat(join(outDir, IMAGE_FILES.baseInitrd))).size;
  log(`base initramfs: ${(size / 1024).toFixed(0)} KiB`);
  await writeFile(join(outDir, IMAGE_FILES.manifest), JSON.stringify({ ...pkgs, modules: GUEST_MODULES }, null, 2) + '\n');
  // A sanity read: a truncated gzip here would only show up as a kernel panic much later.
  await readFile(join(outDir, IMAGE_FILES.baseInitrd)).then((b) => {
    if (b.length < 1024 || b[0] !== 0x1f || b[1] !== 0x8b) throw new Error('base initramfs is not a gzip file');
  });
}
