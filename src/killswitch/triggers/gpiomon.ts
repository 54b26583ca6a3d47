/**
 * libgpiod's `gpiomon`: its command line and its event lines. Node cannot issue the GPIO character device's
 * ioctls, so the GPIO trigger runs gpiomon (Debian package `gpiod`) as a child and reads what it prints.
 *
 * v1 (Debian 12 ships 1.6.3): `gpiomon [-l] [-B bias] [-r|-f] -b <chip> <offset>`, one line per event:
 *   `event:  RISING EDGE offset: 17 timestamp: [1571331412.135146734]` (the seconds are right-aligned in 8).
 * v2: `gpiomon --chip <chip> --edges rising|falling|both [--active-low] [--bias b] <offset>`, one line per event:
 *   `1571331412.135146734<TAB>rising<TAB>gpiochip0 17` (or the line's quoted name instead of chip and offset).
 */

/** One edge gpiomon reported. */
export interface GpioEvent {
  edge: 'rising' | 'falling';
  /** The line offset, when the line says it (v2 prints a named line by name instead). */
  offset?: number;
  /** The kernel's timestamp, seconds.nanoseconds as printed. */
  timestamp: string;
}

const V1 = /^event:\s+(RISING|FALLING) EDGE offset: (\d+) timestamp: \[\s*(\d+\.\d+)\]\s*$/;
const V2 = /^(\d+\.\d+)\s+(rising|falling)\s+(.+?)\s*$/;

/** Parses one line of gpiomon output (either version); undefined for anything else (banners, blank lines). */
export function parseGpiomonLine(line: string): GpioEvent | undefined {
  const v1 = V1.exec(line);
  if (v1) return { edge: v1[1] === 'RISING' ? 'rising' : 'falling', offset: Number(v1[2]), timestamp: v1[3]! };
  const v2 = V2.exec(line);
  if (v2) {
    const id = /\s(\d+)$/.exec(v2[3]!);
    return { edge: v2[2] as GpioEvent['edge'], ...(id ? { offset: Number(id[1]) } : {}), timestamp: v2[1]! };
  }
  return undefined;
}

/** The major version from `gpiomon --version` output (`gpiomon (libgpiod) v1.6.3`), or undefined. */
export function parseGpiomonVersion(text: string): number | undefined {
  const m = /\bv(\d+)\.\d+/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** What to watch. */
export interface GpiomonWatch {
  chip: string;
  line: number;
  edges: 'rising' | 'falling' | 'both';
  activeLow: boolean;
  bias?: 'as-is' | 'disable' | 'pull-up' | 'pull-down';
}

/** gpiomon's arguments for one line, in the syntax of its major version. */
export function gpiomonArgs(version: number, w: GpiomonWatch): string[] {
  if (version >= 2) {
    return ['--chip', w.chip, '--edges', w.edges, ...(w.activeLow ? ['--active-low'] : []), ...(w.bias ? ['--bias', w.bias] : []), String(w.line)];
  }
  const edge = w.edges === 'rising' ? ['-r'] : w.edges === 'falling' ? ['-f'] : [];
  // -b: line-buffered stdout, otherwise a pipe holds events back until 4 KiB have gathered.
  return ['-b', ...(w.activeLow ? ['-l'] : []), ...(w.bias ? ['-B', w.bias] : []), ...edge, w.chip, String(w.line)];
}
