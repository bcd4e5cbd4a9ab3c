// Assembles the operator: caches (informers) of what it reads, one controller per kind of thing it
// reconciles (FliptClients, targets), the events between them, leader election, the exchange, probes
// and metrics. Everything domain-specific lives in fliptclient/, fliptinstance/ and exchange/; this
// file only connects them, and hands every part the same clock.
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import type { KubeConfig, KubernetesObject, V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { OperatorConfig, TargetConfig } from './config/operator-config.ts';
import { informerCredentialSource } from './exchange/credentials.ts';
import { ExchangeServer } from './exchange/server.ts';
import { ServiceAccountIndex, indexUpdater } from './exchange/service-account-index.ts';
import { FliptClientReconciler } from './fliptclient/reconciler.ts';
import { TargetReconciler } from './fliptinstance/reconciler.ts';
import { TargetWakeups } from './fliptinstance/target-wakeups.ts';
import type { Workload } from './fliptinstance/workload.ts';
import { SigningKeysReconciler } from './identity/keys-reconciler.ts';
import { makeClients, makeFencedClients, type KubeClients } from './kube/client.ts';
import { EventRecorder } from './kube/events.ts';
import { decodeSecretData } from './kube/secret-data.ts';
import { dropManagedFields } from './kube/trim.ts';
import { Metrics } from './metrics.ts';
import { systemClock } from './runtime/clock.ts';
import { Controller } from './runtime/controller.ts';
import { Informer } from './runtime/informer.ts';
import { LeaderElector } from './runtime/leader-election.ts';
import { listen } from './runtime/listen.ts';
import { trimClientSecret, trimFliptClient } from './vocabulary/cache-trim.ts';
import { JwtSigner } from './vocabulary/client-jwt.ts';
import { credentialKindOf } from './vocabulary/credential-kind.ts';
import { CLIENT_LABEL, GROUP, MANAGED_BY, MANAGED_BY_LABEL, PLURAL, VERSION, clientKey, targetNameOf, type FliptClient } from './vocabulary/fliptclient.ts';
import { parseSigningKeys, type SigningKey } from './vocabulary/signing-keys.ts';

/**
 * Client changes wake a target within this long, not at once: a target reconcile reads every client,
 * and a burst of thousands of changes shares a few of them instead of paying one each.
 */
const TARGET_COALESCE_MS = 250;

export interface OperatorOptions {
  config: OperatorConfig;
  kubeConfig: KubeConfig;
  log: Logger;
}

/** The caches of one target's objects: each change enqueues the target. */
interface TargetCaches {
  configMap: Informer<V1ConfigMap>;
  credentials: Informer<V1Secret>;
  workload: Informer<Workload>;
}

export class Operator {
  readonly metrics = new Metrics();
  private readonly options: OperatorOptions;
  /** The leader's clients: aborted while this replica does not lead (see makeFencedClients). */
  private readonly api: KubeClients;
  private leadership = abortedController();
  private readonly fliptClients: Informer<FliptClient>;
  private readonly clientSecrets: Informer<V1Secret>;
  /** The JWT signing keys Secret in the operator's namespace: every replica signs and publishes from it. */
  private readonly signingKeysSecret: Informer<V1Secret>;
  private parsedKeys: { resourceVersion: string | undefined; keys: readonly SigningKey[] } = { resourceVersion: undefined, keys: [] };
  private readonly targetCaches = new Map<string, TargetCaches>();
  private readonly serviceAccounts = new ServiceAccountIndex();
  private readonly targetWakeups: TargetWakeups;
  private readonly updateServiceAccountIndex: (client: FliptClient) => void;
  private readonly targetReconciler: TargetReconciler;
  private readonly fliptClientController: Controller;
  private readonly targetController: Controller;
  private readonly signingKeysController: Controller;
  private readonly exchange: ExchangeServer | undefined;
  private readonly elector: LeaderElector | undefined;
  private readonly servers: Server[] = [];
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private markStopped: () => void = () => {};
  private readonly stopped = new Promise<void>((resolve) => (this.markStopped = resolve));

  constructor(options: OperatorOptions) {
    this.options = options;
    const { config, kubeConfig, log } = options;
    const clock = systemClock;
    this.targetWakeups = new TargetWakeups(config.targets.map((t) => t.name));
    this.api = makeFencedClients(kubeConfig, () => this.leadership.signal);
    const events = new EventRecorder(this.api.json, log);
    const hooks = {
      onReconciled: (controller: string, outcome: 'success' | 'error', seconds: number) => {
        this.metrics.reconciles.inc({ controller, outcome });
        this.metrics.reconcileDuration.observe({ controller }, seconds);
      },
      onQueueDepth: (controller: string, depth: number) => this.metrics.queueDepth.set({ controller }, depth),
    };

    this.fliptClients = new Informer<FliptClient>(
      kubeConfig,
      {
        name: 'fliptclients',
        path: `/apis/${GROUP}/${VERSION}/${PLURAL}`,
        trim: trimFliptClient,
        indexBy: targetNameOf,
        onChange: (client) => this.fliptClientChanged(client),
      },
      log,
    );
    const clientSecretSelector = `${MANAGED_BY_LABEL}=${MANAGED_BY},${CLIENT_LABEL}`;
    this.clientSecrets = new Informer<V1Secret>(
      kubeConfig,
      {
        name: 'client-secrets',
        path: '/api/v1/secrets',
        labelSelector: clientSecretSelector,
        trim: trimClientSecret,
        onChange: (secret) => this.clientSecretChanged(secret),
      },
      log,
    );
    const keysConfig = config.jwt.signingKeys;
    const byName = `metadata.name=${keysConfig.secretName}`;
    this.signingKeysSecret = new Informer<V1Secret>(
      kubeConfig,
      {
        name: 'signing-keys',
        path: `/api/v1/namespaces/${keysConfig.namespace}/secrets`,
        fieldSelector: byName,
        trim: dropManagedFields,
        onChange: () => this.signingKeysChanged(),
      },
      log,
    );
    for (const target of config.targets) this.targetCaches.set(target.name, this.makeTargetCaches(target));
    const targetNames = config.targets.map((t) => t.name);
    this.metrics.trackFliptClients(() => this.ownFliptClients(), targetNames);

    this.targetReconciler = new TargetReconciler({
      api: this.api,
      cached: (target) => {
        const caches = this.targetCaches.get(target.name)!;
        return {
          configMap: caches.configMap.get(target.configMap.name, target.namespace),
          credentialsSecret: caches.credentials.get(target.credentialsSecret, target.namespace),
          workload: caches.workload.get(target.workload.name, target.namespace),
        };
      },
      targets: config.targets,
      clientsOf: (target) => this.fliptClients.byIndex(target),
      clientSecrets: this.clientSecrets,
      events,
      log,
      clock,
      onStateChanged: (target) => this.enqueueClientsOf(target),
      onConfigWritten: (target) => this.metrics.configWrites.inc({ target }),
      onRestart: (target) => this.metrics.restarts.inc({ target }),
    });
    const signer = new JwtSigner(() => this.signingKeys());
    this.metrics.trackTargets(() => this.targetReconciler.allStates(), () => clock.now());
    const fliptClientReconciler = new FliptClientReconciler({
      api: this.api,
      targets: config.targets,
      fliptClients: this.fliptClients,
      clientSecrets: this.clientSecrets,
      credentialsSecret: (name) => {
        const target = config.targets.find((t) => t.name === name);
        return target ? this.targetCaches.get(name)?.credentials.get(target.credentialsSecret, target.namespace) : undefined;
      },
      targetState: (target) => this.targetReconciler.state(target),
      enqueueTarget: (target) => this.targetController.enqueueWithin(target, TARGET_COALESCE_MS),
      serviceAccountConflicts: (namespace, name) => this.serviceAccounts.conflictsByServiceAccount(namespace, name),
      events,
      log,
      clock,
      onRotated: (target, trigger) => this.metrics.rotations.inc({ target, trigger }),
      signer,
      signingKeys: () => this.signingKeys(),
      installation: config.installation,
    });
    const signingKeysReconciler = new SigningKeysReconciler({
      api: this.api,
      config: keysConfig,
      maxLifetime: Math.max(...config.targets.map((t) => t.jwt.lifetime)),
      needed: () => config.targets.some((t) => t.credentialKind === 'jwt') || this.ownFliptClients().some((c) => credentialKindOf(c) === 'jwt'),
      log,
      clock,
    });
    // FliptClient reconciles wait on the API server, not the CPU: many may be in flight (never two for one key).
    this.fliptClientController = new Controller('fliptclient', fliptClientReconciler.reconcile, log, clock, 16, hooks);
    this.targetController = new Controller('target', this.targetReconciler.reconcile, log, clock, 2, hooks);
    this.signingKeysController = new Controller('signing-keys', signingKeysReconciler.reconcile, log, clock, 1, hooks);
    this.updateServiceAccountIndex = indexUpdater(
      this.serviceAccounts,
      (namespace, name) => this.fliptClients.get(name, namespace),
      (keys) => keys.forEach((key) => this.fliptClientController.enqueue(key)),
    );
    // Every replica serves the exchange from its own caches; only the leader reconciles.
    this.exchange = config.exchange.enabled
      ? new ExchangeServer({
          config: config.exchange,
          index: this.serviceAccounts,
          credentials: informerCredentialSource(this.fliptClients, this.clientSecrets, { targets: config.targets, signer }),
          // Cacheable for half the time a new key is published before it signs: a cached copy has it in time.
          jwks: { keys: () => (this.signingKeysSecret.synced ? this.signingKeys() : undefined), maxAgeSeconds: Math.floor(keysConfig.publishAhead / 2000) },
          kubeConfig,
          ready: () => this.fliptClients.synced && this.clientSecrets.synced,
          log: log.child({ component: 'exchange' }),
          onRequest: (outcome, seconds) => {
            this.metrics.exchangeRequests.inc({ outcome });
            this.metrics.exchangeDuration.observe({ outcome }, seconds);
          },
          onConnectionDropped: () => this.metrics.exchangeConnectionsDropped.inc(),
        })
      : undefined;

    const le = config.leaderElection;
    this.elector = le.enabled
      ? new LeaderElector({
          api: makeClients(kubeConfig).coordination,
          namespace: le.namespace,
          name: le.leaseName,
          identity: `${process.env.POD_NAME ?? hostname()}-${process.pid}`,
          leaseDuration: le.leaseDuration,
          renewDeadline: le.renewDeadline,
          retryPeriod: le.retryPeriod,
          log,
          clock,
        })
      : undefined;
  }

  /**
   * Starts caches and probes, then reconciles whenever this replica leads, until stopped. Losing the
   * lease (the API server unreachable for longer than renewDeadline) pauses the controllers; the
   * caches keep running and the replica competes for the lease again.
   */
  async run(): Promise<void> {
    const { config, log } = this.options;
    this.servers.push(await this.metrics.serve(config.metrics.port));
    this.servers.push(await listen(this.healthServer(), config.health.port, 'health probes'));
    await this.exchange?.start();
    for (const informer of this.informers()) void informer.start();
    await Promise.all(this.informers().map((i) => i.waitForSync()));
    log.info({ fliptClients: this.fliptClients.list().length, targets: config.targets.map((t) => t.name) }, 'caches synced');

    while (!this.stopping) {
      if (this.elector) {
        try {
          await this.elector.acquire();
        } catch {
          return;
        }
      }
      if (this.stopping) return;
      this.startControllers();
      if (!this.elector) return this.stopped;
      if (await this.elector.keepLeading()) return;
      // No request of ours may land from now on: a successor may lead after leaseDuration.
      this.leadership.abort(new Error('this replica no longer leads'));
      log.warn('pausing reconciliation until this replica leads again');
      await this.stopControllers();
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.markStopped();
    await this.stopControllers();
    this.leadership.abort(new Error('stopped'));
    await this.elector?.release();
    await this.exchange?.stop();
    await Promise.all(this.informers().map((i) => i.stop()));
    await Promise.all(this.servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }

  private startControllers(): void {
    this.leadership = new AbortController();
    this.metrics.leader.set(1);
    this.targetController.start();
    this.fliptClientController.start();
    this.signingKeysController.start();
    this.resync();
    this.resyncTimer = setInterval(() => this.resync(), this.options.config.resyncPeriod);
    this.resyncTimer.unref();
  }

  private async stopControllers(): Promise<void> {
    this.metrics.leader.set(0);
    clearInterval(this.resyncTimer);
    await Promise.all([this.fliptClientController.stop(), this.targetController.stop(), this.signingKeysController.stop()]);
  }

  private get ready(): boolean {
    return this.informers().every((i) => i.synced);
  }

  private informers(): Array<Pick<Informer<KubernetesObject>, 'start' | 'stop' | 'waitForSync' | 'synced'>> {
    const all: Array<Pick<Informer<KubernetesObject>, 'start' | 'stop' | 'waitForSync' | 'synced'>> = [this.fliptClients, this.clientSecrets, this.signingKeysSecret];
    for (const caches of this.targetCaches.values()) all.push(caches.configMap, caches.credentials, caches.workload);
    return all;
  }

  private makeTargetCaches(target: TargetConfig): TargetCaches {
    const { kubeConfig, log } = this.options;
    const { namespace } = target;
    const enqueue = () => this.targetController.enqueue(target.name);
    const byName = (name: string) => `metadata.name=${name}`;
    const workloadPlural = target.workload.kind === 'Deployment' ? 'deployments' : 'statefulsets';
    return {
      configMap: new Informer<V1ConfigMap>(
        kubeConfig,
        {
          name: `${target.name}-configmap`,
          path: `/api/v1/namespaces/${namespace}/configmaps`,
          fieldSelector: byName(target.configMap.name),
          trim: dropManagedFields,
          onChange: enqueue,
        },
        log,
      ),
      credentials: new Informer<V1Secret>(
        kubeConfig,
        {
          name: `${target.name}-credentials`,
          path: `/api/v1/namespaces/${namespace}/secrets`,
          fieldSelector: byName(target.credentialsSecret),
          trim: dropManagedFields,
          onChange: enqueue,
        },
        log,
      ),
      workload: new Informer<Workload>(
        kubeConfig,
        {
          name: `${target.name}-workload`,
          path: `/apis/apps/v1/namespaces/${namespace}/${workloadPlural}`,
          fieldSelector: byName(target.workload.name),
          trim: dropManagedFields,
          onChange: enqueue,
        },
        log,
      ),
    };
  }

  private fliptClientChanged(client: FliptClient): void {
    const key = clientKey(client.metadata.namespace, client.metadata.name);
    this.updateServiceAccountIndex(client);
    this.fliptClientController.enqueue(key);
    const live = this.fliptClients.get(client.metadata.name, client.metadata.namespace);
    for (const target of this.targetWakeups.forClient(key, live)) this.targetController.enqueueWithin(target, TARGET_COALESCE_MS);
  }

  private clientSecretChanged(secret: V1Secret): void {
    const name = secret.metadata?.labels?.[CLIENT_LABEL];
    const namespace = secret.metadata?.namespace;
    if (!name || !namespace) return;
    this.fliptClientController.enqueue(clientKey(namespace, name));
    const live = this.clientSecrets.get(secret.metadata!.name!, namespace);
    const target = this.targetWakeups.forClientSecret(`${namespace}/${secret.metadata!.name}`, live, this.fliptClients.get(name, namespace));
    if (target) this.targetController.enqueueWithin(target, TARGET_COALESCE_MS);
  }

  /** The signing keys as this replica's cache holds them, parsed once per version of the Secret. */
  private signingKeys(): readonly SigningKey[] {
    const secret = this.signingKeysSecret.get(this.options.config.jwt.signingKeys.secretName, this.options.config.jwt.signingKeys.namespace);
    const resourceVersion = secret?.metadata?.resourceVersion;
    if (resourceVersion !== this.parsedKeys.resourceVersion) this.parsedKeys = { resourceVersion, keys: parseSigningKeys(decodeSecretData(secret?.data)) };
    return this.parsedKeys.keys;
  }

  /** A key created or retired: the schedule looks again, and clients holding or waiting for a JWT re-sign if they must. */
  private signingKeysChanged(): void {
    this.signingKeysController.enqueue('signing-keys');
    const jwtTargets = new Set(this.options.config.targets.filter((t) => t.credentialKind === 'jwt').map((t) => t.name));
    for (const client of this.ownFliptClients()) {
      if (jwtTargets.has(targetNameOf(client)) || credentialKindOf(client) === 'jwt') this.fliptClientController.enqueue(clientKey(client.metadata.namespace, client.metadata.name));
    }
  }

  /** The FliptClients of this installation's targets (the cache holds every installation's). */
  private ownFliptClients(): FliptClient[] {
    return this.fliptClients.list().filter((c) => this.targetCaches.has(targetNameOf(c)));
  }

  private enqueueClientsOf(target: string): void {
    for (const client of this.fliptClients.byIndex(target)) this.fliptClientController.enqueue(clientKey(client.metadata.namespace, client.metadata.name));
  }

  private resync(): void {
    this.signingKeysController.enqueue('signing-keys');
    for (const target of this.options.config.targets) this.targetController.enqueue(target.name);
    for (const client of this.fliptClients.list()) this.fliptClientController.enqueue(clientKey(client.metadata.namespace, client.metadata.name));
  }

  private healthServer(): Server {
    return createServer((req, res) => {
      const path = req.url?.split('?')[0];
      if (path === '/healthz') res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      else if (path === '/readyz') {
        const ready = this.ready;
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ok\n' : 'caches not synced\n');
      } else res.writeHead(404).end();
    });
  }
}

/** A controller already aborted: nothing is sent before this replica first leads. */
function abortedController(): AbortController {
  const controller = new AbortController();
  controller.abort(new Error('this replica does not lead'));
  return controller;
}
