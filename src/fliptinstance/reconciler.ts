// Reconciles one target (a Flipt instance): reads its ConfigMap, credentials Secret and workload (from
// the caches, and fresh from the API server before writing), asks decideTargetStep what to do, and
// does it: credentials first, then the config that refers to them, then the restart. What the step
// found is published for the FliptClient reconciles to read.
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { TargetConfig } from '../config/operator-config.ts';
import { mergePatch, type KubeClients } from '../kube/client.ts';
import { describeError, unlessNotFound } from '../kube/errors.ts';
import type { EventRecorder } from '../kube/events.ts';
import { decodeSecretData, encodeSecretData, secretValue } from '../kube/secret-data.ts';
import type { Clock } from '../runtime/clock.ts';
import type { ReconcileResult } from '../runtime/controller.ts';
import type { Informer } from '../runtime/informer.ts';
import { generateToken } from '../vocabulary/credentials.ts';
import { MANAGED_BY, MANAGED_BY_LABEL, secretNameFor, type FliptClient } from '../vocabulary/fliptclient.ts';
import { sameTargetState, type TargetState } from '../vocabulary/registration.ts';
import { dataBytes } from './capacity.ts';
import { MANAGED_JWT_METHOD_ANNOTATION } from './jwt-method.ts';
import { MANAGED_TOKENS_ANNOTATION, parseManagedIds } from './plan.ts';
import { afterFailedWrite, decideTargetStep, type BurstHold, type ObservedTarget, type TargetStep } from './step.ts';
import { CONFIG_HASH_ANNOTATION, RESTART_GENERATION_ANNOTATION, RESTARTED_AT_ANNOTATION, viewWorkload, type Workload } from './workload.ts';

/** A target's objects: its config ConfigMap, its credentials Secret and its Flipt workload (undefined: missing). */
export interface TargetObjects {
  configMap: V1ConfigMap | undefined;
  credentialsSecret: V1Secret | undefined;
  workload: Workload | undefined;
}

export interface TargetReconcilerDeps {
  api: KubeClients;
  /** The target's objects as the caches hold them. */
  cached: (target: TargetConfig) => TargetObjects;
  targets: readonly TargetConfig[];
  /** The cached FliptClients that name this target (served or not). */
  clientsOf: (target: string) => readonly FliptClient[];
  clientSecrets: Informer<V1Secret>;
  events: EventRecorder;
  log: Logger;
  clock: Clock;
  onStateChanged: (target: string) => void;
  onConfigWritten: (target: string) => void;
  onRestart: (target: string) => void;
}

export class TargetReconciler {
  private readonly deps: TargetReconcilerDeps;
  private readonly states = new Map<string, TargetState>();
  private readonly holds = new Map<string, BurstHold>();

  constructor(deps: TargetReconcilerDeps) {
    this.deps = deps;
  }

  /** What the target's last reconcile found; undefined until it has been read. */
  state(target: string): TargetState | undefined {
    return this.states.get(target);
  }

  /** Every target's last state, for the metrics. */
  allStates(): ReadonlyMap<string, TargetState> {
    return this.states;
  }

  reconcile = async (name: string): Promise<ReconcileResult> => {
    const target = this.deps.targets.find((t) => t.name === name);
    if (!target) return;
    // Decided from the caches; a step that writes is decided again from fresh reads, so that writes
    // carry current resourceVersions (a burst reconciles the target often, and writes rarely).
    let objects = this.deps.cached(target);
    let step = this.decide(target, objects);
    if (step.issue || step.credentials || step.config || step.restart) {
      objects = await this.read(target);
      step = this.decide(target, objects);
    }
    const { configMap, credentialsSecret, workload } = objects;
    const previous = this.states.get(name);
    if (step.hold) this.holds.set(name, step.hold);
    else this.holds.delete(name);
    try {
      await this.apply(target, step, configMap, credentialsSecret, workload);
    } catch (err) {
      // Never silent: the clients waiting for this write say why, the log says so, and the controller retries with backoff.
      const reason = describeError(err);
      this.deps.log.error({ target: name, err: reason }, 'writing the target failed; retrying');
      this.publish(name, afterFailedWrite(previous, step.state, reason));
      throw err;
    }
    this.publish(name, step.state);
    return step.requeueAfterMs !== undefined ? { requeueAfterMs: step.requeueAfterMs } : undefined;
  };

