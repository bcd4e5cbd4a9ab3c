// The generic list-watch cache against the real API server: lists arrive in pages, each trimmed, and
// nothing is lost between pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Informer } from '../../src/runtime/informer.ts';
import { apiServerRequests } from '../support/api-metrics.ts';
import { createNamespace, testCluster } from '../support/cluster.ts';

test('a list of more objects than one page holds arrives whole, every object trimmed, read in pages', async () => {
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
    const cached = informer.list(namespace);
    assert.equal(cached.length, count);
    assert.equal(new Set(cached.map((cm) => cm.data?.n)).size, count, 'every object once');
    assert.ok(cached.every((cm) => cm.metadata?.managedFields === undefined), 'every page trimmed');
    assert.equal(new Set(seen).size, count, 'every object handed to onChange');
    assert.ok(lists >= 3, `read in pages of at most 500: ${lists} LIST request(s) for ${count} objects`);
  } finally {
    await informer.stop();
    await clients.core.deleteNamespace({ name: namespace });
  }
});
