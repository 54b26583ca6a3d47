/** The replay cache: refusal within 2 x window, bucketed expiry, and fail-closed when full. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplayCache } from '../../src/auth/replay-cache.js';
import { throwsCode } from './assert-code.js';

test('a key is refused for 2 x window, then forgotten', () => {
  const c = new ReplayCache({ windowSec: 300 });
  assert.equal(c.ttlSec, 600);
  c.remember('k', 1000);
  throwsCode(() => c.remember('k', 1000), 'VIGIL_AUTH_REPLAY');
  throwsCode(() => c.remember('k', 1599.9), 'VIGIL_AUTH_REPLAY');
  assert.equal(c.has('k', 1600), false);
  c.remember('k', 1600); // expired: accepted again (the timestamp window refuses a real replay by then)
  throwsCode(() => c.remember('k', 1601), 'VIGIL_AUTH_REPLAY');
});

test('expired buckets are dropped without touching live entries', () => {
  const c = new ReplayCache({ windowSec: 300 });
  for (let i = 0; i < 1000; i++) c.remember(`old${i}`, 1000 + i / 10); // expiries 1600..1700
  for (let i = 0; i < 1000; i++) c.remember(`new${i}`, 1500 + i / 10);
  assert.equal(c.size(1500), 2000);
  assert.equal(c.size(1750), 1000);
  assert.equal(c.has('new999', 1750), true);
  throwsCode(() => c.remember('new0', 1750), 'VIGIL_AUTH_REPLAY');
  assert.equal(c.size(2300), 0);
});

test('a re-remembered key survives the eviction of its old bucket', () => {
  const c = new ReplayCache({ windowSec: 10, bucketSec: 1 });
  c.remember('k', 0); // expires 20
  c.remember('k', 20); // expires 40, the bucket for 20 still lists it
  assert.equal(c.size(25), 1);
  throwsCode(() => c.remember('k', 25), 'VIGIL_AUTH_REPLAY');
});

test('when full of live entries, new keys are refused (VIGIL_RATE_LIMITED) and old ones stay', () => {
  const c = new ReplayCache({ windowSec: 300, maxEntries: 3 });
  c.remember('a', 0);
  c.remember('b', 1);
  c.remember('c', 2);
  throwsCode(() => c.remember('d', 3), 'VIGIL_RATE_LIMITED');
  throwsCode(() => c.remember('a', 3), 'VIGIL_AUTH_REPLAY');
  // Once entries expire there is room again.
  c.remember('d', 700);
  assert.equal(c.size(700), 1);
});

test('a clock that steps backwards does not break eviction', () => {
  const c = new ReplayCache({ windowSec: 10, bucketSec: 1 });
  c.remember('late', 100);
  c.remember('early', 50);
  assert.equal(c.size(75), 1);
  assert.equal(c.has('late', 75), true);
  assert.equal(c.size(200), 0);
});
