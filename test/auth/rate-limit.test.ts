/** Token buckets per client, and the client key of IPv4/IPv6 addresses. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBucketLimiter, rateLimitKey } from '../../src/auth/rate-limit.js';

test('burst, then the sustained rate', () => {
  const l = new TokenBucketLimiter({ ratePerSec: 10, burst: 5 });
  for (let i = 0; i < 5; i++) assert.equal(l.take('ip', 0), true);
  assert.equal(l.take('ip', 0), false);
  assert.equal(l.retryAfterSec('ip', 0), 1);
  assert.equal(l.take('ip', 0.05), false);
  assert.equal(l.take('ip', 0.1), true);
  assert.equal(l.take('other', 0), true); // clients are independent
  // Refill never exceeds the burst.
  for (let i = 0; i < 5; i++) assert.equal(l.take('ip', 100), true);
  assert.equal(l.take('ip', 100), false);
});

test('a clock stepping back mints no tokens', () => {
  const l = new TokenBucketLimiter({ ratePerSec: 1, burst: 1 });
  assert.equal(l.take('ip', 100), true);
  assert.equal(l.take('ip', 50), false);
  assert.equal(l.take('ip', 100.5), false);
  assert.equal(l.take('ip', 101), true);
});

test('memory is bounded: the least recently used client is dropped', () => {
  const l = new TokenBucketLimiter({ ratePerSec: 1, burst: 1, maxKeys: 3 });
  for (const ip of ['a', 'b', 'c']) l.take(ip, 0);
  l.take('a', 0); // a is now most recent (and refused)
  l.take('d', 0); // evicts b
  assert.equal(l.size, 3);
  assert.equal(l.take('b', 0), true); // fresh bucket for the evicted client
  assert.equal(l.take('a', 0), false);
});

test('rateLimitKey: IPv4 as is, IPv4-mapped unwrapped, IPv6 by /64', () => {
  assert.equal(rateLimitKey('192.0.2.7'), '192.0.2.7');
  assert.equal(rateLimitKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(rateLimitKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(rateLimitKey('2001:db8:1:2::99'), '2001:db8:1:2::/64');
  assert.equal(rateLimitKey('2001:DB8::1'), '2001:db8:0:0::/64');
  assert.equal(rateLimitKey('::1'), '0:0:0:0::/64');
  assert.equal(rateLimitKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(rateLimitKey('not:an:address::x::'), 'not:an:address::x::');
});
