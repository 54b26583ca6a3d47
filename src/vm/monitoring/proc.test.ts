import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProcStat, parseRss, procStats } from './proc.js';

test('a command name with spaces and parentheses does not shift the fields', () => {
  const line = '1234 (qemu (vm) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 5 0 999 1000 200 18446744073709551615';
  assert.deepEqual(parseProcStat(line), { state: 'S', utime: 250, stime: 75, threads: 5 });
  assert.equal(parseRss('Name:\tqemu\nVmRSS:\t   20480 kB\n'), 20480 * 1024);
});

test('this process has CPU time and memory; a gone pid has no stats', () => {
  const s = procStats(process.pid);
  assert.ok(s && s.rssBytes > 0 && s.cpuSeconds > 0 && s.threads >= 1);
  assert.equal(procStats(2 ** 22 + 7), undefined);
});
