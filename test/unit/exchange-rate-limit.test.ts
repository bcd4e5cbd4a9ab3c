import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedRateLimiter, TokenBucket } from '../../src/exchange/rate-limit.ts';

test('a token bucket allows a burst of its capacity, then refills at its rate', () => {
  let now = 0;
  const bucket = new TokenBucket(3, 1, () => now);
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 0);
  assert.equal(bucket.take(), 1000, 'one token a second: wait 1000 ms');
  now += 500;
  assert.equal(bucket.take(), 500);
  now += 500;
  assert.equal(bucket.take(), 0);
  now += 60_000;
  assert.equal(bucket.full, true);
});

test('per-key limits are independent, and full buckets are swept', () => {
  let now = 0;
  const limiter = new KeyedRateLimiter(2, 2 / 60, { now: () => now });
  assert.equal(limiter.take('ns/a'), 0);
  assert.equal(limiter.take('ns/a'), 0);
  assert.equal(limiter.take('ns/a'), 30_000, 'two a minute: the next one in 30 s');
  assert.equal(limiter.take('ns/b'), 0);
  assert.equal(limiter.size, 2);
  now += 60_000;
  limiter.sweep();
  assert.equal(limiter.size, 0);
});

test('the number of tracked keys is bounded', () => {
  const limiter = new KeyedRateLimiter(1, 1 / 60, { maxKeys: 10, now: () => 0 });
  for (let i = 0; i < 100; i++) limiter.take(`ns/sa-${i}`);
  assert.ok(limiter.size <= 10);
});
