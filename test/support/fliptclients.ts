// Small helpers to create, read, change and delete FliptClients as a user would with kubectl.
import type { KubeClients } from '../../src/kube/client.ts';
import type { TestCluster } from './cluster.ts';
import { mergePatch } from '../../src/kube/client.ts';
import type { Condition, ConditionType, FliptClient, FliptClientSpec } from '../../src/vocabulary/fliptclient.ts';

const ref = { group: 'flipt.io', version: 'v1alpha1', plural: 'fliptclients' };

export async function createFliptClient(clients: KubeClients, namespace: string, name: string, spec: Partial<FliptClientSpec> = {}): Promise<FliptClient> {
  return (await clients.custom.createNamespacedCustomObject({
    ...ref,
    namespace,
    body: { apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { name, namespace }, spec },
  })) as FliptClient;
}

export async function getFliptClient(clients: KubeClients, namespace: string, name: string): Promise<FliptClient> {
  return (await clients.custom.getNamespacedCustomObject({ ...ref, namespace, name })) as FliptClient;
}

export async function listFliptClients(clients: KubeClients, namespace: string): Promise<FliptClient[]> {
  return ((await clients.custom.listNamespacedCustomObject({ ...ref, namespace })) as { items: FliptClient[] }).items;
}

export async function patchFliptClientSpec(clients: KubeClients, namespace: string, name: string, spec: Partial<FliptClientSpec>): Promise<void> {
  await clients.custom.patchNamespacedCustomObject({ ...ref, namespace, name, body: { spec } }, mergePatch);
}

export async function deleteFliptClient(clients: KubeClients, namespace: string, name: string): Promise<void> {
  await clients.custom.deleteNamespacedCustomObject({ ...ref, namespace, name });
}

export function condition(client: FliptClient, type: ConditionType): Condition | undefined {
  return client.status?.conditions?.find((c) => c.type === type);
}

/** Deletes every FliptClient in the namespace, stripping finalizers first (no operator is running). */
export async function removeFliptClients(cluster: TestCluster, namespace: string): Promise<void> {
  for (const client of await listFliptClients(cluster.clients, namespace)) {
    const name = client.metadata.name;
    await cluster.clients.custom.patchNamespacedCustomObject({ ...ref, namespace, name, body: { metadata: { finalizers: null } } }, mergePatch).catch(() => {});
    await cluster.clients.custom.deleteNamespacedCustomObject({ ...ref, namespace, name }).catch(() => {});
  }
}
