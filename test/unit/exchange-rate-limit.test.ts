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

test('the wall clock stepping back (an NTP correction) costs no tokens', () => {
  let now = 1_000_000;
  const bucket = new TokenBucket(3, 1, () => now);
  now -= 60_000;
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [0, 0, 0, 1000], 'the whole burst, then the usual wait');
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

test('an idle bucket holds no more than its capacity: a quiet hour buys one burst, not thousands', () => {
  let now = 0;
  const bucket = new TokenBucket(3, 1, () => now);
  now += 3_600_000;
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [0, 0, 0, 1000]);
});

test('a refused request waits at least 1 ms, even when the next token is a fraction of one away (0 would read as allowed)', () => {
  let now = 0;
  const bucket = new TokenBucket(1, 500, () => now);
  assert.equal(bucket.take(), 0);
  now += 1.2;
  assert.equal(bucket.take(), 1, '0.6 of a token refilled: 0.8 ms to go, rounded up');
  now += 0.8;
  assert.equal(bucket.take(), 0);
});

test('a sweep keeps a service account that is still limited: dropping its bucket would hand it a full one', () => {
  let now = 0;
  const limiter = new KeyedRateLimiter(2, 2 / 60, { now: () => now });
  assert.equal(limiter.take('ns/a'), 0);
  assert.equal(limiter.take('ns/a'), 0);
  now += 1_000;
  limiter.sweep();
  assert.equal(limiter.size, 1);
  assert.equal(limiter.take('ns/a'), 29_000);
});

test('a bucket refilled part of the way is not full: a sweep keeps it', () => {
  let now = 0;
  const limiter = new KeyedRateLimiter(2, 2 / 60, { now: () => now });
  limiter.take('ns/a');
  limiter.take('ns/a');
  now += 45_000; // 1.5 of 2 tokens back
  limiter.sweep();
  assert.equal(limiter.size, 1);
  assert.deepEqual([limiter.take('ns/a'), limiter.take('ns/a')], [0, 15_000]);
});

test('at the key bound, a new key first sweeps the full buckets: a key still part-empty keeps its bucket', () => {
  let now = 0;
  const limiter = new KeyedRateLimiter(2, 2 / 60, { maxKeys: 2, now: () => now });
  limiter.take('ns/a');
  limiter.take('ns/a');
  limiter.take('ns/b');
  now += 30_000; // b full again, a holds 1 of 2
  limiter.take('ns/c');
  assert.deepEqual([limiter.take('ns/a'), limiter.take('ns/a')], [0, 30_000], 'a kept its bucket, not handed a full one');
});

test('wait() answers without taking: a bucket asked many times still has its tokens', () => {
  let now = 0;
  const bucket = new TokenBucket(2, 1, () => now);
  for (let i = 0; i < 10; i++) assert.equal(bucket.wait(), 0);
  assert.deepEqual([bucket.take(), bucket.take(), bucket.wait()], [0, 0, 1000]);
  now += 1000;
  assert.equal(bucket.wait(), 0);
});

test('charge() counts failures let through together: the debt stops at one capacity, so the wait is at most two fills', () => {
  let now = 0;
  const bucket = new TokenBucket(3, 1, () => now);
  for (let i = 0; i < 3; i++) bucket.charge();
  assert.equal(bucket.wait(), 1000, 'three failures: the fourth request waits for a token');
  for (let i = 0; i < 100; i++) bucket.charge();
  assert.equal(bucket.wait(), 4000, 'a hundred more: three tokens owed, then one to spend');
  now += 4000;
  assert.equal(bucket.wait(), 0);
});

test('a keyed limiter: wait() creates no bucket, charge() answers the wait it leaves', () => {
  let now = 0;
  const limiter = new KeyedRateLimiter(2, 2 / 60, { now: () => now });
  assert.equal(limiter.wait('10.0.0.1'), 0);
  assert.equal(limiter.size, 0, 'an address that never failed costs nothing');
  assert.equal(limiter.charge('10.0.0.1'), 0, 'one failure of two: still allowed');
  assert.equal(limiter.charge('10.0.0.1'), 30_000, 'two of two: the next request waits 30 s');
  assert.equal(limiter.wait('10.0.0.1'), 30_000);
  assert.equal(limiter.wait('10.0.0.2'), 0, 'another address is not affected');
  now += 30_000;
  assert.equal(limiter.wait('10.0.0.1'), 0);
  limiter.sweep();
  assert.equal(limiter.size, 1, 'half refilled: kept');
});
