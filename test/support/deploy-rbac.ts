// Runs the operator as its own ServiceAccount under exactly the RBAC that deploy/ ships: the
// manifests are applied unchanged and the operator gets a kubeconfig holding that account's token.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubernetesObjectApi, loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { isNotFound } from '../../src/kube/errors.ts';
import type { TestCluster } from './cluster.ts';
import { scratchDir } from './scratch.ts';

export const OPERATOR_NAMESPACE = 'flipt-client-operator';
export const OPERATOR_SERVICE_ACCOUNT = 'flipt-client-operator';

export function deployManifest(file: string): KubernetesObject[] {
  // loadAllYaml builds client-node's typed models, which is what its serializer needs to keep every field.
  return (loadAllYaml(readFileSync(new URL(`../../deploy/${file}`, import.meta.url), 'utf8')) as KubernetesObject[]).filter(Boolean);
}

/** Creates or replaces each object, like `kubectl apply` for objects only this test writes. */
export async function applyObjects(cluster: TestCluster, objects: KubernetesObject[]): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
  for (const obj of objects) {
    try {
      const existing = await api.read({ apiVersion: obj.apiVersion!, kind: obj.kind!, metadata: { name: obj.metadata!.name!, namespace: obj.metadata?.namespace } });
      await api.replace({ ...obj, metadata: { ...obj.metadata, resourceVersion: existing.metadata?.resourceVersion } });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await api.create(obj);
    }
  }
}

/** Applies deploy/namespace.yaml, rbac.yaml and target-rbac.yaml; returns a kubeconfig for the operator's ServiceAccount. */
export async function operatorKubeconfig(cluster: TestCluster): Promise<string> {
  await applyObjects(cluster, [...deployManifest('namespace.yaml'), ...deployManifest('rbac.yaml'), ...deployManifest('target-rbac.yaml')]);
  return serviceAccountKubeconfig(cluster, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT);
}

/**
 * A kubeconfig that authenticates as the ServiceAccount (a one-hour token), for running the operator
 * as it; `server` puts something (a proxy) between it and the API server.
 */
export async function serviceAccountKubeconfig(cluster: TestCluster, namespace: string, name: string, server = cluster.kubeConfig.getCurrentCluster()!.server): Promise<string> {
  const request = await cluster.clients.core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const path = join(scratchDir('sa'), 'kubeconfig');
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]
users: [{name: ${name}, user: {token: "${request.status!.token}"}}]
contexts: [{name: ${name}, context: {cluster: test, user: ${name}}}]
current-context: ${name}
`,
    { mode: 0o600 },
  );
  return path;
}
