import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testCluster, installCrd } from '../support/cluster.ts';

test('the control plane serves the FliptClient CRD', async () => {
  const { kubeConfig, clients } = await testCluster();
  await installCrd(kubeConfig);
  const list = await clients.custom.listClusterCustomObject({ group: 'flipt.io', version: 'v1alpha1', plural: 'fliptclients' });
  assert.ok(Array.isArray((list as { items: unknown[] }).items));
});

test('two control planes started at once do not collide', async () => {
  const { startControlPlane } = await import('../support/controlplane.ts');
  const [a, b] = await Promise.all([startControlPlane(), startControlPlane()]);
  try {
    assert.notEqual(a.server, b.server);
    assert.notEqual(a.dir, b.dir);
    for (const cp of [a, b]) {
      const { loadKubeConfig, makeClients } = await import('../../src/kube/client.ts');
      const clients = makeClients(loadKubeConfig(cp.kubeconfigPath));
      await clients.core.createNamespace({ body: { metadata: { name: 'only-here' } } });
    }
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});
