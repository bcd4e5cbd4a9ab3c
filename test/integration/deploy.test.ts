// `kubectl apply -k deploy/` as a user runs it: kustomize renders deploy/, every object is accepted
// by the real API server, the generated config is one the operator loads, and the pieces refer to
// each other by the right names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubernetesObject, V1ConfigMap, V1CustomResourceDefinition, V1Deployment, V1PodDisruptionBudget } from '@kubernetes/client-node';
import { ApiextensionsV1Api, KubernetesObjectApi } from '@kubernetes/client-node';
import { parseOperatorConfig } from '../../src/config/operator-config.ts';
import { testCluster } from '../support/cluster.ts';
import { applyObjects } from '../support/deploy-rbac.ts';
import { kustomizeBuild } from '../support/kustomize.ts';

test('kustomize build deploy/ renders objects the API server accepts and that fit together', async () => {
  const objects = await kustomizeBuild('deploy');
  const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
  for (const kind of ['Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ConfigMap', 'Deployment', 'Service', 'PodDisruptionBudget']) {
    assert.ok(byKind(kind).length > 0, `deploy/ renders a ${kind}`);
  }

  const configMap = byKind('ConfigMap')[0] as V1ConfigMap;
  const config = parseOperatorConfig(configMap.data!['config.yaml']!, 'deploy/config.yaml');
  const deployment = byKind('Deployment')[0] as V1Deployment;
  const pod = deployment.spec!.template.spec!;
  assert.equal(pod.volumes!.find((v) => v.name === 'config')?.configMap?.name, configMap.metadata!.name, 'the Deployment mounts the generated config');
  assert.equal(pod.serviceAccountName, byKind('ServiceAccount')[0]!.metadata!.name);
  const ports = Object.fromEntries(pod.containers[0]!.ports!.map((p) => [p.name, p.containerPort]));
  assert.deepEqual(ports, { exchange: config.exchange.port, metrics: config.metrics.port, health: config.health.port });
  assert.equal(pod.securityContext?.runAsNonRoot, true);
  // One of the two replicas may move at a time, and they prefer distinct nodes and zones: each selector
  // must select exactly the Deployment's pods, or the budget and the spread protect nothing.
  const podLabels = deployment.spec!.template.metadata!.labels!;
  const selectsPods = (selector: { matchLabels?: Record<string, string> } | undefined) =>
    JSON.stringify(selector) === JSON.stringify(deployment.spec!.selector) && Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => podLabels[k] === v);
  const budget = byKind('PodDisruptionBudget')[0] as V1PodDisruptionBudget;
  assert.equal(budget.metadata!.namespace, deployment.metadata!.namespace);
  assert.ok(selectsPods(budget.spec!.selector), 'the budget covers the operator pods');
  assert.equal(deployment.spec!.replicas, 2);
  assert.equal(budget.spec!.maxUnavailable, 1, 'one of the two replicas at a time');
  assert.equal(budget.spec!.unhealthyPodEvictionPolicy, 'AlwaysAllow', 'a crash-looping replica never blocks a drain');
  assert.deepEqual(pod.topologySpreadConstraints!.map((c) => `${c.topologyKey} ${c.whenUnsatisfiable}`), ['kubernetes.io/hostname ScheduleAnyway', 'topology.kubernetes.io/zone ScheduleAnyway']);
  for (const c of pod.topologySpreadConstraints!) assert.ok(selectsPods(c.labelSelector), `the ${c.topologyKey} spread counts the operator pods`);
  const target = config.targets[0]!;
  const targetRole = byKind('Role').find((r) => r.metadata?.namespace === target.namespace) as KubernetesObject & { rules: Array<{ resources: string[]; resourceNames?: string[] }> };
  assert.ok(targetRole, 'a Role in the target namespace');
  assert.deepEqual(targetRole.rules.find((r) => r.resources.includes('configmaps'))?.resourceNames, [target.configMap.name]);
  assert.deepEqual(targetRole.rules.find((r) => r.resources.includes('deployments'))?.resourceNames, [target.workload.name]);

  const cluster = await testCluster();
  await cluster.clients.core.createNamespace({ body: { metadata: { name: target.namespace } } }).catch((err) => {
    if ((err as { code?: number }).code !== 409) throw err;
  });
  await applyObjects(cluster, objects);
  const served = await cluster.kubeConfig.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: 'fliptclients.flipt.io' });
  const rendered = byKind('CustomResourceDefinition')[0] as V1CustomResourceDefinition;
  assert.deepEqual(
    served.spec.versions[0]!.schema!.openAPIV3Schema!.x_kubernetes_validations,
    rendered.spec.versions[0]!.schema!.openAPIV3Schema!.x_kubernetes_validations,
    'the CEL rules reach the API server',
  );
  assert.ok(served.spec.versions[0]!.schema!.openAPIV3Schema!.x_kubernetes_validations?.length);
});

test('the opt-in rollout-restart component adds patch on workloads and nothing else', async () => {
  const base = await kustomizeBuild('deploy');
  const withIt = await kustomizeBuild('examples/with-rollout-restart');
  const key = (o: KubernetesObject) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
  const added = withIt.filter((o) => !base.some((b) => key(b) === key(o)));
  assert.deepEqual(added.map(key).sort(), ['ClusterRole//flipt-client-operator-rollout-restart', 'ClusterRoleBinding//flipt-client-operator-rollout-restart']);
  const role = added.find((o) => o.kind === 'ClusterRole') as KubernetesObject & { rules: unknown[] };
  assert.deepEqual(JSON.parse(JSON.stringify(role.rules)), [{ apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets'], verbs: ['patch'] }]);
  const binding = added.find((o) => o.kind === 'ClusterRoleBinding') as KubernetesObject & { subjects: Array<{ name: string; namespace: string }> };
  const serviceAccount = base.find((o) => o.kind === 'ServiceAccount')!;
  assert.deepEqual(binding.subjects.map((s) => `${s.namespace}/${s.name}`), [`${serviceAccount.metadata!.namespace}/${serviceAccount.metadata!.name}`]);
  const cluster = await testCluster();
  await applyObjects(cluster, added);
  // Cluster-wide, and other test files run the operator as this ServiceAccount without the opt-in.
  const api = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
  for (const obj of added) await api.delete({ apiVersion: obj.apiVersion!, kind: obj.kind!, metadata: { name: obj.metadata!.name! } });
});
