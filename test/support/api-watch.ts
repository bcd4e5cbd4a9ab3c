// Counting what actually happens on the API server: a watch on one object records every version of
// it, so tests count ConfigMap writes and restarts from the server, not from the operator's logs.
//
// A count is only as good as the watch behind it. A watch that ended in an ERROR event (410 Gone: the
// resourceVersion was compacted away) has missed versions, so every "no write happened" would pass:
// such a history fails every later read. Bookmarks keep the resourceVersion fresh, so a reconnect
// after an idle stretch does not fall behind the compaction; and caughtUp() proves the history has
// seen the object's current version before a test asserts on it.
import { HttpMethod, RequestContext, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { waitFor } from './cluster.ts';

export interface ObjectHistory<T extends KubernetesObject> {
  /** Every version seen, oldest first; throws if the watch ever lost track. */
  readonly versions: T[];
  /** When this process received the version (ms since the epoch): no earlier than the write. */
  receivedAt(version: T): number;
  /** The object as the DELETED event carried it (its resourceVersion is the deletion's), once deleted. */
  readonly deleted: T | undefined;
  /** Resolves once the last recorded version is the object's current one on the server. */
  caughtUp(): Promise<void>;
  stop(): void;
}

/** Records the object's versions from now on (or from resourceVersion `from`, to test the recorder itself). */
export async function recordHistory<T extends KubernetesObject>(kubeConfig: KubeConfig, path: string, name: string, from?: string): Promise<ObjectHistory<T>> {
  const versions: T[] = [];
  const received = new WeakMap<T, number>();
  let controller: AbortController | undefined;
  let stopped = false;
  let failure: string | undefined;
  let resourceVersion: string | undefined = from;
  let deleted: T | undefined;
  const start = async () => {
    controller = await new Watch(kubeConfig).watch(
      path,
      { fieldSelector: `metadata.name=${name}`, allowWatchBookmarks: true, ...(resourceVersion ? { resourceVersion } : {}) },
      (type, obj: T) => {
        if (type === 'ERROR') {
          failure ??= `the watch on ${path} ${name} failed: ${JSON.stringify(obj)}`;
          return;
        }
        resourceVersion = obj.metadata?.resourceVersion ?? resourceVersion;
        if (type === 'DELETED') deleted = obj;
        if (type !== 'ADDED' && type !== 'MODIFIED') return;
        if (versions.some((v) => v.metadata?.resourceVersion === obj.metadata?.resourceVersion)) return;
        versions.push(obj);
        received.set(obj, Date.now());
      },
      (err: unknown) => {
        // The server refused the watch (410 Gone, a resourceVersion it cannot serve): versions are lost.
        const status = (err as { statusCode?: unknown } | null)?.statusCode;
        if (typeof status === 'number') failure ??= `the watch on ${path} ${name} failed: HTTP ${status}`;
        // A closed connection (a timeout, an API server restart) resumes from the last version seen.
        if (!stopped && !failure) setTimeout(() => void start().catch((e) => (failure ??= `the watch on ${path} could not restart: ${String(e)}`)), 50);
      },
    );
  };
  await start();
  const healthy = () => {
    if (failure) throw new Error(failure);
  };
  return {
    get versions() {
      healthy();
      return versions;
    },
    receivedAt(version: T) {
      const at = received.get(version);
      if (at === undefined) throw new Error('not a version this history recorded');
      return at;
    },
    get deleted() {
      healthy();
      return deleted;
    },
    async caughtUp() {
      const list = (await fetchJson(kubeConfig, `${path}?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`)) as { items: T[] };
      const current = list.items[0]?.metadata?.resourceVersion;
      await waitFor(() => {
        healthy();
        return current === undefined || versions.some((v) => v.metadata?.resourceVersion === current);
      }, `the watch on ${name} to catch up with resourceVersion ${current}`, 10_000, 20);
    },
    stop() {
      stopped = true;
      controller?.abort();
    },
  };
}

/** GET as the kubeconfig's user, with client-node's own authentication and TLS settings. */
async function fetchJson(kubeConfig: KubeConfig, path: string): Promise<unknown> {
  const url = `${kubeConfig.getCurrentCluster()!.server}${path}`;
  const context = new RequestContext(url, HttpMethod.GET);
  await kubeConfig.applySecurityAuthentication(context);
  const res = await fetch(url, { headers: context.getHeaders(), dispatcher: context.getDispatcher() });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
  return res.json();
}

/** How many times a value derived from the object changed across its recorded versions. */
export function changes<T extends KubernetesObject>(history: ObjectHistory<T>, value: (obj: T) => unknown, from?: T): number {
  let previous = from ? JSON.stringify(value(from)) : undefined;
  let count = 0;
  for (const obj of history.versions) {
    const current = JSON.stringify(value(obj));
    if (previous !== undefined && current !== previous) count++;
    previous = current;
  }
  return count;
}

/**
 * The resourceVersion as a number. The test control plane has one etcd, whose revision every write
 * advances: comparing two objects' resourceVersions orders their writes. (Clients of a real cluster
 * must treat it as opaque; tests of the order of the operator's writes may not.)
 */
export function revision(obj: KubernetesObject): number {
  return Number(obj.metadata?.resourceVersion);
}
