// A Flipt instance as the operator sees it: the Helm chart's config ConfigMap and a Deployment. With
// no kube-controller-manager in the test control plane, a finished rollout is simulated by writing
// the Deployment's status subresource, as the Deployment controller would.
import { Watch, type V1Deployment } from '@kubernetes/client-node';
import type { KubeClients } from '../../src/kube/client.ts';

export const SAMPLE_FLIPT_CONFIG = `# Flipt configuration (as rendered by the Helm chart)
version: "2.0"
log:
  level: INFO
  encoding: json
authentication:
  required: true
  methods:
    token:
      enabled: true
      storage:
        type: static
        tokens:
          # hand-written token: the operator must never touch it
          ci-pipeline:
            credential: "\${env:CI_FLIPT_TOKEN}"
            metadata:
              owner: platform
server:
  http_port: 8080
`;

export interface FliptTargetNames {
  namespace: string;
  configMap: string;
  deployment: string;
}

export async function createFliptTarget(clients: KubeClients, names: FliptTargetNames, config = SAMPLE_FLIPT_CONFIG, annotations?: Record<string, string>): Promise<void> {
  const { namespace } = names;
  await clients.core.createNamespace({ body: { metadata: { name: namespace } } }).catch((err) => {
    if ((err as { code?: number }).code !== 409) throw err;
  });
  await clients.core.createNamespacedConfigMap({
    namespace,
    body: { metadata: { name: names.configMap, namespace, ...(annotations ? { annotations } : {}) }, data: { 'default.yml': config } },
  });
  await clients.apps.createNamespacedDeployment({ namespace, body: fliptDeployment(names) });
  await finishRollout(clients, namespace, names.deployment);
}

export function fliptDeployment(names: FliptTargetNames): V1Deployment {
  const labels = { app: 'flipt' };
  return {
    metadata: { name: names.deployment, namespace: names.namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'flipt', image: 'docker.flipt.io/flipt/flipt:v2.11.0' }] },
      },
    },
  };
}

/** Writes the status the Deployment controller writes once every replica runs the newest template. */
export async function finishRollout(clients: KubeClients, namespace: string, name: string): Promise<number> {
  const deployment = await clients.apps.readNamespacedDeployment({ name, namespace });
  const replicas = deployment.spec?.replicas ?? 1;
  const generation = deployment.metadata?.generation ?? 1;
  await clients.apps.replaceNamespacedDeploymentStatus({
    name,
    namespace,
    body: {
      ...deployment,
      status: { observedGeneration: generation, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas },
    },
  });
  return generation;
}

/**
 * Plays the Deployment controller for one Deployment: whenever its template changes (a new
 * generation), the rollout is reported finished after `delayMs`. Follows the Deployment with a watch
 * (a poll would load the API server the tests measure). Returns a stop function.
 */
export function simulateDeploymentController(clients: KubeClients, namespace: string, name: string, delayMs = 200): () => void {
  let stopped = false;
  let controller: AbortController | undefined;
  let pending: Promise<void> | undefined;
  const finish = () => {
    pending ??= (async () => {
      // Until the status has caught up with the template, however many changes land meanwhile.
      for (let stale = true; stale && !stopped; ) {
        await new Promise((r) => setTimeout(r, delayMs));
        try {
          const d = await clients.apps.readNamespacedDeployment({ name, namespace });
          stale = (d.status?.observedGeneration ?? 0) < (d.metadata?.generation ?? 0);
          if (stale) await finishRollout(clients, namespace, name);
        } catch {
          // the API server may be restarting, or the object replaced: look again
        }
      }
      pending = undefined;
    })();
  };
  const watch = async () => {
    if (stopped) return;
    try {
      controller = await new Watch(clients.kubeConfig).watch(
        `/apis/apps/v1/namespaces/${namespace}/deployments`,
        { fieldSelector: `metadata.name=${name}` },
        (_type, d: V1Deployment) => {
          if ((d.status?.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) finish();
        },
        () => setTimeout(() => void watch(), 200),
      );
    } catch {
      setTimeout(() => void watch(), 200);
    }
  };
  void watch();
  return () => {
    stopped = true;
    controller?.abort();
  };
}

/** Flipt as a StatefulSet, with a loop that reports each rollout finished as the StatefulSet controller would. */
export async function createFliptStatefulSet(clients: KubeClients, namespace: string, name: string): Promise<() => void> {
  const labels = { app: 'flipt' };
  await clients.apps.createNamespacedStatefulSet({
    namespace,
    body: {
      metadata: { name, namespace },
      spec: {
        replicas: 2,
        serviceName: name,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: { containers: [{ name: 'flipt', image: 'docker.flipt.io/flipt/flipt:v2.11.0' }] } },
      },
    },
  });
  let stopped = false;
  void (async () => {
    while (!stopped) {
      try {
        const s = await clients.apps.readNamespacedStatefulSet({ name, namespace });
        const generation = s.metadata?.generation ?? 1;
        if ((s.status?.observedGeneration ?? 0) < generation) {
          const revision = `${name}-${generation}`;
          const replicas = s.spec?.replicas ?? 1;
          await clients.apps.replaceNamespacedStatefulSetStatus({
            name,
            namespace,
            body: { ...s, status: { observedGeneration: generation, replicas, readyReplicas: replicas, updatedReplicas: replicas, currentReplicas: replicas, currentRevision: revision, updateRevision: revision } },
          });
        }
      } catch {
        // retried on the next pass
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  return () => {
    stopped = true;
  };
}
