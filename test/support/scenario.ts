// A fresh Flipt target in its own namespace, an operator process managing it, and a simulated
// Deployment controller finishing its rollouts: the common setting of the reconciliation tests.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { KubernetesObject, V1ConfigMap, V1Deployment, V1Secret } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { parseDuration } from '../../src/util/duration.ts';
import { isNotFound } from '../../src/kube/errors.ts';
import { decodeSecretData } from '../../src/kube/secret-data.ts';
import { recordHistory, changes, type ObjectHistory } from './api-watch.ts';
import { installCrd, testCluster, waitFor, type TestCluster } from './cluster.ts';
import { removeFliptClients } from './fliptclients.ts';
import { createFliptTarget, simulateDeploymentController, SAMPLE_FLIPT_CONFIG } from './flipt-target.ts';
import { ApiProxy } from './api-proxy.ts';
import { applyObjects, deployManifest, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT, serviceAccountKubeconfig } from './deploy-rbac.ts';
import { startOperator, writeOperatorConfig, type OperatorProcess, type WrittenConfig } from './operator-process.ts';

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
  /** How long each simulated rollout takes (default 200 ms). */
  rolloutMs?: number;
  /**
   * Run the operator as its own ServiceAccount under deploy/'s RBAC (target-rbac.yaml applied to this
   * scenario's Flipt namespace, as a user edits it for theirs), plus these further manifests.
   */
  deployRbac?: { extra?: KubernetesObject[] };
  /** Serve the exchange (on this scenario's exchange port). */
  exchange?: boolean;
  /** The target's credentialKind (default staticToken). */
  credentialKind?: 'staticToken' | 'jwt';
  /**
   * JWT settings: the target's lifetime, and the signing-key schedule (keys in this scenario's
   * namespace; published 2s before they sign unless said). `jwksUrl: false` leaves it unset.
   */
  jwt?: { lifetime?: string; jwksUrl?: false; rotateEvery?: string; publishAhead?: string };
  /** targets[].limits of the scenario's target. */
  limits?: { clientsPerNamespace?: number; bytesPerNamespace?: number };
  /** Lease timings (leaseDuration, renewDeadline, retryPeriod), for failover tests. */
  leaderElection?: Record<string, string>;
  /** The operator reaches the API server through an ApiProxy (`scenario.proxy`); needs deployRbac (a bearer token passes a proxy, a client certificate does not). */
  apiProxy?: boolean;
}

/** The signing keys Secret's name (the operator's default). */
export const SIGNING_KEYS_SECRET = 'flipt-client-operator-signing-keys';

interface ScenarioParts {
  operatorKubeconfig: string;
  proxy: ApiProxy | undefined;
  minInterval: number;
  ports: WrittenConfig['ports'];
  cluster: TestCluster;
  namespace: string;
  configPath: string;
  operatorConfig: Record<string, unknown>;
  configMaps: ObjectHistory<V1ConfigMap>;
  deployments: ObjectHistory<V1Deployment>;
  credentialSecrets: ObjectHistory<V1Secret>;
  signingKeys: ObjectHistory<V1Secret>;
  operator: OperatorProcess;
  stopRollouts: () => void;
}

export class Scenario {
  /** The kubeconfig the operator runs with (admin, or its ServiceAccount's under deploy/ RBAC). */
  readonly operatorKubeconfig: string;
  /** The proxy between the operator and the API server (option apiProxy). */
  readonly proxy: ApiProxy | undefined;
  /** restart.minInterval, in ms. */
  readonly minInterval: number;
  /** The operator's health, metrics and exchange ports (a restarted operator keeps them). */
  readonly ports: WrittenConfig['ports'];
  readonly cluster: TestCluster;
  readonly namespace: string;
  readonly configPath: string;
  /** What the operator config file was written from (replicas get their own ports from it). */
  readonly operatorConfig: Record<string, unknown>;
  /** Further operator processes on the same config (startReplica). */
  readonly replicas: OperatorProcess[] = [];
  readonly configMaps: ObjectHistory<V1ConfigMap>;
  readonly deployments: ObjectHistory<V1Deployment>;
  readonly credentialSecrets: ObjectHistory<V1Secret>;
  /** The JWT signing keys Secret (in this scenario's namespace). */
  readonly signingKeys: ObjectHistory<V1Secret>;
  operator: OperatorProcess;
  readonly logs: string[] = [];
  private readonly stopRollouts: () => void;
  private readonly appNamespaces: string[] = [];
  private stopped = false;

  private constructor(fields: ScenarioParts) {
    this.operatorKubeconfig = fields.operatorKubeconfig;
    this.proxy = fields.proxy;
    this.minInterval = fields.minInterval;
    this.ports = fields.ports;
    this.cluster = fields.cluster;
    this.namespace = fields.namespace;
    this.configPath = fields.configPath;
    this.operatorConfig = fields.operatorConfig;
    this.configMaps = fields.configMaps;
    this.deployments = fields.deployments;
    this.credentialSecrets = fields.credentialSecrets;
    this.signingKeys = fields.signingKeys;
    this.operator = fields.operator;
    this.stopRollouts = fields.stopRollouts;
  }

