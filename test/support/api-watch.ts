// Counting what actually happens on the API server: a watch on one object records every version
// of it, so tests count ConfigMap writes and restarts from the server, not from the operator's logs.
import { Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

export interface ObjectHistory<T extends KubernetesObject> {
  versions: T[];
  stop(): void;
}

export async function recordHistory<T extends KubernetesObject>(kubeConfig: KubeConfig, path: string, name: string): Promise<ObjectHistory<T>> {
  const versions: T[] = [];
  let controller: AbortController | undefined;
  let stopped = false;
  let resourceVersion: string | undefined;
  const start = async () => {
    controller = await new Watch(kubeConfig).watch(
      path,
      { fieldSelector: `metadata.name=${name}`, allowWatchBookmarks: false, ...(resourceVersion ? { resourceVersion } : {}) },
      (type, obj: T) => {
        if (type !== 'ADDED' && type !== 'MODIFIED') return;
        if (versions.some((v) => v.metadata?.resourceVersion === obj.metadata?.resourceVersion)) return;
        versions.push(obj);
        resourceVersion = obj.metadata?.resourceVersion;
      },
      () => {
        if (!stopped) setTimeout(() => void start(), 50);
      },
    );
  };
  await start();
  return {
    versions,
    stop() {
      stopped = true;
      controller?.abort();
    },
  };
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
