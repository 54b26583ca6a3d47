import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProgressParser } from './progress.js';

test('progress reports split at every position give the same percentages', () => {
  const text = '    (0.00/100%)\r    (12.50/100%)\r    (12.50/100%)\r    (100.00/100%)\r\n';
  for (let cut = 0; cut <= text.length; cut++) {
    const seen: number[] = [];
    const p = new ProgressParser((n) => seen.push(n));
    p.push(text.slice(0, cut));
    p.push(text.slice(cut));
    assert.deepEqual(seen, [0, 12.5, 100], `cut at ${cut}`);
  }
});
