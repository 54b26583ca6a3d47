/**
 * Which process owns a socket: every /proc/<pid>/fd/<n> that links to `socket:[inode]`. Without root only the
 * caller's own processes can be read; other sockets keep their kernel uid but no pid.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** A process holding a socket. */
export interface SocketOwner {
  pid: number;
  name: string;
  /** The command line, NUL-separated arguments joined by spaces (bounded). */
  cmdline: string;
}

/** Maps socket inodes to the processes holding them (only the inodes in `wanted`). */
export async function socketOwners(wanted: ReadonlySet<string>, root = '/proc'): Promise<Map<string, SocketOwner[]>> {
  const owners = new Map<string, SocketOwner[]>();
  if (wanted.size === 0) return owners;
  let pids: string[];
  try {
    pids = (await readdir(root)).filter((d) => /^\d+$/.test(d));
  } catch {
    return owners;
  }
  await Promise.all(
    pids.map(async (pid) => {
      let fds: string[];
      try {
        fds = await readdir(join(root, pid, 'fd'));
      } catch {
        return; // another user's process, or gone
      }
      const found: string[] = [];
      for (const fd of fds) {
        let link: string;
        try {
          link = await readlink(join(root, pid, 'fd', fd));
        } catch {
          continue;
        }
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (m && wanted.has(m[1]!)) found.push(m[1]!);
      }
      if (found.length === 0) return;
      const name = (await readFile(join(root, pid, 'comm'), 'utf8').catch(() => '?')).trim();
      const cmdline = (await readFile(join(root, pid, 'cmdline'), 'utf8').catch(() => '')).split('\0').filter(Boolean).join(' ').slice(0, 512);
      for (const inode of new Set(found)) {
        const list = owners.get(inode) ?? [];
        list.push({ pid: Number(pid), name, cmdline });
        owners.set(inode, list);
      }
    }),
  );
  for (const list of owners.values()) list.sort((a, b) => a.pid - b.pid);
  return owners;
}

/** User names by uid from /etc/passwd (uids without an entry are shown as numbers). */
export async function userNames(passwd = '/etc/passwd'): Promise<Map<number, string>> {
  const names = new Map<number, string>();
  try {
    for (const line of (await readFile(passwd, 'utf8')).split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && f[0]) names.set(Number(f[2]), f[0]);
    }
  } catch {
    // no passwd: numbers only
  }
  return names;
}
