// What integration tests share: the run's control plane (started by global-setup, or by the first
// test file when a file is run on its own), admin clients, the CRD, and throwaway namespaces.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ApiextensionsV1Api, loadYaml, type KubeConfig, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { loadKubeConfig, makeClients, type KubeClients } from '../../src/kube/client.ts';
import { isNotFound } from '../../src/kube/errors.ts';
import { startControlPlane } from './controlplane.ts';

export interface TestCluster {
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  clients: KubeClients;
}

let cluster: Promise<TestCluster> | undefined;

export function testCluster(): Promise<TestCluster> {
  cluster ??= (async () => {
    let kubeconfigPath = process.env.FCO_TEST_KUBECONFIG;
    if (!kubeconfigPath) {
      const controlPlane = await startControlPlane();
      controlPlane.stopOnExit();
      kubeconfigPath = controlPlane.kubeconfigPath;
    }
    return clusterFor(kubeconfigPath);
  })();
  return cluster;
}

/** Admin clients for a control plane's kubeconfig. */
export function clusterFor(kubeconfigPath: string): TestCluster {
  const kubeConfig = loadKubeConfig(kubeconfigPath);
  return { kubeconfigPath, kubeConfig, clients: makeClients(kubeConfig) };
}

export const crdPath = new URL('../../crds/flipt.io_fliptclients.yaml', import.meta.url);

/** Creates or updates the FliptClient CRD (crds/'s, unless another text is given) and waits until the API server serves it. */
export async function installCrd(kubeConfig: KubeConfig, text = readFileSync(crdPath, 'utf8')): Promise<void> {
  const api = kubeConfig.makeApiClient(ApiextensionsV1Api);
  // loadYaml maps x-kubernetes-* keys onto the typed model; a plain YAML parse would lose them.
  const crd = loadYaml<V1CustomResourceDefinition>(text);
  const name = crd.metadata!.name!;
  try {
    const existing = await api.readCustomResourceDefinition({ name });
    crd.metadata!.resourceVersion = existing.metadata!.resourceVersion;
    await api.replaceCustomResourceDefinition({ name, body: crd });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await api.createCustomResourceDefinition({ body: crd });
  }
  await waitFor(async () => {
    const current = await api.readCustomResourceDefinition({ name });
    return current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
  }, `CRD ${name} Established`);
  const custom = makeClients(kubeConfig).custom;
  const { group, names } = crd.spec;
  await waitFor(async () => {
    await custom.listClusterCustomObject({ group, version: crd.spec.versions[0]!.name, plural: names.plural });
    return true;
  }, `${names.plural} to be listable`);
}

export async function createNamespace(clients: KubeClients, prefix = 'test'): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await clients.core.createNamespace({ body: { metadata: { name } } });
  return name;
}

/** Polls until the check returns true; the error names what was awaited. */
export async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError).split('\n')[0]}` : ''}`);
}
