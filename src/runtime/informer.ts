// A list-watch cache that keeps going. client-node's ListWatch reconnects after a watch times out or
// expires (410), but on any other error (API server down, RBAC denied, a failed list) it calls its
// error handlers and stops for good; this wrapper restarts it with exponential backoff. Kept here: the
// restart is exactly what client-node lacks, and its ListWatch does the rest. Lists are read as plain
// JSON (client-node's typed lists build a class instance per object and field, which costs time and
// memory in proportion to the cluster), in pages, and `trim` drops what the cache need not keep. An
// optional index groups the cached objects by one key, so that a reader of one group does not copy
// the whole cache.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { getJson } from '../kube/client.ts';
import { describeError } from '../kube/errors.ts';

export interface InformerOptions<T extends KubernetesObject> {
  name: string;
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Removes, in place, what the cache need not keep (it runs before any handler sees the object). */
  trim?: (obj: T) => void;
  /** The key byIndex groups the cached objects by. */
  indexBy?: (obj: T) => string;
  onChange: (obj: T) => void;
}

const LIST_PAGE_SIZE = 500;
const MIN_RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;

export class Informer<T extends KubernetesObject> {
  private readonly listWatch: ListWatch<T>;
  private stopped = false;
  private restartDelayMs = MIN_RESTART_DELAY_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private syncedOnce = false;
  private readonly syncWaiters: Array<() => void> = [];
  /** Index value -> the cached objects with it, by "<namespace>/<name>"; and the value each object is under. */
  private readonly groups = new Map<string, Map<string, T>>();
  private readonly groupOf = new Map<string, string>();

  private readonly options: InformerOptions<T>;
  private readonly log: Logger;

  constructor(kubeConfig: KubeConfig, options: InformerOptions<T>, log: Logger) {
    this.options = options;
    this.log = log;
    const selectors = { ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}), ...(options.fieldSelector ? { fieldSelector: options.fieldSelector } : {}) };
    // In pages, each trimmed before the next is read: never the whole list's JSON in memory at once.
    const list = async () => {
      const items: T[] = [];
      let page: KubernetesListObject<T>;
      let next: string | undefined;
      do {
        const query = new URLSearchParams({ ...selectors, limit: String(LIST_PAGE_SIZE), ...(next ? { continue: next } : {}) });
        page = (await getJson(kubeConfig, `${options.path}?${query}`)) as KubernetesListObject<T>;
        for (const item of page.items) {
          options.trim?.(item);
          items.push(item);
        }
        next = (page.metadata as { continue?: string } | undefined)?.continue || undefined;
      } while (next);
      return { ...page, items };
    };
    this.listWatch = new ListWatch<T>(options.path, new Watch(kubeConfig), list, false, options.labelSelector, options.fieldSelector);
    // Watched objects reach the cache before any handler: trimming them in the first one trims the cache.
    if (options.trim) {
      this.listWatch.on('add', options.trim);
      this.listWatch.on('update', options.trim);
    }
    // Before any handler, so that each sees the index in step with the cache.
    const indexBy = options.indexBy;
    if (indexBy) {
      const reindex = (obj: T) => this.reindex(obj, indexBy);
      this.listWatch.on('add', reindex);
      this.listWatch.on('update', reindex);
      this.listWatch.on('delete', reindex);
    }
    this.listWatch.on('add', options.onChange);
    this.listWatch.on('update', options.onChange);
    this.listWatch.on('delete', options.onChange);
    this.listWatch.on('error', (err) => this.scheduleRestart(err));
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.runListWatch();
  }

  /** Resolves once the first full list has been received. */
  waitForSync(): Promise<void> {
    if (this.syncedOnce) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  get synced(): boolean {
    return this.syncedOnce;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.listWatch.get(name, namespace);
  }

  list(): readonly T[] {
    return this.listWatch.list();
  }

  /** The cached objects whose indexBy key is `value` (the option must be set). */
  byIndex(value: string): T[] {
    return Array.from(this.groups.get(value)?.values() ?? []);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.listWatch.stop();
  }

  private async runListWatch(): Promise<void> {
    let failed = false;
    const onError = () => {
      failed = true;
    };
    this.listWatch.on('error', onError);
    try {
      await this.listWatch.start();
    } catch (err) {
      failed = true;
      this.scheduleRestart(err);
    } finally {
      this.listWatch.off('error', onError);
    }
    if (failed) return;
    // Backoff starts over: a short outage after a long one must not wait out the long one's delay.
    if (this.restartDelayMs !== MIN_RESTART_DELAY_MS) this.log.info({ informer: this.options.name }, 'watch running again');
    this.restartDelayMs = MIN_RESTART_DELAY_MS;
    if (!this.syncedOnce) {
      this.syncedOnce = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve();
    }
  }

  /**
   * Puts the object under its key as the cache now holds it. client-node changes its cache before it
   * calls a handler (on a relist too), so the cache, not the event, says whether the object is there.
   */
  private reindex(obj: T, indexBy: (obj: T) => string): void {
    const { name = '', namespace } = obj.metadata ?? {};
    const key = `${namespace ?? ''}/${name}`;
    const previous = this.groupOf.get(key);
    if (previous !== undefined) {
      const group = this.groups.get(previous)!;
      group.delete(key);
      if (group.size === 0) this.groups.delete(previous);
      this.groupOf.delete(key);
    }
    const live = this.listWatch.get(name, namespace);
    if (!live) return;
    const value = indexBy(live);
    let group = this.groups.get(value);
    if (!group) this.groups.set(value, (group = new Map()));
    group.set(key, live);
    this.groupOf.set(key, value);
  }

  private scheduleRestart(err: unknown): void {
    if (this.stopped || this.restartTimer) return;
    const delay = this.restartDelayMs;
    this.restartDelayMs = Math.min(this.restartDelayMs * 2, MAX_RESTART_DELAY_MS);
    this.log.warn({ informer: this.options.name, err: describeError(err), retryInMs: delay }, 'watch failed; restarting');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      void this.runListWatch();
    }, delay);
    this.restartTimer.unref();
  }
}
