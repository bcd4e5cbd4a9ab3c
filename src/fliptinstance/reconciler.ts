// Reconciles one target (a Flipt instance): reads its ConfigMap, credentials Secret and workload fresh
// from the API server, asks decideTargetStep what to do, and does it: credentials first, then the
// config that refers to them, then the restart. What the step found is published for the FliptClient
// reconciles to read.
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { TargetConfig } from '../config/operator-config.ts';
import { mergePatch, type KubeClients } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import type { EventRecorder } from '../kube/events.ts';
import { decodeSecretData, encodeSecretData, secretValue } from '../kube/secret-data.ts';
import type { Clock } from '../runtime/clock.ts';
import type { ReconcileResult } from '../runtime/controller.ts';
import type { Informer } from '../runtime/informer.ts';
import { generateToken } from '../vocabulary/credentials.ts';
import { clientKey, MANAGED_BY, MANAGED_BY_LABEL, secretNameFor, type FliptClient } from '../vocabulary/fliptclient.ts';
import { sameTargetState, type TargetState } from '../vocabulary/registration.ts';
import { MANAGED_JWT_METHOD_ANNOTATION } from './jwt-method.ts';
import { MANAGED_TOKENS_ANNOTATION, parseManagedIds } from './plan.ts';
import { decideTargetStep, type TargetStep } from './step.ts';
import { CONFIG_HASH_ANNOTATION, RESTART_GENERATION_ANNOTATION, RESTARTED_AT_ANNOTATION, viewWorkload, type Workload } from './workload.ts';

export interface TargetReconcilerDeps {
  api: KubeClients;
  targets: readonly TargetConfig[];
  fliptClients: Informer<FliptClient>;
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
  private readonly heldSince = new Map<string, number>();

  constructor(deps: TargetReconcilerDeps) {
    this.deps = deps;
  }

  /** What the target's last reconcile found; undefined until it has been read. */
  state(target: string): TargetState | undefined {
    return this.states.get(target);
  }

  reconcile = async (name: string): Promise<ReconcileResult> => {
    const target = this.deps.targets.find((t) => t.name === name);
    if (!target) return;
    const [configMap, credentialsSecret, workload] = await Promise.all([this.readConfigMap(target), this.readCredentialsSecret(target), this.readWorkload(target)]);
    const clients = this.deps.fliptClients.list();
    const clientSecretTokens = new Map<string, string>();
    for (const client of clients) {
      const token = secretValue(this.deps.clientSecrets.get(secretNameFor(client), client.metadata.namespace), 'token');
      if (token) clientSecretTokens.set(clientKey(client.metadata.namespace, client.metadata.name), token);
    }
    const managedRecord = configMap?.metadata?.annotations?.[MANAGED_TOKENS_ANNOTATION];
    const heldSince = this.heldSince.get(name);
    const previous = this.states.get(name);
    const step = decideTargetStep(
      target,
      {
        ...(configMap
          ? {
              configMap: {
                text: configMap.data?.[target.configMap.key],
                managedRecord,
                managedIds: parseManagedIds(managedRecord),
                jwtRecord: configMap.metadata?.annotations?.[MANAGED_JWT_METHOD_ANNOTATION],
              },
            }
          : {}),
        credentials: decodeSecretData(credentialsSecret?.data),
        ...(workload ? { workload: viewWorkload(target.workload.kind, workload) } : {}),
        clients,
        clientSecretTokens,
        ...(heldSince !== undefined ? { heldSince } : {}),
        ...(previous ? { previous } : {}),
      },
      this.deps.clock.now(),
    );
    if (step.heldSince === undefined) this.heldSince.delete(name);
    else this.heldSince.set(name, step.heldSince);
    await this.apply(target, step, configMap, credentialsSecret, workload);
    this.publish(name, step.state);
    return step.requeueAfterMs !== undefined ? { requeueAfterMs: step.requeueAfterMs } : undefined;
  };

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
    const changed = !sameTargetState(this.states.get(name), state);
    this.states.set(name, state);
    if (changed) this.deps.onStateChanged(name);
  }

  private async readConfigMap(target: TargetConfig): Promise<V1ConfigMap | undefined> {
    return orUndefined(this.deps.api.core.readNamespacedConfigMap({ name: target.configMap.name, namespace: target.namespace }));
  }

  private async readCredentialsSecret(target: TargetConfig): Promise<V1Secret | undefined> {
    return orUndefined(this.deps.api.core.readNamespacedSecret({ name: target.credentialsSecret, namespace: target.namespace }));
  }

  private async readWorkload(target: TargetConfig): Promise<Workload | undefined> {
    const ref = { name: target.workload.name, namespace: target.namespace };
    return orUndefined(target.workload.kind === 'Deployment' ? this.deps.api.apps.readNamespacedDeployment(ref) : this.deps.api.apps.readNamespacedStatefulSet(ref));
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
    void this.deps.events.record({ apiVersion: 'apps/v1', kind: target.workload.kind, metadata: workload.metadata }, 'Normal', 'ConfigChanged', note, 'Restart');
  }
}

async function orUndefined<T>(request: Promise<T>): Promise<T | undefined> {
  try {
    return await request;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
