/** A QEMU process's CPU time, RSS and scheduler state from /proc/<pid>/stat and /proc/<pid>/status. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** What the kernel says of one process. */
export interface ProcStats {
  /** User + system CPU time, seconds. */
  cpuSeconds: number;
  /** Resident set size, bytes. */
  rssBytes: number;
  /** The scheduler state letter (R running, S sleeping, T stopped by a signal, Z zombie...). */
  state: string;
  threads: number;
}

let ticks: number | undefined;

/** Clock ticks per second (getconf CLK_TCK; 100 on every Linux Vigil supports). */
function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** Parses /proc/<pid>/stat text: the command name may hold spaces and ')', so fields count from the last ')'. */
export function parseProcStat(text: string): { state: string; utime: number; stime: number; threads: number } {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15, num_threads field 20.
  return { state: rest[0] ?? '?', utime: Number(rest[11]), stime: Number(rest[12]), threads: Number(rest[17]) };
}

/** Parses VmRSS from /proc/<pid>/status, in bytes. */
export function parseRss(status: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

/** The process's stats, or undefined when it is gone. */
export function procStats(pid: number): ProcStats | undefined {
  try {
    const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    const rssBytes = parseRss(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuSeconds: (stat.utime + stat.stime) / clockTicks(), rssBytes, state: stat.state, threads: stat.threads };
  } catch {
    return undefined;
  }
}
