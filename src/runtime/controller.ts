// Runs a reconcile function over a work queue with a fixed number of workers. A reconcile returns
// what should happen next (nothing until something changes, or look again after a delay) or throws,
// in which case the key is retried with per-key exponential backoff. Kept here rather than taken from
// a library: Node has no maintained equivalent of controller-runtime's controller.
import { setImmediate as nextTurnOfEventLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import { describeError } from '../kube/errors.ts';
import type { Clock } from './clock.ts';
import { WorkQueue } from './work-queue.ts';

export type ReconcileResult = { requeueAfterMs?: number } | void;
export type Reconcile = (key: string) => Promise<ReconcileResult>;

export interface ControllerHooks {
  onReconciled?: (controller: string, outcome: 'success' | 'error', seconds: number) => void;
  onQueueDepth?: (controller: string, depth: number) => void;
}

export class Controller {
  readonly name: string;
  private queue: WorkQueue;
  private workers: Promise<void>[] = [];
  private readonly reconcile: Reconcile;
  private readonly log: Logger;
  private readonly concurrency: number;
  private readonly hooks: ControllerHooks;

  private readonly clock: Clock;

  constructor(name: string, reconcile: Reconcile, log: Logger, clock: Clock, concurrency: number, hooks: ControllerHooks = {}) {
    this.name = name;
    this.reconcile = reconcile;
    this.log = log;
    this.clock = clock;
    this.concurrency = concurrency;
    this.hooks = hooks;
    this.queue = this.newQueue();
  }

  private newQueue(): WorkQueue {
    return new WorkQueue({
      clock: this.clock,
      onDrop: (key) => this.log.warn({ controller: this.name, key }, 'work queue full; key dropped until the next resync'),
    });
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Enqueues the key within `ms` at the latest: everything that asks meanwhile shares one reconcile. */
  enqueueWithin(key: string, ms: number): void {
    this.queue.addAfter(key, ms);
  }

  /** Starts the workers; a stopped controller starts again with an empty queue (a resync refills it). */
  start(): void {
    if (this.workers.length > 0) return;
    for (let i = 0; i < this.concurrency; i++) this.workers.push(this.work(this.queue));
  }

  /** Lets the items in progress finish, drops the rest, and readies an empty queue for a later start. */
  async stop(): Promise<void> {
    const { queue, workers } = this;
    this.queue = this.newQueue();
    this.workers = [];
    queue.shutDown();
    await Promise.all(workers);
  }

  private async work(queue: WorkQueue): Promise<void> {
    for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
      this.hooks.onQueueDepth?.(this.name, queue.depth);
      const started = performance.now();
      try {
        const result = await this.reconcile(key);
        queue.forget(key);
        if (result?.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
        this.hooks.onReconciled?.(this.name, 'success', (performance.now() - started) / 1000);
      } catch (err) {
        const retryInMs = queue.addRateLimited(key);
        this.hooks.onReconciled?.(this.name, 'error', (performance.now() - started) / 1000);
        this.log.warn({ controller: this.name, key, err: describeError(err), retryInMs }, 'reconcile failed; will retry');
      } finally {
        queue.done(key);
      }
      // A reconcile that needs no API call resolves in microtasks alone: without this, a queue of
      // thousands (the resync after a start) would starve probes, the exchange and lease renewal.
      await nextTurnOfEventLoop();
    }
  }
}