  private decide(target: TargetConfig, { configMap, credentialsSecret, workload }: TargetObjects): TargetStep {
    const clients = this.deps.clientsOf(target.name);
    const hold = this.holds.get(target.name);
    const previous = this.states.get(target.name);
    return decideTargetStep(
      target,
      {
        ...(configMap ? { configMap: observeConfigMap(target, configMap) } : {}),
        credentials: decodeSecretData(credentialsSecret?.data),
        ...(workload ? { workload: viewWorkload(target.workload.kind, workload, { configMap: target.configMap.name, configKey: target.configMap.key, credentialsSecret: target.credentialsSecret }) } : {}),
        clients,
        clientSecretToken: (client) => secretValue(this.deps.clientSecrets.get(secretNameFor(client), client.metadata.namespace), 'token'),
        ...(hold ? { hold } : {}),
        ...(previous ? { previous } : {}),
      },
      this.deps.clock.now(),
    );
  }

  private async read(target: TargetConfig): Promise<TargetObjects> {
    const [configMap, credentialsSecret, workload] = await Promise.all([this.readConfigMap(target), this.readCredentialsSecret(target), this.readWorkload(target)]);
    return { configMap, credentialsSecret, workload };
  }

  private async apply(target: TargetConfig, step: TargetStep, configMap?: V1ConfigMap, credentialsSecret?: V1Secret, workload?: Workload): Promise<void> {
    if (step.issue) {
      // Step 1 of a rotation: the new tokens are persisted before anything refers to them.
      const issued = Object.fromEntries(step.issue.map((key) => [key, generateToken()]));
      await this.writeCredentials(target, credentialsSecret, { ...decodeSecretData(credentialsSecret?.data), ...issued });
      this.deps.log.info({ target: target.name, tokens: step.issue.length }, 'issued new tokens for rotation');
    }
    if (step.credentials) await this.writeCredentials(target, credentialsSecret, step.credentials);
    if (step.config && configMap) {
      await this.writeConfigMap(target, configMap, step.config);
      this.deps.onConfigWritten(target.name);
    }
    if (step.restart && workload) await this.restart(target, workload, step.restart.configHash, step.restart.tokens);
  }

  private publish(name: string, state: TargetState): void {
    const previous = this.states.get(name);
    const changed = !sameTargetState(previous, state);
    this.states.set(name, state);
    if (!changed) return;
    this.logProblems(name, previous, state);
    this.deps.onStateChanged(name);
  }

  /** A target that starts or stops keeping changes from Flipt says so once, not on every reconcile. */
  private logProblems(name: string, previous: TargetState | undefined, state: TargetState): void {
    const lines = {
      problem: ['target blocked', 'target no longer blocked'],
      jwtProblem: ['target cannot use JWTs', 'target can use JWTs again'],
      envOverride: ["Flipt's pod template overrides its authentication config", "Flipt's pod template no longer overrides its authentication config"],
      credentialsNotDelivered: ["Flipt's pod template does not give Flipt the credentials Secret", "Flipt's pod template now gives Flipt the credentials Secret"],
    } as const;
    for (const [key, [started, ended]] of Object.entries(lines) as [keyof typeof lines, readonly [string, string]][]) {
      const before = previous?.[key];
      const now = state[key];
      if (now && (now.reason !== before?.reason || now.message !== before.message)) {
        this.deps.log.warn({ target: name, reason: now.reason, detail: now.message }, started);
      } else if (!now && before) {
        this.deps.log.info({ target: name, reason: before.reason }, ended);
      }
    }
  }

  private async readConfigMap(target: TargetConfig): Promise<V1ConfigMap | undefined> {
    return unlessNotFound(this.deps.api.core.readNamespacedConfigMap({ name: target.configMap.name, namespace: target.namespace }));
  }

  private async readCredentialsSecret(target: TargetConfig): Promise<V1Secret | undefined> {
    return unlessNotFound(this.deps.api.core.readNamespacedSecret({ name: target.credentialsSecret, namespace: target.namespace }));
  }

  private async readWorkload(target: TargetConfig): Promise<Workload | undefined> {
    const ref = { name: target.workload.name, namespace: target.namespace };
    return unlessNotFound(target.workload.kind === 'Deployment' ? this.deps.api.apps.readNamespacedDeployment(ref) : this.deps.api.apps.readNamespacedStatefulSet(ref));
  }

