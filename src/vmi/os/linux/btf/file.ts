/**
 * BTF from a file the user supplies: a raw blob (what a guest serves as /sys/kernel/btf/vmlinux) or a vmlinux
 * ELF file, whose `.BTF` section holds the same blob. For guests whose BTF cannot be found in memory.
 */
import { readFile } from 'node:fs/promises';
import { VigilError } from '../../../../core/errors.js';
import { BTF_MAGIC, parseBtf, type Btf } from './parse.js';

/** The `.BTF` section of a little-endian ELF64 file, or undefined when there is none. */
export function elfSection(elf: Buffer, name: string): Buffer | undefined {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) return undefined;
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  const header = (i: number): { name: number; offset: number; size: number } => {
    const at = shoff + i * shentsize;
    return { name: elf.readUInt32LE(at), offset: Number(elf.readBigUInt64LE(at + 0x18)), size: Number(elf.readBigUInt64LE(at + 0x20)) };
  };
  if (shoff + shnum * shentsize > elf.length || shstrndx >= shnum) return undefined;
  const names = header(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const h = header(i);
    const end = elf.indexOf(0, names.offset + h.name);
    if (elf.toString('latin1', names.offset + h.name, end) === name && h.offset + h.size <= elf.length) return elf.subarray(h.offset, h.offset + h.size);
  }
  return undefined;
}

/** Reads and parses a BTF or vmlinux file; VIGIL_VMI_BTF naming the file when it holds neither. */
export async function readBtfFile(path: string): Promise<Btf> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new VigilError('VIGIL_VMI_BTF', `cannot read the BTF file ${path}: ${(err as Error).message}`, { cause: err, context: { file: path } });
  }
  const blob = data.length >= 2 && data.readUInt16LE(0) === BTF_MAGIC ? data : elfSection(data, '.BTF');
  if (!blob) throw new VigilError('VIGIL_VMI_BTF', `${path} is neither a BTF blob (/sys/kernel/btf/vmlinux) nor a vmlinux with a .BTF section`, { context: { file: path } });
  return parseBtf(blob);
}
