// A per-key de-duplicating work queue in the manner of client-go's: a key waiting is queued once
// however often it is added, a key is never handed to two workers at once (an add while it is being
// processed runs it again afterwards), failures back off exponentially per key, and delayed adds keep
// only the earliest deadline. The number of distinct keys is bounded; overflow is counted and dropped,
// and the periodic resync brings a dropped key back. Kept here: no maintained Node library offers a
// per-key de-duplicating queue that never hands one key to two workers.
import { systemClock, type Clock } from './clock.ts';

const MAX_TIMER_MS = 2 ** 31 - 1;

export interface WorkQueueOptions {
  clock?: Clock;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  maxKeys?: number;
  onDrop?: (key: string) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;
  private readonly baseBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxKeys: number;
  private readonly onDrop: (key: string) => void;
  private readonly clock: Clock;

  constructor(options: WorkQueueOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.baseBackoffMs = options.baseBackoffMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 300_000;
    this.maxKeys = options.maxKeys ?? 100_000;
    this.onDrop = options.onDrop ?? (() => {});
  }

  /** Keys waiting to be processed (not counting delayed ones or those in progress). */
  get depth(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    if (this.dirty.size + this.processing.size + this.delayed.size >= this.maxKeys && !this.processing.has(key) && !this.delayed.has(key)) {
      this.onDrop(key);
      return;
    }
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.processing.add(key);
      this.dirty.delete(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
  }

  /** Adds the key after a delay; of several pending delays for one key the earliest wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (!(delayMs > 0)) {
      // Zero, negative or NaN: now.
      this.add(key);
      return;
    }
    const at = this.clock.now() + delayMs;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) {
      clearTimeout(pending.timer);
    } else if (this.dirty.size + this.processing.size + this.delayed.size >= this.maxKeys && !this.processing.has(key) && !this.dirty.has(key)) {
      this.onDrop(key);
      return;
    }
    this.arm(key, at);
  }

  /**
   * Node.js fires a timer asked to wait longer than 2^31-1 ms (about 24.8 days) after 1 ms, so a long
   * delay (a monthly rotation) is waited out in steps no longer than that.
   */
  private arm(key: string, at: number): void {
    const timer = setTimeout(() => {
      if (at - this.clock.now() > 0) {
        this.arm(key, at);
        return;
      }
      // Added while still counted as delayed, so that the key bound cannot drop it now.
      this.add(key);
      this.delayed.delete(key);
    }, Math.min(Math.max(at - this.clock.now(), 0), MAX_TIMER_MS));
    timer.unref();
    this.delayed.set(key, { at, timer });
  }

  /** Adds the key after its exponential backoff and counts one more failure for it. */
  addRateLimited(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    const delay = Math.min(this.baseBackoffMs * 2 ** failures, this.maxBackoffMs);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the key's failure count after a success. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Resolves with the next key, or undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks the key finished; if it was added meanwhile it goes back on the queue. */
  done(key: string): void {
    this.processing.delete(key);
    if (!this.dirty.has(key)) return;
    // Already accepted when it was added, so it is queued without a second look at the key bound.
    if (this.shuttingDown) {
      this.dirty.delete(key);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }
}