  private async writeCredentials(target: TargetConfig, existing: V1Secret | undefined, credentials: Record<string, string>): Promise<void> {
    const data = encodeSecretData(credentials);
    const { core } = this.deps.api;
    if (!existing) {
      await core.createNamespacedSecret({
        namespace: target.namespace,
        body: {
          metadata: {
            name: target.credentialsSecret,
            namespace: target.namespace,
            labels: { [MANAGED_BY_LABEL]: MANAGED_BY, 'flipt.io/target': target.name },
            annotations: { 'flipt.io/description': 'Flipt client credentials managed by flipt-client-operator; keys are token ids' },
          },
          type: 'Opaque',
          data,
        },
      });
      return;
    }
    await core.replaceNamespacedSecret({ name: target.credentialsSecret, namespace: target.namespace, body: { ...existing, data } });
  }

  private async writeConfigMap(target: TargetConfig, configMap: V1ConfigMap, config: NonNullable<TargetStep['config']>): Promise<void> {
    const { [MANAGED_JWT_METHOD_ANNOTATION]: _previous, ...annotations } = configMap.metadata?.annotations ?? {};
    annotations[MANAGED_TOKENS_ANNOTATION] = config.managedRecord;
    if (config.jwtRecord !== undefined) annotations[MANAGED_JWT_METHOD_ANNOTATION] = config.jwtRecord;
    await this.deps.api.core.replaceNamespacedConfigMap({
      name: target.configMap.name,
      namespace: target.namespace,
      body: { ...configMap, metadata: { ...configMap.metadata, annotations }, data: { ...configMap.data, [target.configMap.key]: config.text } },
    });
  }

  private async restart(target: TargetConfig, workload: Workload, hash: string, tokens: number): Promise<void> {
    // The template change bumps metadata.generation by one; the resourceVersion precondition makes
    // that exact, so the recorded generation is the one this patch produces.
    const body = {
      metadata: {
        resourceVersion: workload.metadata?.resourceVersion,
        annotations: { [RESTART_GENERATION_ANNOTATION]: String((workload.metadata?.generation ?? 0) + 1) },
      },
      spec: { template: { metadata: { annotations: { [CONFIG_HASH_ANNOTATION]: hash, [RESTARTED_AT_ANNOTATION]: new Date(this.deps.clock.now()).toISOString() } } } },
    };
    const ref = { name: target.workload.name, namespace: target.namespace, body };
    if (target.workload.kind === 'Deployment') await this.deps.api.apps.patchNamespacedDeployment(ref, mergePatch);
    else await this.deps.api.apps.patchNamespacedStatefulSet(ref, mergePatch);
    this.deps.onRestart(target.name);
    const note = `Restarting Flipt to apply its config (${tokens} managed tokens, config hash ${hash.slice(0, 12)})`;
    this.deps.log.info({ target: target.name, configHash: hash.slice(0, 12), tokens }, 'restarting Flipt');
    this.deps.events.record({ apiVersion: 'apps/v1', kind: target.workload.kind, metadata: workload.metadata }, 'Normal', 'ConfigChanged', note, 'Restart');
  }
}

/** The ConfigMap as the step reads it: our config key and records, and the bytes of everything else it holds. */
function observeConfigMap(target: TargetConfig, configMap: V1ConfigMap): NonNullable<ObservedTarget['configMap']> {
  const annotation = configMap.metadata?.annotations?.[MANAGED_TOKENS_ANNOTATION];
  const managedIds = parseManagedIds(annotation);
  return {
    text: configMap.data?.[target.configMap.key],
    // An annotation that does not parse is no record: the step then recognises its entries by their credentials.
    managedRecord: managedIds ? annotation : undefined,
    managedIds: managedIds ?? [],
    jwtRecord: configMap.metadata?.annotations?.[MANAGED_JWT_METHOD_ANNOTATION],
    otherDataBytes: dataBytes(configMap.data, new Set([target.configMap.key])) + Object.values(configMap.binaryData ?? {}).reduce((n, v) => n + Buffer.byteLength(v, 'base64'), 0),
    // Both records are the step's to size: it knows what they will say once the config is written.
    otherAnnotationBytes: dataBytes(configMap.metadata?.annotations, new Set([MANAGED_TOKENS_ANNOTATION, MANAGED_JWT_METHOD_ANNOTATION])),
  };
}

