/** BTF files: a raw blob and a vmlinux-shaped ELF64 whose .BTF section holds it. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { elfSection, readBtfFile } from './file.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-btf-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** One INT type named "int": the smallest valid blob. */
function tinyBtf(): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt16LE(0xeb9f, 0);
  h.writeUInt8(1, 2);
  h.writeUInt32LE(24, 4);
  h.writeUInt32LE(16, 12);
  h.writeUInt32LE(16, 16);
  h.writeUInt32LE(5, 20);
  const t = Buffer.alloc(16);
  t.writeUInt32LE(1, 0);
  t.writeUInt32LE(1 << 24, 4);
  t.writeUInt32LE(4, 8);
  t.writeUInt32LE(32, 12);
  return Buffer.concat([h, t, Buffer.from('\0int\0', 'latin1')]);
}

/** An ELF64 LE file with sections: null, .shstrtab, .text, .BTF. */
function elfWith(btf: Buffer): Buffer {
  const shstr = Buffer.from('\0.shstrtab\0.text\0.BTF\0', 'latin1');
  const text = Buffer.from('code');
  const body = Buffer.concat([shstr, text, btf]);
  const shoff = 64 + body.length + (8 - ((64 + body.length) % 8));
  const out = Buffer.alloc(shoff + 4 * 64);
  out.writeUInt32BE(0x7f454c46, 0);
  out[4] = 2;
  out[5] = 1;
  out.writeBigUInt64LE(BigInt(shoff), 0x28);
  out.writeUInt16LE(64, 0x3a);
  out.writeUInt16LE(4, 0x3c);
  out.writeUInt16LE(1, 0x3e);
  body.copy(out, 64);
  const sections = [
    [0, 0, 0],
    [1, 64, shstr.length],
    [11, 64 + shstr.length, text.length],
    [17, 64 + shstr.length + text.length, btf.length],
  ];
  sections.forEach(([name, offset, size], i) => {
    const at = shoff + i * 64;
    out.writeUInt32LE(name!, at);
    out.writeBigUInt64LE(BigInt(offset!), at + 0x18);
    out.writeBigUInt64LE(BigInt(size!), at + 0x20);
  });
  return out;
}

test('a raw BTF blob and a vmlinux with a .BTF section give the same types; anything else is refused by name', async () => {
  const blob = tinyBtf();
  const elf = elfWith(blob);
  assert.deepEqual(elfSection(elf, '.BTF'), blob);
  assert.equal(elfSection(elf, '.data'), undefined);
  writeFileSync(join(dir, 'vmlinux.btf'), blob);
  writeFileSync(join(dir, 'vmlinux'), elf);
  writeFileSync(join(dir, 'junk'), 'hello');
  assert.equal((await readBtfFile(join(dir, 'vmlinux.btf'))).find('int')[0]?.int?.bits, 32);
  assert.equal((await readBtfFile(join(dir, 'vmlinux'))).find('int')[0]?.size, 4);
  await assert.rejects(readBtfFile(join(dir, 'junk')), /junk is neither a BTF blob .* nor a vmlinux with a \.BTF section/);
  await assert.rejects(readBtfFile(join(dir, 'missing')), /cannot read the BTF file/);
});
