import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testCluster, installCrd } from '../support/cluster.ts';

test('the control plane serves the FliptClient CRD', async () => {
  const { kubeConfig, clients } = await testCluster();
  await installCrd(kubeConfig);
  const list = await clients.custom.listClusterCustomObject({ group: 'flipt.io', version: 'v1alpha1', plural: 'fliptclients' });
  assert.ok(Array.isArray((list as { items: unknown[] }).items));
});
