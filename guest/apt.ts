/**
 * Finds and downloads the two Debian packages the test guest is made of: the newest cloud kernel and
 * busybox-static. apt's package lists may be missing or stale on a fresh machine, so every lookup or download
 * that fails is retried once after an `apt-get update`.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './run.js';

/** The meta package whose dependency names the current cloud kernel. */
export const KERNEL_META_PACKAGE = 'linux-image-cloud-amd64';
/** The statically linked busybox: the guest has no libc. */
export const BUSYBOX_PACKAGE = 'busybox-static';

/** The exact package versions a guest image is built from. */
export interface ResolvedPackages {
  /** e.g. linux-image-6.1.0-56-cloud-amd64 */
  kernelPackage: string;
  /** e.g. 6.1.192-2 */
  kernelPackageVersion: string;
  /** The kernel's `uname -r`, e.g. 6.1.0-56-cloud-amd64 */
  kernelRelease: string;
  /** e.g. 1:1.35.0-4+deb12u1+b1 */
  busyboxVersion: string;
}

/** The downloaded .deb files. */
export interface DownloadedPackages {
  kernelDeb: string;
  busyboxDeb: string;
}

const KERNEL_PACKAGE_RE = /^linux-image-(\d[\w.+~-]*-cloud-amd64)$/;

let aptUpdated = false;

/** Runs `attempt`; on failure runs `apt-get update` (once per process) and tries again. */
async function withAptUpdate<T>(what: string, attempt: () => Promise<T>, log: (line: string) => void): Promise<T> {
  try {
    return await attempt();
  } catch (first) {
    if (aptUpdated) throw first;
    log(`${what} failed (${first instanceof Error ? first.message : String(first)}); running apt-get update`);
    aptUpdated = true;
    await run('apt-get', ['update', '-qq']);
    return attempt();
  }
}

/** Sorts kernel releases so the newest comes last (6.1.0-9 < 6.1.0-56). */
function compareReleases(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

async function kernelPackageName(): Promise<string> {
  const { stdout } = await run('apt-cache', ['depends', '--no-recommends', '--no-suggests', KERNEL_META_PACKAGE]);
  const names = [...stdout.matchAll(/^\s*\|?Depends:\s*(\S+)\s*$/gm)]
    .map((m) => m[1] ?? '')
    .filter((n) => KERNEL_PACKAGE_RE.test(n));
  if (names.length === 0) {
    // No meta package (or it changed shape): fall back to the newest versioned package apt knows.
    const all = await run('apt-cache', ['pkgnames', 'linux-image-']);
    names.push(...all.stdout.split('\n').filter((n) => KERNEL_PACKAGE_RE.test(n)));
  }
  const newest = names.sort(compareReleases).at(-1);
  if (newest === undefined) throw new Error(`no linux-image-*-cloud-amd64 package known to apt`);
  return newest;
}

async function candidateVersions(pkgs: readonly string[]): Promise<Map<string, string>> {
  const { stdout } = await run('apt-cache', ['policy', ...pkgs]);
  const versions = new Map<string, string>();
  for (const m of stdout.matchAll(/^(\S+):\n(?:[ \t]+.*\n)*?[ \t]+Candidate:\s*(\S+)/gm)) {
    if (m[1] !== undefined && m[2] !== undefined && m[2] !== '(none)') versions.set(m[1], m[2]);
  }
  for (const p of pkgs) if (!versions.has(p)) throw new Error(`apt has no installable version of ${p}`);
  return versions;
}

/** Asks apt which kernel and busybox versions to use (about 1 s: callers cache the answer). */
export function resolvePackages(log: (line: string) => void): Promise<ResolvedPackages> {
  return withAptUpdate(
    'package lookup',
    async () => {
      const kernelPackage = await kernelPackageName();
      const versions = await candidateVersions([kernelPackage, BUSYBOX_PACKAGE]);
      const release = KERNEL_PACKAGE_RE.exec(kernelPackage)?.[1];
      if (release === undefined) throw new Error(`unexpected kernel package name ${kernelPackage}`);
      return {
        kernelPackage,
        kernelPackageVersion: versions.get(kernelPackage) ?? '',
        kernelRelease: release,
        busyboxVersion: versions.get(BUSYBOX_PACKAGE) ?? '',
      };
    },
    log,
  );
}

/** Downloads the exact resolved versions into `dir` (which must be empty). */
export function downloadPackages(pkgs: ResolvedPackages, dir: string, log: (line: string) => void): Promise<DownloadedPackages> {
  return withAptUpdate(
    'apt-get download',
    async () => {
      log(`downloading ${pkgs.kernelPackage}=${pkgs.kernelPackageVersion} and ${BUSYBOX_PACKAGE}=${pkgs.busyboxVersion}`);
      await run('apt-get', ['download', '-q', `${pkgs.kernelPackage}=${pkgs.kernelPackageVersion}`, `${BUSYBOX_PACKAGE}=${pkgs.busyboxVersion}`], { cwd: dir });
      const files = await readdir(dir);
      const kernelDeb = files.find((f) => f.startsWith(`${pkgs.kernelPackage}_`) && f.endsWith('.deb'));
      const busyboxDeb = files.find((f) => f.startsWith(`${BUSYBOX_PACKAGE}_`) && f.endsWith('.deb'));
      if (kernelDeb === undefined || busyboxDeb === undefined) throw new Error(`apt-get download left no .deb in ${dir} (found: ${files.join(', ')})`);
      return { kernelDeb: join(dir, kernelDeb), busyboxDeb: join(dir, busyboxDeb) };
    },
    log,
  );
}
