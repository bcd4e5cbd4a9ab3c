// Token buckets: one global (requests per second for the whole exchange), one per service account
// (requests per minute), and one per caller's address for its failed requests. take() and wait()
// answer how long to wait when a request is refused, for Retry-After.

export class TokenBucket {
  private tokens: number;
  private updatedMs: number;
  private readonly capacity: number;
  private readonly perMs: number;
  private readonly now: () => number;

  /** `capacity` tokens at most, refilled at `perSecond`. */
  constructor(capacity: number, perSecond: number, now: () => number = Date.now) {
    this.capacity = Math.max(1, capacity);
    this.perMs = perSecond / 1000;
    this.now = now;
    this.tokens = this.capacity;
    this.updatedMs = now();
  }

  /** 0 when a token was taken, else the milliseconds until one is available. */
  take(): number {
    const waitMs = this.wait();
    if (waitMs === 0) this.tokens -= 1;
    return waitMs;
  }

  /** 0 when a token is available (none is taken), else the milliseconds until one is. */
  wait(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) / this.perMs);
  }

  /**
   * Takes a token after the fact, even when none is left: requests that were let through together
   * and all failed still count. The debt stops at one capacity, so it is paid off within twice the
   * time the bucket takes to fill.
   */
  charge(): void {
    this.refill();
    this.tokens = Math.max(-this.capacity, this.tokens - 1);
  }

  /** Whether the bucket is full again (and so equivalent to a fresh one). */
  get full(): boolean {
    this.refill();
    return this.tokens >= this.capacity;
  }

  private refill(): void {
    const now = this.now();
    const elapsed = Math.max(0, now - this.updatedMs);
    this.updatedMs = now;
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.perMs);
  }
}

/** One bucket per key, created on demand; full buckets are dropped so idle keys cost nothing. */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly capacity: number;
  private readonly perSecond: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(capacity: number, perSecond: number, options: { maxKeys?: number; now?: () => number } = {}) {
    this.capacity = capacity;
    this.perSecond = perSecond;
    this.maxKeys = options.maxKeys ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  take(key: string): number {
    return this.bucketFor(key).take();
  }

  /** As TokenBucket.wait(); a key without a bucket has a full one. */
  wait(key: string): number {
    return this.buckets.get(key)?.wait() ?? 0;
  }

  /** As TokenBucket.charge(); answers the wait that follows it. */
  charge(key: string): number {
    const bucket = this.bucketFor(key);
    bucket.charge();
    return bucket.wait();
  }

  private bucketFor(key: string): TokenBucket {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.sweep();
      // Still full of busy keys: forget the oldest (it starts again with a full bucket).
      while (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
      bucket = new TokenBucket(this.capacity, this.perSecond, this.now);
      this.buckets.set(key, bucket);
    }
    return bucket;
  }

  /** Drops buckets that have refilled completely. */
  sweep(): void {
    for (const [key, bucket] of this.buckets) if (bucket.full) this.buckets.delete(key);
  }

  get size(): number {
    return this.buckets.size;
  }
}
