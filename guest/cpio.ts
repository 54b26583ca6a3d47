/**
 * A minimal newc cpio writer for the one-file archive that carries a test's /init. Writing it here instead of
 * calling cpio(1) keeps makeInitrd free of temp directories and child processes.
 */

const NEWC_MAGIC = '070701';

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function entry(name: string, mode: number, data: Buffer, ino: number): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0];
  const header = Buffer.from(NEWC_MAGIC + fields.map((f) => f.toString(16).padStart(8, '0')).join(''), 'ascii');
  return Buffer.concat([
    header,
    nameBytes,
    Buffer.alloc(pad4(header.length + nameBytes.length)),
    data,
    Buffer.alloc(pad4(data.length)),
  ]);
}

/** Encodes regular files (path without leading slash, permission bits, content) as an uncompressed newc archive. */
export function newcArchive(files: readonly { name: string; perm: number; data: Buffer }[]): Buffer {
  const parts = files.map((f, i) => entry(f.name, 0o100000 | (f.perm & 0o7777), f.data, i + 1));
  parts.push(entry('TRAILER!!!', 0, Buffer.alloc(0), 0));
  return Buffer.concat(parts);
}