  static async start(options: ScenarioOptions = {}): Promise<Scenario> {
    const cluster = await testCluster();
    await installCrd(cluster.kubeConfig);
    const namespace = `flipt-${randomBytes(3).toString('hex')}`;
    await createFliptTarget(cluster.clients, { namespace, configMap: 'flipt', deployment: 'flipt' }, options.fliptConfig ?? SAMPLE_FLIPT_CONFIG, options.configMapAnnotations);
    let operatorKubeconfig = cluster.kubeconfigPath;
    if (options.deployRbac) {
      const targetRbac = deployManifest('target-rbac.yaml').map((o) => ({ ...o, metadata: { ...o.metadata, namespace } }));
      await applyObjects(cluster, [...deployManifest('namespace.yaml'), ...deployManifest('rbac.yaml'), ...targetRbac, ...(options.deployRbac.extra ?? [])]);
      operatorKubeconfig = await serviceAccountKubeconfig(cluster, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT);
    }
    if (options.apiProxy && !options.deployRbac) throw new Error('apiProxy needs deployRbac');
    const proxy = options.apiProxy ? await ApiProxy.start(cluster.kubeConfig.getCurrentCluster()!.server) : undefined;
    if (proxy) operatorKubeconfig = await serviceAccountKubeconfig(cluster, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT, proxy.url);
    const leaseName = options.deployRbac ? 'flipt-client-operator' : `fco-${randomBytes(4).toString('hex')}`;
    const operatorConfig = {
      leaderElection: { enabled: true, namespace: options.deployRbac ? OPERATOR_NAMESPACE : 'default', leaseName, ...options.leaderElection },
      // The JWKS is served on the exchange port: JWT mode needs it.
      ...(options.exchange || options.credentialKind === 'jwt' ? { exchange: { enabled: true } } : {}),
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
          credentialKind: options.credentialKind ?? 'staticToken',
          ...(options.jwt?.lifetime ? { jwt: { lifetime: options.jwt.lifetime } } : {}),
          ...(options.limits ? { limits: options.limits } : {}),
        },
        ...(options.extraTargets ?? []),
      ],
      jwt: {
        ...(options.jwt?.jwksUrl === false ? {} : { jwksUrl: 'http://flipt-client-operator.flipt-client-operator.svc:8443/.well-known/jwks.json' }),
        signingKeys: { namespace, publishAhead: options.jwt?.publishAhead ?? '2s', ...(options.jwt?.rotateEvery ? { rotateEvery: options.jwt.rotateEvery } : {}) },
      },
    };
    const { path: configPath, ports } = writeOperatorConfig(operatorConfig);
    const configMaps = await recordHistory<V1ConfigMap>(cluster.kubeConfig, `/api/v1/namespaces/${namespace}/configmaps`, 'flipt');
    const deployments = await recordHistory<V1Deployment>(cluster.kubeConfig, `/apis/apps/v1/namespaces/${namespace}/deployments`, 'flipt');
    const credentialSecrets = await recordHistory<V1Secret>(cluster.kubeConfig, `/api/v1/namespaces/${namespace}/secrets`, 'flipt-client-credentials');
    const signingKeys = await recordHistory<V1Secret>(cluster.kubeConfig, `/api/v1/namespaces/${namespace}/secrets`, SIGNING_KEYS_SECRET);
    const stopRollouts = options.autoRollout === false ? () => {} : simulateDeploymentController(cluster.clients, namespace, 'flipt', options.rolloutMs);
    const operator = startOperator(configPath, operatorKubeconfig);
    return new Scenario({ operatorKubeconfig, proxy, minInterval: parseDuration(options.minInterval ?? '10s')!, ports, cluster, namespace, configPath, operatorConfig, configMaps, deployments, credentialSecrets, signingKeys, operator, stopRollouts });
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

  /**
   * Stops the operator (SIGTERM, or SIGKILL when `crash`) and starts a new one on the same config;
   * `whileStopped` runs in between, to look at the state the old one left behind.
   */
  async restartOperator(crash = false, whileStopped?: () => Promise<void>): Promise<void> {
    if (crash) await this.operator.kill();
    else await this.operator.stop();
    this.logs.push(this.operator.output());
    await whileStopped?.();
    this.operator = startOperator(this.configPath, this.operatorKubeconfig);
  }

  /** Edits the operator's config file and restarts the operator on it (SIGTERM, as a rollout of a new config does). */
  async reconfigure(edit: (config: { targets: Array<Record<string, unknown>> } & Record<string, unknown>) => void): Promise<void> {
    const config = parse(readFileSync(this.configPath, 'utf8'));
    edit(config);
    await this.restartOperator(false, async () => writeFileSync(this.configPath, stringify(config)));
  }

  /** Where the operator serves its JWKS (the exchange port), as Flipt would fetch it. */
  jwksUrl(): string {
    return `http://127.0.0.1:${this.ports.exchange}/.well-known/jwks.json`;
  }

  /**
   * A pod's exchange: a token of the service account (valid for `seconds`) traded at this scenario's
   * exchange, asked again until it answers 200 (the operator may not have bound the account yet).
   */
  async exchange<Answer>(namespace: string, serviceAccount: string, seconds: number, timeoutMs: number): Promise<{ serviceAccountToken: string; answer: Answer }> {
    const { serviceAccountToken, body } = await this.exchangeUntil(namespace, serviceAccount, (status) => status === 200, 'the exchange to answer 200', timeoutMs, seconds);
    return { serviceAccountToken, answer: JSON.parse(body) as Answer };
  }

  /** Requests one token of the service account and exchanges it again and again until `done` holds for the answer: the last answer. */
  async exchangeUntil(
    namespace: string,
    serviceAccount: string,
    done: (status: number, body: string) => boolean,
    what: string,
    timeoutMs: number,
    seconds = 600,
  ): Promise<{ serviceAccountToken: string; status: number; body: string }> {
    const request = await this.cluster.clients.core.createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace,
      body: { spec: { audiences: ['flipt-client-operator'], expirationSeconds: seconds } },
    });
    const serviceAccountToken = request.status!.token!;
    let answer = { status: 0, body: '' };
    await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${this.ports.exchange}/auth/v1/method/kubernetes/serviceaccount`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ service_account_token: serviceAccountToken }),
      });
      answer = { status: res.status, body: await res.text() };
      return done(res.status, answer.body);
    }, what, timeoutMs, 250);
    return { serviceAccountToken, ...answer };
  }

  /**
   * Starts one more operator process on the scenario's config, with ports of its own, as another
   * replica of the same installation (its kubeconfig, say through a proxy, may differ).
   */
  startReplica(kubeconfig = this.operatorKubeconfig): { operator: OperatorProcess; ports: WrittenConfig['ports'] } {
    const { path, ports } = writeOperatorConfig(this.operatorConfig);
    const operator = startOperator(path, kubeconfig);
    this.replicas.push(operator);
    return { operator, ports };
  }

  /** A sample of the running operator's /metrics, summed over label sets matching `labels` (0 when absent). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.ports.metrics}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      const match = /^(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
      if (!match || match[1] !== name) continue;
      const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(match[3]);
    }
    return sum;
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
    // An operator that failed on its own (an operator config it refused, a crash) leaves the test's
    // assertions to whatever else ran: say so, rather than let them pass on that.
    const failed = [this.operator, ...this.replicas].filter((operator) => operator.child.exitCode !== null && operator.child.exitCode !== 0);
    await Promise.all([this.operator, ...this.replicas].map((operator) => operator.stop()));
    await this.proxy?.stop();
    this.configMaps.stop();
    this.deployments.stop();
    this.credentialSecrets.stop();
    this.signingKeys.stop();
    for (const namespace of this.appNamespaces) await removeFliptClients(this.cluster, namespace);
    if (failed.length > 0) {
      const tails = failed.map((operator) => `exit code ${operator.child.exitCode}:\n${operator.output().split('\n').slice(-5).join('\n')}`);
      throw new Error(`the scenario's operator exited on its own before the scenario stopped; ${tails.join('\n')}`);
    }
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
      return decodeSecretData(secret.data);
    } catch (err) {
      if (isNotFound(err)) return {};
      throw err;
    }
  }

  /** Restarts triggered: every pod-template patch by the operator stamps flipt.io/restarted-at anew. */
  restarts(): number {
    return changes(this.deployments, (d) => d.spec?.template?.metadata?.annotations?.['flipt.io/restarted-at'] ?? null);
  }

  /** Rollouts: every pod-template change, by anyone, bumps metadata.generation. */
  rollouts(): number {
    return changes(this.deployments, (d) => d.metadata?.generation ?? null);
  }

  /** The Deployment's generation as the watch last saw it. */
  generation(): number {
    return this.deployments.versions.at(-1)?.metadata?.generation ?? 0;
  }

  /**
   * Waits out the restart window: until restart.minInterval plus 2 s after the last restart (or after
   * now, if that is later), so a restart the operator was holding back has had its chance; then until
   * every watch has caught up with the server. A "nothing happened" assertion means something after it.
   */
  async quietPeriod(): Promise<void> {
    const restartedAt = Date.parse(this.deployments.versions.at(-1)?.spec?.template?.metadata?.annotations?.['flipt.io/restarted-at'] ?? '');
    const until = Math.max(Date.now(), Number.isNaN(restartedAt) ? 0 : restartedAt + this.minInterval) + 2_000;
    await new Promise((r) => setTimeout(r, until - Date.now()));
    await Promise.all([this.configMaps.caughtUp(), this.deployments.caughtUp(), this.credentialSecrets.caughtUp()]);
  }

  /** ConfigMap writes: every version after the first one seen. */
  configWrites(): number {
    return Math.max(0, this.configMaps.versions.length - 1);
  }
}

/** An exchange answer as a failing assertion may print it: without the credential. */
export function withoutCredential(body: string): string {
  return body.replace(/"clientToken":"[^"]*"/g, '"clientToken":"(not shown)"');
}
