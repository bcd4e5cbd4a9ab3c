// The recorder behind every count in the suite: it records each version of an object, proves it has
// caught up with the server, and fails loudly, rather than counting nothing, once its watch has lost
// track of the object (an ERROR event such as 410 Gone or a resourceVersion the server refuses).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { recordHistory, revision, type ObjectHistory } from '../support/api-watch.ts';
import { clusterFor, createNamespace, testCluster } from '../support/cluster.ts';
import { serviceAccountKubeconfig } from '../support/deploy-rbac.ts';

test('records every version in order and catches up with the server', async () => {
  const { kubeConfig, clients } = await testCluster();
  const namespace = await createNamespace(clients, 'watch');
  const history = await recordHistory<V1ConfigMap>(kubeConfig, `/api/v1/namespaces/${namespace}/configmaps`, 'probe');
  try {
    await clients.core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'probe' }, data: { n: '0' } } });
    for (let i = 1; i <= 5; i++) {
      await clients.core.replaceNamespacedConfigMap({ name: 'probe', namespace, body: { metadata: { name: 'probe' }, data: { n: String(i) } } });
    }
    await history.caughtUp();
    assert.deepEqual(history.versions.map((v) => v.data?.n), ['0', '1', '2', '3', '4', '5']);
    const revisions = history.versions.map(revision);
    assert.deepEqual([...revisions].sort((a, b) => a - b), revisions, 'revisions grow with every write');
    await clients.core.deleteNamespacedConfigMap({ name: 'probe', namespace });
    for (let i = 0; i < 50 && !history.deleted; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(history.deleted && revision(history.deleted) > revisions.at(-1)!, 'the deletion is recorded with its revision');
  } finally {
    history.stop();
  }
});

test('a watch the server refuses (RBAC) fails every later read instead of counting nothing', async () => {
  const cluster = await testCluster();
  const namespace = await createNamespace(cluster.clients, 'watch');
  await cluster.clients.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'nobody' } } });
  const nobody = clusterFor(await serviceAccountKubeconfig(cluster, namespace, 'nobody'));
  const history = await recordHistory<V1ConfigMap>(nobody.kubeConfig, `/api/v1/namespaces/${namespace}/configmaps`, 'probe');
  try {
    await assertFails(history, /HTTP 403/);
  } finally {
    history.stop();
  }
});

test('an ERROR event in the stream (how a watch reports 410 Gone) fails every later read', async () => {
  // The API server sends this only once etcd has compacted the watched revision away, which a short
  // test cannot arrange; a loopback server speaking the watch protocol sends the same line.
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' } })}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const history = await recordHistory<V1ConfigMap>(kubeConfig, '/api/v1/namespaces/any/configmaps', 'probe');
  try {
    await assertFails(history, /Expired|410/);
  } finally {
    history.stop();
    server.closeAllConnections();
    server.close();
  }
});

async function assertFails(history: ObjectHistory<V1ConfigMap>, why: RegExp): Promise<void> {
  let failure: unknown;
  for (let i = 0; i < 100 && !failure; i++) {
    try {
      void history.versions;
      await new Promise((r) => setTimeout(r, 50));
    } catch (err) {
      failure = err;
    }
  }
  assert.match(String(failure), /the watch on .* failed/);
  assert.match(String(failure), why);
  assert.throws(() => history.deleted, /failed/);
}
