/**
 * A BTF blob (the kernel's own type information, `/sys/kernel/btf/vmlinux` or its `.BTF` section in memory)
 * parsed into types: ints, pointers, arrays, structs and unions with members at bit offsets, enums, typedefs and
 * the qualifiers. Only what the byte layout says is trusted; anything inconsistent is a typed error, never a guess.
 */
import { VigilError } from '../../../../core/errors.js';
import { BTF_KIND, KIND_NAMES, trailingBytes, type BtfKindName } from './kinds.js';

/** The magic at the start of every BTF blob (little-endian u16). */
export const BTF_MAGIC = 0xeb9f;
const HEADER_LEN = 24;

/** A struct or union member. `bitOffset` counts from the start of the enclosing type. */
export interface BtfMember {
  name: string;
  type: number;
  bitOffset: number;
  /** Non-zero for a bitfield. */
  bitSize: number;
}

/** One type. Fields beyond `kind`, `name` are set where the kind has them. */
export interface BtfType {
  id: number;
  kind: BtfKindName;
  name: string;
  /** INT, ENUM, STRUCT, UNION, FLOAT, DATASEC: the size in bytes. */
  size?: number;
  /** PTR, TYPEDEF, qualifiers, FUNC, VAR: the type referred to. */
  type?: number;
  /** ARRAY */
  array?: { elemType: number; indexType: number; nelems: number };
  /** STRUCT, UNION */
  members?: BtfMember[];
  /** ENUM, ENUM64 */
  values?: { name: string; value: bigint }[];
  /** INT: bit size and whether signed. */
  int?: { bits: number; signed: boolean; offset: number };
}

/** The header fields. */
export interface BtfHeader {
  version: number;
  flags: number;
  hdrLen: number;
  typeOff: number;
  typeLen: number;
  strOff: number;
  strLen: number;
}

function bad(message: string, context: Record<string, unknown> = {}): VigilError {
  return new VigilError('VIGIL_VMI_BTF', `BTF: ${message}`, { context });
}

/** Reads and checks the header at `offset` of `buf`; undefined when it is not a plausible BTF header. */
export function readBtfHeader(buf: Buffer, offset = 0): BtfHeader | undefined {
  if (offset + HEADER_LEN > buf.length || buf.readUInt16LE(offset) !== BTF_MAGIC) return undefined;
  const h: BtfHeader = {
    version: buf.readUInt8(offset + 2),
    flags: buf.readUInt8(offset + 3),
    hdrLen: buf.readUInt32LE(offset + 4),
    typeOff: buf.readUInt32LE(offset + 8),
    typeLen: buf.readUInt32LE(offset + 12),
    strOff: buf.readUInt32LE(offset + 16),
    strLen: buf.readUInt32LE(offset + 20),
  };
  if (h.version !== 1 || h.hdrLen < HEADER_LEN || h.hdrLen > 256 || h.typeLen === 0 || h.strLen === 0) return undefined;
  // Types then strings, each within the blob (the kernel's writer lays them out this way).
  if (h.typeOff % 4 !== 0 || h.typeOff + h.typeLen > h.strOff || h.strLen > 64 << 20 || h.typeLen > 256 << 20) return undefined;
  return h;
}

/** The whole blob's length as its header says. */
export function btfLength(h: BtfHeader): number {
  return h.hdrLen + h.strOff + h.strLen;
}

/** Parsed BTF with lookups by id and name. */
export class Btf {
  private readonly byName = new Map<string, BtfType[]>();

  constructor(
    readonly header: BtfHeader,
    /** Index = type id; index 0 is `void`. */
    readonly types: readonly BtfType[],
  ) {
    for (const t of types) {
      if (t.name === '') continue;
      const list = this.byName.get(t.name);
      if (list) list.push(t);
      else this.byName.set(t.name, [t]);
    }
  }

  /** The type with this id; throws VIGIL_VMI_BTF when there is none. */
  get(id: number): BtfType {
    const t = this.types[id];
    if (!t) throw bad(`no type with id ${id}`, { id });
    return t;
  }

  /** Types named `name`, optionally of one kind. */
  find(name: string, kind?: BtfKindName): BtfType[] {
    return (this.byName.get(name) ?? []).filter((t) => kind === undefined || t.kind === kind);
  }

  /** The struct (or union) named `name` with members; forward declarations are skipped. */
  struct(name: string): BtfType {
    const t = this.find(name).find((x) => (x.kind === 'STRUCT' || x.kind === 'UNION') && x.members !== undefined);
    if (!t) throw bad(`the kernel's BTF has no struct ${name}`, { struct: name });
    return t;
  }

  /** Follows typedefs and qualifiers to the type that has a layout. */
  resolve(id: number): BtfType {
    let t = this.get(id);
    for (let hops = 0; t.kind === 'TYPEDEF' || t.kind === 'CONST' || t.kind === 'VOLATILE' || t.kind === 'RESTRICT' || t.kind === 'TYPE_TAG'; hops++) {
      if (hops > 64 || t.type === undefined) throw bad(`type ${id} does not resolve`, { id });
      t = this.get(t.type);
    }
    return t;
  }

  /** A type's size in bytes (pointers are 8 bytes: x86-64). */
  sizeOf(id: number): number {
    const t = this.resolve(id);
    if (t.kind === 'PTR') return 8;
    if (t.kind === 'ARRAY' && t.array) return t.array.nelems * this.sizeOf(t.array.elemType);
    if (t.size !== undefined) return t.size;
    throw bad(`type ${id} (${t.kind} ${t.name}) has no size`, { id });
  }

