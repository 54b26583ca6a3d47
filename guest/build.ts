/**
 * The cached test guest image. Built once per set of inputs (kernel and busybox versions, build logic version)
 * under <cache>/guest/<key>/, atomically: a build happens in a temp directory renamed into place, so a killed
 * build never leaves a half-built image behind.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VigilError } from '../src/core/errors.js';
import { resolvePaths } from '../src/core/paths.js';
import { resolvePackages, type ResolvedPackages } from './apt.js';
import { buildBaseImage, GUEST_MODULES, IMAGE_FILES } from './base-image.js';
import { newcArchive } from './cpio.js';

/** Bump when the build logic or the base initramfs layout changes: it is part of the cache key. */
export const GUEST_FORMAT_VERSION = 1;

/** A built guest: boot it with `-kernel kernel -initrd <makeInitrd(...)>`. */
export interface GuestImage {
  /** The kernel (bzImage). */
  kernel: string;
  /** The gzip'd newc base initramfs (busybox, modules, a default /init). */
  baseInitrd: string;
  /** The kernel release (`uname -r` in the guest), e.g. 6.1.0-56-cloud-amd64. */
  kernelVersion: string;
  /** The image's cache directory. */
  dir: string;
  /** The kernel's build configuration (/boot/config-*), for tests that depend on a kernel feature. */
  kernelConfig: string;
}

/** Options of `ensureGuestImage`. */
export interface EnsureGuestImageOptions {
  /** The Vigil cache directory (default: resolvePaths().cache). */
  cacheDir?: string;
  /** Progress lines (downloads, build steps). */
  log?: (line: string) => void;
}

const APT_LISTS = '/var/lib/apt/lists';
const RESOLVED_FILE = 'resolved.json';
const TMP_PREFIX = '.tmp-';

interface ResolvedCache {
  aptListsMtimeMs: number;
  packages: ResolvedPackages;
}

function cacheKey(pkgs: ResolvedPackages): string {
  const inputs = { format: GUEST_FORMAT_VERSION, kernel: `${pkgs.kernelPackage}=${pkgs.kernelPackageVersion}`, busybox: pkgs.busyboxVersion, modules: GUEST_MODULES };
  return createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 16);
}

async function aptListsMtime(): Promise<number> {
  return stat(APT_LISTS).then(
    (s) => s.mtimeMs,
    () => 0,
  );
}

/**
 * The package versions to build from. Asking apt costs about a second, so the answer is kept in resolved.json
 * and asked again only when apt's lists changed (apt-get update touches their directory).
 */
async function resolvedPackages(guestDir: string, log: (line: string) => void): Promise<ResolvedPackages> {
  const file = join(guestDir, RESOLVED_FILE);
  const mtime = await aptListsMtime();
  try {
    const cached = JSON.parse(await readFile(file, 'utf8')) as ResolvedCache;
    if (cached.aptListsMtimeMs === mtime && typeof cached.packages.kernelRelease === 'string') return cached.packages;
  } catch {
    // Missing or unreadable: resolve again below.
  }
  log('resolving package versions with apt-cache');
  const packages = await resolvePackages(log);
  const entry: ResolvedCache = { aptListsMtimeMs: await aptListsMtime(), packages };
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(entry, null, 2) + '\n');
  await rename(tmp, file);
  return packages;
}

function imageAt(dir: string, pkgs: ResolvedPackages): GuestImage {
  return {
    kernel: join(dir, IMAGE_FILES.kernel),
    baseInitrd: join(dir, IMAGE_FILES.baseInitrd),
    kernelVersion: pkgs.kernelRelease,
    dir,
    kernelConfig: join(dir, IMAGE_FILES.kernelConfig),
  };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temp build directories left by builds whose process is gone (killed mid-build). */
async function sweepStaleBuilds(guestDir: string): Promise<void> {
  for (const name of await readdir(guestDir)) {
    const pid = /^\.tmp-[0-9a-f]+-(\d+)-/.exec(name)?.[1];
    if (pid !== undefined && !pidAlive(Number(pid))) await rm(join(guestDir, name), { recursive: true, force: true });
  }
}

/** Returns the cached guest image for the current Debian packages, downloading and building it first if needed. */
export async function ensureGuestImage(opts: EnsureGuestImageOptions = {}): Promise<GuestImage> {
  const log = opts.log ?? (() => undefined);
  const guestDir = join(opts.cacheDir ?? resolvePaths().cache, 'guest');
  try {
    await mkdir(guestDir, { recursive: true });
    const pkgs = await resolvedPackages(guestDir, log);
    const dir = join(guestDir, cacheKey(pkgs));
    const image = imageAt(dir, pkgs);
    if (await stat(join(dir, IMAGE_FILES.manifest)).then(() => true, () => false)) return image;

    await sweepStaleBuilds(guestDir);
    log(`building guest image ${pkgs.kernelRelease} into ${dir}`);
    const tmp = await mkdtemp(join(guestDir, `${TMP_PREFIX}${cacheKey(pkgs)}-${process.pid}-`));
    try {
      const out = join(tmp, 'image');
      await mkdir(out);
      await buildBaseImage(pkgs, join(tmp, 'work'), out, log);
      try {
        await rename(out, dir);
      } catch (err) {
        // A concurrent build finished first: its image is as good as ours.
        if (!['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    log('guest image ready');
    return image;
  } catch (err) {
    if (err instanceof VigilError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new VigilError('VIGIL_GUEST_BUILD', `could not build the test guest: ${message}`, { cause: err, context: { cacheDir: guestDir } });
  }
}

/**
 * Writes `outPath` = the base initramfs followed by a one-file archive holding `initScript` as /init. The kernel
 * unpacks concatenated archives in order and later files win, so each test gets its own /init without a rebuild.
 */
export async function makeInitrd(image: GuestImage, initScript: string, outPath: string): Promise<string> {
  const base = await readFile(image.baseInitrd);
  // An uncompressed archive must start 4-byte aligned or the kernel skips it as padding garbage.
  const padding = Buffer.alloc((4 - (base.length % 4)) % 4);
  const overlay = newcArchive([{ name: 'init', perm: 0o755, data: Buffer.from(initScript, 'utf8') }]);
  await writeFile(outPath, Buffer.concat([base, padding, overlay]), { mode: 0o600 });
  return outPath;
}
