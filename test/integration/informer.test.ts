// The generic list-watch cache against the real API server: lists arrive in pages, each trimmed (and
// so is what the watch brings), and nothing is lost between pages; its index stays in step with what it caches;
// a first list that failed is not taken for a sync, and is retried.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Informer } from '../../src/runtime/informer.ts';
import { apiServerRequests } from '../support/api-metrics.ts';
import { createNamespace, testCluster, waitFor } from '../support/cluster.ts';

test('a list of more objects than one page holds arrives whole, every object trimmed, read in pages; what the watch brings later is trimmed too', async () => {
  const { kubeConfig, clients } = await testCluster();
  const namespace = await createNamespace(clients, 'informer');
  const count = 1_234;
  for (let i = 0; i < count; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, (_, j) =>
        clients.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: `cm-${i + j}`, labels: { informer: 'paged' } }, data: { n: String(i + j) } } }),
      ),
    );
  }
  const seen: string[] = [];
  const informer = new Informer<V1ConfigMap>(
    kubeConfig,
    {
      name: 'configmaps',
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      labelSelector: 'informer=paged',
      trim: (cm) => void delete cm.metadata?.managedFields,
      onChange: (cm) => void seen.push(cm.metadata!.name!),
    },
    pino({ level: 'silent' }),
  );
  const listsBefore = await apiServerRequests(kubeConfig, 'configmaps', 'LIST');
  try {
    await informer.start();
    await informer.waitForSync();
    const lists = (await apiServerRequests(kubeConfig, 'configmaps', 'LIST')) - listsBefore;
    const cached = informer.list();
    assert.equal(cached.length, count);
    assert.equal(new Set(cached.map((cm) => cm.data?.n)).size, count, 'every object once');
    assert.ok(cached.every((cm) => cm.metadata?.managedFields === undefined), 'every page trimmed');
    assert.equal(new Set(seen).size, count, 'every object handed to onChange');
    assert.ok(lists >= 3, `read in pages of at most 500: ${lists} LIST request(s) for ${count} objects`);

    await clients.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'later', labels: { informer: 'paged' } }, data: { n: 'added' } } });
    const first = await clients.core.readNamespacedConfigMap({ name: 'cm-0', namespace });
    await clients.core.replaceNamespacedConfigMap({ name: 'cm-0', namespace, body: { ...first, data: { n: 'changed' } } });
    await waitFor(() => informer.get('later', namespace) !== undefined && informer.get('cm-0', namespace)?.data?.n === 'changed', 'the watch to bring an add and a change', 10_000, 50);
    for (const name of ['later', 'cm-0']) assert.equal(informer.get(name, namespace)!.metadata!.managedFields, undefined, `${name}, from the watch, trimmed`);
  } finally {
    await informer.stop();
    await clients.core.deleteNamespace({ name: namespace });
  }
});

test('the index groups the cached objects as the cache holds them: through adds, a key that changes, deletes, and changes made while stopped', async () => {
  const { kubeConfig, clients } = await testCluster();
  const [one, two] = [await createNamespace(clients, 'index'), await createNamespace(clients, 'index')];
  const label = `informer-index-${Date.now().toString(36)}`;
  const put = (namespace: string, name: string, group: string, extra = '') =>
    clients.core.createNamespacedConfigMap({ namespace, body: { metadata: { name, labels: { [label]: 'yes' } }, data: { group, extra } } });
  const change = (namespace: string, name: string, group: string, extra = '') =>
    clients.core.replaceNamespacedConfigMap({ name, namespace, body: { metadata: { name, labels: { [label]: 'yes' } }, data: { group, extra } } });
  const informer = new Informer<V1ConfigMap>(
    kubeConfig,
    { name: 'configmaps', path: '/api/v1/configmaps', labelSelector: `${label}=yes`, indexBy: (cm) => cm.data!.group!, onChange: () => {} },
    pino({ level: 'silent' }),
  );
  const keys = (cms: readonly V1ConfigMap[]) => cms.map((cm) => `${cm.metadata!.namespace}/${cm.metadata!.name}:${cm.data!.extra}`).sort();
  /** Waits for the cache to hold exactly `expected` ("<ns>/<name>": group), then compares every group of the index with it. */
  const settled = async (expected: Record<string, string>, extra: Record<string, string> = {}) => {
    const want = Object.keys(expected).map((k) => `${k}:${extra[k] ?? ''}`).sort();
    await waitFor(() => isDeepStrictEqual(keys(informer.list()), want), 'the cache to catch up', 15_000, 50);
    for (const group of ['x', 'y', 'z']) {
      const members = Object.entries(expected).filter(([, g]) => g === group).map(([k]) => `${k}:${extra[k] ?? ''}`).sort();
      assert.deepEqual(keys(informer.byIndex(group)), members, `group ${group}`);
    }
  };
  try {
    await put(one, 'a', 'x');
    await put(one, 'b', 'y');
    await put(two, 'a', 'x');
    await informer.start();
    await informer.waitForSync();
    await settled({ [`${one}/a`]: 'x', [`${one}/b`]: 'y', [`${two}/a`]: 'x' });

    await change(one, 'b', 'x');
    await change(one, 'a', 'x', 'edited');
    await settled({ [`${one}/a`]: 'x', [`${one}/b`]: 'x', [`${two}/a`]: 'x' }, { [`${one}/a`]: 'edited' });
    await clients.core.deleteNamespacedConfigMap({ name: 'a', namespace: two });
    await put(two, 'c', 'z');
    await settled({ [`${one}/a`]: 'x', [`${one}/b`]: 'x', [`${two}/c`]: 'z' }, { [`${one}/a`]: 'edited' });

    await informer.stop();
    await change(one, 'a', 'y', 'while stopped');
    await clients.core.deleteNamespacedConfigMap({ name: 'b', namespace: one });
    await put(two, 'd', 'y');
    await informer.start();
    await settled({ [`${one}/a`]: 'y', [`${two}/c`]: 'z', [`${two}/d`]: 'y' }, { [`${one}/a`]: 'while stopped' });
    assert.deepEqual(informer.byIndex('no such group'), []);
  } finally {
    await informer.stop();
    await Promise.all([one, two].map((name) => clients.core.deleteNamespace({ name })));
  }
});

test('a first list a handler failed on is not a sync: the informer says so and lists again until one gets through; stopped, it says nothing more', async () => {
  const { kubeConfig, clients } = await testCluster();
  const namespace = await createNamespace(clients, 'informer-retry');
  await clients.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'one' } } });
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  let failuresLeft = 1;
  const onChange = () => {
    if (failuresLeft-- > 0) throw new Error('handler failed');
  };
  const informer = new Informer<V1ConfigMap>(kubeConfig, { name: 'configmaps', path: `/api/v1/namespaces/${namespace}/configmaps`, onChange }, log);
  try {
    await informer.start();
    assert.equal(informer.synced, false);
    assert.deepEqual(lines.map((l) => [l.msg, l.err, l.retryInMs]), [['watch failed; restarting', 'handler failed', 500]]);
    await informer.waitForSync();
    assert.equal(informer.get('one', namespace)?.metadata?.name, 'one');
    assert.deepEqual(lines.map((l) => l.msg), ['watch failed; restarting', 'watch running again']);
  } finally {
    await informer.stop();
  }
  await new Promise((r) => setTimeout(r, 1_000));
  assert.deepEqual(lines.map((l) => l.msg), ['watch failed; restarting', 'watch running again'], 'nothing logged once stopped');
  await clients.core.deleteNamespace({ name: namespace });
});
