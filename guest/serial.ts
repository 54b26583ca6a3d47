/**
 * Reading the guest's serial log: the console writes CRLF line ends and may leave a partial last line, so
 * lines are split here once for every caller.
 */

/** The log's lines without their CR/LF endings. */
export function serialLines(log: string): string[] {
  return log.split('\n').map((l) => l.replace(/\r+$/, ''));
}

/** The first line containing `pattern` (a string) or matching it (a RegExp). */
export function findLine(log: string, pattern: string | RegExp): string | undefined {
  // A /g or /y RegExp keeps lastIndex between test() calls and would skip lines.
  const re = typeof pattern === 'string' ? undefined : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
  return serialLines(log).find((l) => (re === undefined ? l.includes(pattern as string) : re.test(l)));
}

/** The last `n` lines, for error messages. */
export function tailLines(log: string, n: number): string {
  return serialLines(log).slice(-n).join('\n');
}
