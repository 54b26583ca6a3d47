/**
 * Reading sysfs: attributes are small text files, links name drivers and groups. A missing attribute is normal
 * (a device without a serial string; a device unplugged while we read), so it reads as undefined; any other
 * failure is a VigilError naming the path.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { VigilError } from '../core/errors.js';

// ENODEV: the device went away between listing it and reading it; ENODATA: the attribute exists but has no value.
const ABSENT = new Set(['ENOENT', 'ENODEV', 'ENODATA']);

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/** The VigilError for a sysfs path that could not be read: VIGIL_NOT_FOUND when missing, else VIGIL_INVALID_INPUT. */
export function sysfsError(path: string, err: unknown): VigilError {
  const errno = errnoOf(err) ?? 'EIO';
  if (errno === 'ENOENT') return new VigilError('VIGIL_NOT_FOUND', `${path}: no such file or directory`, { cause: err, context: { path } });
  const why = errno === 'ENOTDIR' ? 'not a directory' : errno === 'EACCES' || errno === 'EPERM' ? 'permission denied' : errno;
  return new VigilError('VIGIL_INVALID_INPUT', `${path}: cannot read it (${why})`, { cause: err, context: { path, errno } });
}

/** The text of a sysfs attribute without surrounding whitespace; undefined when absent or empty. */
export async function readAttribute(path: string): Promise<string | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return text === '' ? undefined : text;
  } catch (err) {
    if (ABSENT.has(errnoOf(err) ?? '')) return undefined;
    throw sysfsError(path, err);
  }
}

/** A hexadecimal attribute (`0e`, `0x040300`) as a number; undefined when absent or not hex. */
export async function readHexAttribute(path: string): Promise<number | undefined> {
  const text = await readAttribute(path);
  return text !== undefined && /^(0x)?[0-9a-f]+$/i.test(text) ? parseInt(text.replace(/^0x/i, ''), 16) : undefined;
}

/** A decimal attribute (`busnum`, `devnum`) as a number; undefined when absent or not a number. */
export async function readDecimalAttribute(path: string): Promise<number | undefined> {
  const text = await readAttribute(path);
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}

/** A 16-bit id attribute (`046d`, `0x8086`) as four lower-case hex digits; undefined when absent or malformed. */
export async function readIdAttribute(path: string): Promise<string | undefined> {
  const text = await readAttribute(path);
  return text !== undefined && /^(0x)?[0-9a-f]{4}$/i.test(text) ? text.replace(/^0x/i, '').toLowerCase() : undefined;
}

/**
 * The last component of a symlink's target (`driver` -> `e1000e`, `iommu_group` -> `12`); undefined when there is
 * no link. Only the name is used, so links resolve the same under any fixture root.
 */
export async function readLinkName(path: string): Promise<string | undefined> {
  try {
    return basename(await readlink(path));
  } catch (err) {
    if (ABSENT.has(errnoOf(err) ?? '')) return undefined;
    throw sysfsError(path, err);
  }
}

/** The entries of a directory, sorted; `undefined` when it does not exist (a subsystem the kernel lacks, a device gone). */
export async function listDirectory(path: string): Promise<string[] | undefined> {
  try {
    return (await readdir(path)).sort();
  } catch (err) {
    if (ABSENT.has(errnoOf(err) ?? '')) return undefined;
    throw sysfsError(path, err);
  }
}
