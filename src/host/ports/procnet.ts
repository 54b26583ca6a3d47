/**
 * Listening sockets from /proc/net/{tcp,tcp6,udp,udp6}: TCP sockets in LISTEN, and UDP sockets bound to a local
 * port with no remote peer (UDP has no listen state; an unconnected bound socket is what receives datagrams).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One listening socket as the kernel lists it. */
export interface ProcNetSocket {
  proto: 'tcp' | 'udp';
  family: 4 | 6;
  address: string;
  port: number;
  uid: number;
  inode: string;
}

const TCP_LISTEN = '0A';
const UDP_UNCONNECTED = '07';

/** Decodes /proc/net's hex address (host byte order per 32-bit word, little-endian here). */
export function decodeAddress(hex: string): string {
  if (hex.length === 8) {
    const n = Buffer.from(hex, 'hex');
    return `${n[3]}.${n[2]}.${n[1]}.${n[0]}`;
  }
  const bytes = Buffer.alloc(16);
  for (let w = 0; w < 4; w++) Buffer.from(hex.slice(w * 8, w * 8 + 8), 'hex').reverse().copy(bytes, w * 4);
  // IPv4-mapped (::ffff:a.b.c.d) reads better in its dotted form.
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Parses one /proc/net table; `proto` and `family` say which. */
export function parseProcNet(text: string, proto: 'tcp' | 'udp', family: 4 | 6): ProcNetSocket[] {
  const out: ProcNetSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [local, remote, state] = [f[1]!, f[2]!, f[3]!];
    const listening = proto === 'tcp' ? state === TCP_LISTEN : state === UDP_UNCONNECTED && /^0+:0000$/.test(remote);
    if (!listening) continue;
    const [addr, port] = local.split(':');
    if (!addr || !port) continue;
    out.push({ proto, family, address: decodeAddress(addr), port: parseInt(port, 16), uid: Number(f[7]), inode: f[9]! });
  }
  return out;
}

/** Every listening TCP and UDP socket, v4 and v6 (`root` is /proc, injectable for tests of the parser). */
export async function readListeningSockets(root = '/proc'): Promise<ProcNetSocket[]> {
  const tables = [
    ['tcp', 'tcp', 4],
    ['tcp6', 'tcp', 6],
    ['udp', 'udp', 4],
    ['udp6', 'udp', 6],
  ] as const;
  const all = await Promise.all(
    tables.map(async ([file, proto, family]) => {
      try {
        return parseProcNet(await readFile(join(root, 'net', file), 'utf8'), proto, family);
      } catch {
        // No IPv6 on this kernel, for instance.
        return [];
      }
    }),
  );
  return all.flat();
}