  /**
   * A member of a struct by name, looking into anonymous structs and unions as C does; the offset is from the
   * start of `structName`. `path` may be dotted (`se.sum_exec_runtime`).
   */
  member(structName: string, path: string): BtfMember & { byteOffset: number } {
    let type = this.struct(structName);
    let bitOffset = 0;
    let found: BtfMember | undefined;
    for (const part of path.split('.')) {
      const hit = this.findMember(type, part);
      if (!hit) throw bad(`struct ${structName} has no member ${path}`, { struct: structName, member: path });
      bitOffset += hit.bitOffset;
      found = hit.member;
      type = this.resolve(hit.member.type);
    }
    if (!found) throw bad(`empty member path for struct ${structName}`);
    return { ...found, bitOffset, byteOffset: Math.floor(bitOffset / 8) };
  }

  private findMember(type: BtfType, name: string): { member: BtfMember; bitOffset: number } | undefined {
    for (const m of type.members ?? []) {
      if (m.name === name) return { member: m, bitOffset: m.bitOffset };
      if (m.name === '') {
        const inner = this.resolve(m.type);
        if (inner.kind === 'STRUCT' || inner.kind === 'UNION') {
          const hit = this.findMember(inner, name);
          if (hit) return { member: hit.member, bitOffset: m.bitOffset + hit.bitOffset };
        }
      }
    }
    return undefined;
  }
}

/** Parses a BTF blob; throws VIGIL_VMI_BTF (with the offset) on anything malformed. */
export function parseBtf(buf: Buffer): Btf {
  const h = readBtfHeader(buf);
  if (!h) throw bad('no BTF header (magic 0xeb9f, version 1) at the start of the data');
  if (btfLength(h) > buf.length) throw bad(`the header says ${btfLength(h)} bytes but only ${buf.length} are there`);
  const typesStart = h.hdrLen + h.typeOff;
  const typesEnd = typesStart + h.typeLen;
  const strStart = h.hdrLen + h.strOff;
  const strEnd = strStart + h.strLen;
  const str = (off: number): string => {
    if (off >= h.strLen) throw bad(`string offset ${off} is outside the string section`, { off });
    const end = buf.indexOf(0, strStart + off);
    return buf.toString('latin1', strStart + off, end === -1 || end > strEnd ? strEnd : end);
  };
  const types: BtfType[] = [{ id: 0, kind: 'UNKN', name: 'void' }];
  let p = typesStart;
  while (p < typesEnd) {
    if (p + 12 > typesEnd) throw bad(`a type header at offset ${p} runs past the type section`, { offset: p });
    const nameOff = buf.readUInt32LE(p);
    const info = buf.readUInt32LE(p + 4);
    const sizeOrType = buf.readUInt32LE(p + 8);
    const vlen = info & 0xffff;
    const kindNo = (info >>> 24) & 0x1f;
    const kindFlag = info >>> 31 === 1;
    const extra = trailingBytes(kindNo, vlen);
    const kind = KIND_NAMES[kindNo];
    if (extra === undefined || kind === undefined) throw bad(`unknown kind ${kindNo} at offset ${p}`, { offset: p, kind: kindNo });
    const d = p + 12;
    if (d + extra > typesEnd) throw bad(`type ${types.length} at offset ${p} runs past the type section`, { offset: p });
    const t: BtfType = { id: types.length, kind, name: str(nameOff) };
    switch (kindNo) {
      case BTF_KIND.INT: {
        const enc = buf.readUInt32LE(d);
        t.size = sizeOrType;
        t.int = { bits: enc & 0xff, offset: (enc >>> 16) & 0xff, signed: ((enc >>> 24) & 0xf & 1) === 1 };
        break;
      }
      case BTF_KIND.ARRAY:
        t.array = { elemType: buf.readUInt32LE(d), indexType: buf.readUInt32LE(d + 4), nelems: buf.readUInt32LE(d + 8) };
        break;
      case BTF_KIND.STRUCT:
      case BTF_KIND.UNION: {
        t.size = sizeOrType;
        t.members = [];
        for (let i = 0; i < vlen; i++) {
          const m = d + 12 * i;
          const off = buf.readUInt32LE(m + 8);
          t.members.push({
            name: str(buf.readUInt32LE(m)),
            type: buf.readUInt32LE(m + 4),
            // With kind_flag, the top 8 bits hold a bitfield's size and the low 24 its offset.
            bitOffset: kindFlag ? off & 0xffffff : off,
            bitSize: kindFlag ? off >>> 24 : 0,
          });
        }
        break;
      }
      case BTF_KIND.ENUM:
        t.size = sizeOrType;
        t.values = Array.from({ length: vlen }, (_, i) => ({ name: str(buf.readUInt32LE(d + 8 * i)), value: BigInt(kindFlag ? buf.readInt32LE(d + 8 * i + 4) : buf.readUInt32LE(d + 8 * i + 4)) }));
        break;
      case BTF_KIND.ENUM64:
        t.size = sizeOrType;
        t.values = Array.from({ length: vlen }, (_, i) => ({ name: str(buf.readUInt32LE(d + 12 * i)), value: (BigInt(buf.readUInt32LE(d + 12 * i + 8)) << 32n) | BigInt(buf.readUInt32LE(d + 12 * i + 4)) }));
        break;
      case BTF_KIND.FLOAT:
      case BTF_KIND.DATASEC:
        t.size = sizeOrType;
        break;
      case BTF_KIND.FWD:
      case BTF_KIND.FUNC_PROTO:
        break;
      default:
        t.type = sizeOrType;
    }
    types.push(t);
    p = d + extra;
  }
  return new Btf(h, types);
}
