// A fresh Flipt target in its own namespace, an operator process managing it, and a simulated
// Deployment controller finishing its rollouts: the common setting of the reconciliation tests.
import { randomBytes } from 'node:crypto';
import type { V1ConfigMap, V1Deployment, V1Secret } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { recordHistory, changes, type ObjectHistory } from './api-watch.ts';
import { installCrd, testCluster, type TestCluster } from './cluster.ts';
import { removeFliptClients } from './fliptclients.ts';
import { createFliptTarget, simulateDeploymentController, SAMPLE_FLIPT_CONFIG } from './flipt-target.ts';
import { startOperator, writeOperatorConfig, type OperatorProcess } from './operator-process.ts';

export interface ScenarioOptions {
  minInterval?: string;
  credentialReference?: 'secretFile' | 'env' | 'inline';
  allowedNamespaces?: string[];
  fliptConfig?: string;
  /** Annotations of Flipt's ConfigMap as created (say, the record an older operator left). */
  configMapAnnotations?: Record<string, string>;
  /** Extra targets for the operator config (for refusal tests). */
  extraTargets?: Array<Record<string, unknown>>;
  autoRollout?: boolean;
}

interface ScenarioParts {
  cluster: TestCluster;
  namespace: string;
  configPath: string;
  configMaps: ObjectHistory<V1ConfigMap>;
  deployments: ObjectHistory<V1Deployment>;
  credentialSecrets: ObjectHistory<V1Secret>;
  operator: OperatorProcess;
  stopRollouts: () => void;
}

export class Scenario {
  readonly cluster: TestCluster;
  readonly namespace: string;
  readonly configPath: string;
  readonly configMaps: ObjectHistory<V1ConfigMap>;
  readonly deployments: ObjectHistory<V1Deployment>;
  readonly credentialSecrets: ObjectHistory<V1Secret>;
  operator: OperatorProcess;
  readonly logs: string[] = [];
  private readonly stopRollouts: () => void;
  private readonly appNamespaces: string[] = [];
  private stopped = false;

  private constructor(fields: ScenarioParts) {
    this.cluster = fields.cluster;
    this.namespace = fields.namespace;
    this.configPath = fields.configPath;
    this.configMaps = fields.configMaps;
    this.deployments = fields.deployments;
    this.credentialSecrets = fields.credentialSecrets;
    this.operator = fields.operator;
    this.stopRollouts = fields.stopRollouts;
  }

  static async start(options: ScenarioOptions = {}): Promise<Scenario> {
    const cluster = await testCluster();
    await installCrd(cluster.kubeConfig);
    const namespace = `flipt-${randomBytes(3).toString('hex')}`;
    await createFliptTarget(cluster.clients, { namespace, configMap: 'flipt', deployment: 'flipt' }, options.fliptConfig ?? SAMPLE_FLIPT_CONFIG, options.configMapAnnotations);
    const { path: configPath } = writeOperatorConfig({
      targets: [
        {
          name: 'default',
          namespace,
          configMap: { name: 'flipt' },
          workload: { kind: 'Deployment', name: 'flipt' },
          url: `http://flipt.${namespace}:8080`,
          credentialReference: options.credentialReference ?? 'secretFile',
          allowedNamespaces: options.allowedNamespaces ?? ['*'],
          restart: { minInterval: options.minInterval ?? '10s' },
        },
        ...(options.extraTargets ?? []),
      ],
    });
    const configMaps = await recordHistory<V1ConfigMap>(cluster.kubeConfig, `/api/v1/namespaces/${namespace}/configmaps`, 'flipt');
    const deployments = await recordHistory<V1Deployment>(cluster.kubeConfig, `/apis/apps/v1/namespaces/${namespace}/deployments`, 'flipt');
    const credentialSecrets = await recordHistory<V1Secret>(cluster.kubeConfig, `/api/v1/namespaces/${namespace}/secrets`, 'flipt-client-credentials');
    const stopRollouts = options.autoRollout === false ? () => {} : simulateDeploymentController(cluster.clients, namespace, 'flipt');
    const operator = startOperator(configPath, cluster.kubeconfigPath);
    return new Scenario({ cluster, namespace, configPath, configMaps, deployments, credentialSecrets, operator, stopRollouts });
  }

  /** Takes a namespace created before the scenario: stop() removes every FliptClient in it. */
  adoptAppNamespace(name: string): void {
    this.appNamespaces.push(name);
  }

  /** Creates a namespace for FliptClients; stop() removes every FliptClient in it. */
  async createAppNamespace(name: string): Promise<string> {
    await this.cluster.clients.core.createNamespace({ body: { metadata: { name } } });
    this.appNamespaces.push(name);
    return name;
  }

  /** Stops the operator (SIGTERM, or SIGKILL when `crash`) and starts a new one on the same config. */
  async restartOperator(crash = false): Promise<void> {
    if (crash) await this.operator.kill();
    else await this.operator.stop();
    this.logs.push(this.operator.output());
    this.operator = startOperator(this.configPath, this.cluster.kubeconfigPath);
  }

  allLogs(): string {
    return [...this.logs, this.operator.output()].join('\n');
  }

  /**
   * Stops everything this scenario started and deletes its FliptClients (finalizers stripped, since
   * its operator is gone), so that the next test file's operator does not inherit them.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopRollouts();
    await this.operator.stop();
    this.configMaps.stop();
    this.deployments.stop();
    this.credentialSecrets.stop();
    for (const namespace of this.appNamespaces) await removeFliptClients(this.cluster, namespace);
  }

  async fliptConfig(): Promise<string> {
    const cm = await this.cluster.clients.core.readNamespacedConfigMap({ name: 'flipt', namespace: this.namespace });
    return cm.data?.['default.yml'] ?? '';
  }

  async managedTokens(): Promise<Record<string, { credential: string; metadata: Record<string, string> }>> {
    return parse(await this.fliptConfig())?.authentication?.methods?.token?.storage?.tokens ?? {};
  }

  async credentials(): Promise<Record<string, string>> {
    try {
      const secret = await this.cluster.clients.core.readNamespacedSecret({ name: 'flipt-client-credentials', namespace: this.namespace });
      return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    } catch {
      return {};
    }
  }

  /** Restarts triggered: every pod-template patch by the operator stamps flipt.io/restarted-at anew. */
  restarts(): number {
    return changes(this.deployments, (d) => d.spec?.template?.metadata?.annotations?.['flipt.io/restarted-at'] ?? null);
  }

  /** ConfigMap writes: every version after the first one seen. */
  configWrites(): number {
    return Math.max(0, this.configMaps.versions.length - 1);
  }
}
