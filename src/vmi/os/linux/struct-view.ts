/**
 * Kernel structs read through their BTF layout: one read of the whole struct, then `field('comm')` decodes each
 * member by its type (integers by size and sign, pointers as bigint, char arrays as strings). Layouts are
 * resolved once per struct and member, so a listing of hundreds of tasks does no BTF lookups after the first.
 */
import { VigilError } from '../../../core/errors.js';
import type { Btf } from './btf/parse.js';

/** A member's place and how to decode it. */
interface MemberLayout {
  offset: number;
  size: number;
  decode: 'int' | 'uint' | 'u64' | 'i64' | 'ptr' | 'string' | 'bytes';
}

/** A struct's resolved member layouts (built lazily, one per struct name). */
export class StructLayout {
  readonly size: number;
  private readonly members = new Map<string, MemberLayout>();

  constructor(
    private readonly btf: Btf,
    readonly name: string,
  ) {
    const t = btf.struct(name);
    this.size = t.size ?? 0;
  }

  /** The byte offset of `path` (dotted for nested members). */
  offsetOf(path: string): number {
    return this.layout(path).offset;
  }

  /** The layout of `path`; throws VIGIL_VMI_BTF when the struct has no such member. */
  layout(path: string): MemberLayout {
    const cached = this.members.get(path);
    if (cached) return cached;
    const m = this.btf.member(this.name, path);
    if (m.bitSize !== 0 || m.bitOffset % 8 !== 0) throw new VigilError('VIGIL_VMI_BTF', `${this.name}.${path} is a bitfield; read its word and mask it`, { context: { struct: this.name, member: path } });
    const t = this.btf.resolve(m.type);
    const size = this.btf.sizeOf(m.type);
    let decode: MemberLayout['decode'] = 'bytes';
    if (t.kind === 'PTR') decode = 'ptr';
    else if (t.kind === 'INT' || t.kind === 'ENUM') {
      const signed = t.kind === 'INT' ? t.int?.signed === true : false;
      decode = size === 8 ? (signed ? 'i64' : 'u64') : signed ? 'int' : 'uint';
    } else if (t.kind === 'ARRAY' && t.array && this.btf.sizeOf(t.array.elemType) === 1) decode = 'string';
    const layout = { offset: m.byteOffset, size, decode };
    this.members.set(path, layout);
    return layout;
  }
}

/** One struct instance: its bytes and where they came from. */
export class StructView {
  constructor(
    readonly layout: StructLayout,
    readonly bytes: Buffer,
    /** The guest-virtual address it was read from. */
    readonly va: bigint,
  ) {}

  /** A member decoded by its type. */
  field(path: string): number | bigint | string | Buffer {
    const m = this.layout.layout(path);
    const b = this.bytes;
    switch (m.decode) {
      case 'ptr':
      case 'u64':
        return b.readBigUInt64LE(m.offset);
      case 'i64':
        return b.readBigInt64LE(m.offset);
      case 'int':
        return m.size === 4 ? b.readInt32LE(m.offset) : m.size === 2 ? b.readInt16LE(m.offset) : b.readInt8(m.offset);
      case 'uint':
        return m.size === 4 ? b.readUInt32LE(m.offset) : m.size === 2 ? b.readUInt16LE(m.offset) : b.readUInt8(m.offset);
      case 'string': {
        const end = b.indexOf(0, m.offset);
        return b.toString('utf8', m.offset, end === -1 || end > m.offset + m.size ? m.offset + m.size : end);
      }
      case 'bytes':
        return b.subarray(m.offset, m.offset + m.size);
    }
  }

  /** A pointer or 64-bit member. */
  ptr(path: string): bigint {
    const v = this.field(path);
    if (typeof v !== 'bigint') throw new VigilError('VIGIL_VMI_BTF', `${this.layout.name}.${path} is not a pointer or 64-bit integer`, { context: { member: path } });
    return v;
  }

  /** An integer member of at most 32 bits. */
  int(path: string): number {
    const v = this.field(path);
    if (typeof v !== 'number') throw new VigilError('VIGIL_VMI_BTF', `${this.layout.name}.${path} is not an integer of at most 32 bits`, { context: { member: path } });
    return v;
  }

  /** A char array member as a string. */
  str(path: string): string {
    const v = this.field(path);
    if (typeof v !== 'string') throw new VigilError('VIGIL_VMI_BTF', `${this.layout.name}.${path} is not a char array`, { context: { member: path } });
    return v;
  }
}
