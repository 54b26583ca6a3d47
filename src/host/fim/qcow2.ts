/**
 * A qcow2 image's backing file, read from its header (QEMU's docs/interop/qcow2.txt): magic `QFI\xfb`, the
 * backing file name's offset (u64 at byte 8) and length (u32 at byte 16). Reading the header ourselves avoids
 * running `qemu-img` on every check and never lets QEMU probe a format.
 */
import { open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

const MAGIC = 0x514649fb;
/** QEMU limits a backing file name to 1023 bytes. */
const MAX_NAME = 1023;
/** Chains deeper than this are treated as a loop. */
const MAX_DEPTH = 64;

/** The backing file named in `file`'s header (resolved against the image's directory), or undefined. */
export async function qcow2Backing(file: string): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const head = Buffer.alloc(20);
    const { bytesRead } = await fh.read(head, 0, 20, 0);
    if (bytesRead < 20 || head.readUInt32BE(0) !== MAGIC) return undefined;
    const offset = head.readBigUInt64BE(8);
    const length = head.readUInt32BE(16);
    if (offset === 0n || length === 0 || length > MAX_NAME) return undefined;
    const name = Buffer.alloc(length);
    const r = await fh.read(name, 0, length, Number(offset));
    if (r.bytesRead !== length) return undefined;
    const text = name.toString('utf8');
    // Protocol prefixes (nbd:, http:) are not host files.
    if (/^[a-z][a-z0-9+.-]*:/i.test(text) && !text.startsWith('/')) return undefined;
    return resolve(dirname(file), text);
  } finally {
    await fh.close();
  }
}

/** The backing chain below `file`, nearest first (loops and over-deep chains are cut). */
export async function backingChain(file: string): Promise<string[]> {
  const chain: string[] = [];
  const seen = new Set([resolve(file)]);
  let current = file;
  while (chain.length < MAX_DEPTH) {
    const next = await qcow2Backing(current);
    if (next === undefined || seen.has(next)) break;
    chain.push(next);
    seen.add(next);
    current = next;
  }
  return chain;
}
