// Reconciles one target (a Flipt instance): its config ConfigMap, its credentials Secret and the
// restart key on its workload, from the FliptClients that name it. Reads fresh from the API server,
// decides with the pure functions in plan.ts, writes in an order that is safe to interrupt anywhere:
// credentials first, then the config that refers to them, then the restart; credentials no config
// refers to any more are dropped only once Flipt has rolled out without them.
import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { TargetConfig } from '../config/operator-config.ts';
import type { ReconcileResult } from '../controller/controller.ts';
import type { Informer } from '../controller/informer.ts';
import { fingerprint, tokensEqual } from '../fliptclient/token.ts';
import { MANAGED_BY, MANAGED_BY_LABEL, secretNameFor, type FliptClient } from '../fliptclient/types.ts';
import { isNotFound, mergePatch, type KubeClients } from '../kube/client.ts';
import { decodeSecretData, encodeSecretData, secretValue } from '../kube/secret-data.ts';
import type { EventRecorder } from '../kube/events.ts';
import { FliptConfigError } from './flipt-config.ts';
import {
  CONFIG_HASH_ANNOTATION,
  MANAGED_TOKENS_ANNOTATION,
  RESTART_GENERATION_ANNOTATION,
  RESTARTED_AT_ANNOTATION,
  clientsInFlight,
  configHash,
  credentialKey,
  desiredCredentials,
  maxHoldMs,
  parseManagedIds,
  planTarget,
} from './plan.ts';
import { sameSnapshot, type TargetProblem, type TargetSnapshot } from './snapshot.ts';
import { rolloutState, templateChangedSinceOurRestart, templateConfigHash, templateRestartedAt, type Workload } from './workload.ts';

export interface TargetReconcilerDeps {
  clients: KubeClients;
  targets: readonly TargetConfig[];
  fliptClients: Informer<FliptClient>;
  clientSecrets: Informer<V1Secret>;
  events: EventRecorder;
  log: Logger;
  onSnapshotChanged: (target: string) => void;
  onConfigWritten?: (target: string) => void;
  onRestart?: (target: string) => void;
}

export class TargetReconciler {
  private readonly deps: TargetReconcilerDeps;
  private readonly snapshots = new Map<string, TargetSnapshot>();
  private readonly heldSince = new Map<string, number>();

  constructor(deps: TargetReconcilerDeps) {
    this.deps = deps;
  }

  snapshot(target: string): TargetSnapshot | undefined {
    return this.snapshots.get(target);
  }

  reconcile = async (name: string): Promise<ReconcileResult> => {
    const target = this.deps.targets.find((t) => t.name === name);
    if (!target) return;
    const [configMap, credentialsSecret, workload] = await Promise.all([
      this.readConfigMap(target),
      this.readCredentialsSecret(target),
      this.readWorkload(target),
    ]);
    const rollout = workload ? rolloutState(target.workload.kind, workload) : { done: false, detail: 'workload missing' };
    const base = { registered: new Map<string, string>(), conflicts: new Set<string>(), rollout, authenticationRequired: true };
    if (!configMap) {
      return this.publish(name, { ...base, problem: missing('ConfigMapMissing', `ConfigMap ${target.namespace}/${target.configMap.name}`, 'configMap') });
    }
    if (!workload) {
      return this.publish(name, {
        ...base,
        problem: missing('WorkloadMissing', `${target.workload.kind} ${target.namespace}/${target.workload.name}`, 'workload'),
      });
    }

    const source = configMap.data?.[target.configMap.key];
    const previouslyManaged = parseManagedIds(configMap.metadata?.annotations?.[MANAGED_TOKENS_ANNOTATION]);
    const currentCredentials = decodeSecretData(credentialsSecret?.data);
    const clients = this.deps.fliptClients.list();
    const desired = desiredCredentials(target, clients, (c) => this.clientSecretToken(c), currentCredentials);
    if (desired.length === 0 && previouslyManaged.length === 0 && Object.keys(currentCredentials).length === 0) {
      // Nothing to manage yet: leave Flipt's config and pods alone until a FliptClient names this target.
      return this.publish(name, { ...base, ...this.currentState(target, source ?? '', [], {}), workloadHash: templateConfigHash(workload) });
    }

    const inFlight = clientsInFlight(target, clients, desired);
    if (inFlight > 0) {
      const heldSince = this.heldSince.get(name) ?? Date.now();
      this.heldSince.set(name, heldSince);
      const until = heldSince + maxHoldMs(target);
      if (until > Date.now()) {
        // A burst is being issued: wait for it (bounded) so that it costs one restart, not several.
        const current = this.currentState(target, source ?? '', previouslyManaged, currentCredentials);
        const previous = this.snapshots.get(name);
        this.publish(name, {
          ...base,
          ...current,
          conflicts: previous?.conflicts ?? base.conflicts,
          authenticationRequired: previous?.authenticationRequired ?? true,
          workloadHash: templateConfigHash(workload),
          nextApplyAt: Math.max(until, this.restartAllowedAt(target, workload)),
        });
        return { requeueAfterMs: until - Date.now() };
      }
    }
    this.heldSince.delete(name);

    let plan;
    try {
      plan = planTarget(target, source, previouslyManaged, currentCredentials, desired);
    } catch (err) {
      if (!(err instanceof FliptConfigError)) throw err;
      const problem: TargetProblem = {
        reason: 'InvalidFliptConfig',
        message: `Key ${target.configMap.key} of ConfigMap ${target.namespace}/${target.configMap.name} is ${err.message}; fix it and the operator will continue`,
      };
      return this.publish(name, { ...base, problem });
    }

    const conflicts = new Set(plan.render.conflictingIds);
    const workloadHash = templateConfigHash(workload);
    const managedIdsText = JSON.stringify(plan.render.managedIds);
    const configDiffers = plan.render.changed || configMap.metadata?.annotations?.[MANAGED_TOKENS_ANNOTATION] !== managedIdsText;
    const credentialsMissing = Object.entries(plan.credentials).some(([k, v]) => !tokensEqual(currentCredentials[k] ?? '', v));
    // A ConfigMap that lost our record was replaced by someone else (Flipt's chart recreates it on
    // every upgrade); if Flipt also rolled meanwhile, its pods read that config, not ours.
    const replacedConfig = configMap.metadata?.annotations?.[MANAGED_TOKENS_ANNOTATION] === undefined;
    const rolledOnForeignConfig = replacedConfig && plan.render.managedIds.length > 0 && templateChangedSinceOurRestart(workload);
    const restartNeeded = workloadHash !== plan.configHash || rolledOnForeignConfig;

    if (configDiffers || credentialsMissing || restartNeeded) {
      const holdUntil = this.restartAllowedAt(target, workload);
      if (restartNeeded && holdUntil > Date.now()) {
        const current = this.currentState(target, source ?? '', previouslyManaged, currentCredentials);
        this.publish(name, { ...base, ...current, conflicts, workloadHash, authenticationRequired: plan.render.authenticationRequired, nextApplyAt: holdUntil });
        return { requeueAfterMs: holdUntil - Date.now() };
      }
      if (credentialsMissing) await this.writeCredentials(target, credentialsSecret, plan.credentials);
      if (configDiffers) {
        await this.writeConfigMap(target, configMap, plan.render.text, managedIdsText);
        this.deps.onConfigWritten?.(name);
      }
      if (restartNeeded) await this.restart(target, workload, plan.configHash, desired.length);
    } else if (plan.staleCredentialKeys.length > 0 && rollout.done) {
      await this.writeCredentials(target, credentialsSecret, omit(currentCredentials, plan.staleCredentialKeys));
    }

    const registered = new Map<string, string>();
    for (const id of plan.render.managedIds) {
      const token = plan.credentials[credentialKey(target, id)];
      if (token) registered.set(id, fingerprint(token));
    }
    const rolloutAfter = restartNeeded ? { done: false, detail: 'restart triggered' } : rollout;
    this.publish(name, {
      registered,
      conflicts,
      configHash: plan.configHash,
      workloadHash: plan.configHash,
      rollout: rolloutAfter,
      authenticationRequired: plan.render.authenticationRequired,
    });
    return;
  };

  /** Token from the client's own Secret, as cached by the informer. */
  private clientSecretToken(client: FliptClient): string | undefined {
    return secretValue(this.deps.clientSecrets.get(secretNameFor(client), client.metadata.namespace), 'token') || undefined;
  }

  /** The registered set and restart key as the target stands, before pending changes are applied. */
  private currentState(target: TargetConfig, source: string, managed: readonly string[], credentials: Record<string, string>) {
    const registered = new Map<string, string>();
    const referenced: Record<string, string> = {};
    for (const id of managed) {
      const key = credentialKey(target, id);
      const token = credentials[key];
      if (!token) continue;
      registered.set(id, fingerprint(token));
      referenced[key] = token;
    }
    return { registered, configHash: configHash(source, referenced) };
  }

  /**
   * Restarts of one target are at least restart.minInterval apart; bursts share the next one. The
   * last restart's time is on the workload (read fresh each reconcile), so it survives our restarts.
   */
  private restartAllowedAt(target: TargetConfig, workload: Workload): number {
    return (templateRestartedAt(workload) ?? 0) + target.restart.minIntervalMs;
  }

  private publish(name: string, snapshot: TargetSnapshot): ReconcileResult {
    const changed = !sameSnapshot(this.snapshots.get(name), snapshot);
    this.snapshots.set(name, snapshot);
    if (changed) this.deps.onSnapshotChanged(name);
    return;
  }

  private async readConfigMap(target: TargetConfig): Promise<V1ConfigMap | undefined> {
    return orUndefined(this.deps.clients.core.readNamespacedConfigMap({ name: target.configMap.name, namespace: target.namespace }));
  }

  private async readCredentialsSecret(target: TargetConfig): Promise<V1Secret | undefined> {
    return orUndefined(this.deps.clients.core.readNamespacedSecret({ name: target.credentialsSecret, namespace: target.namespace }));
  }

  private async readWorkload(target: TargetConfig): Promise<Workload | undefined> {
    const ref = { name: target.workload.name, namespace: target.namespace };
    return orUndefined(
      target.workload.kind === 'Deployment'
        ? this.deps.clients.apps.readNamespacedDeployment(ref)
        : this.deps.clients.apps.readNamespacedStatefulSet(ref),
    );
  }

  private async writeCredentials(target: TargetConfig, existing: V1Secret | undefined, credentials: Record<string, string>): Promise<void> {
    const data = encodeSecretData(credentials);
    const { core } = this.deps.clients;
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
    await core.replaceNamespacedSecret({
      name: target.credentialsSecret,
      namespace: target.namespace,
      body: { ...existing, data },
    });
  }

  private async writeConfigMap(target: TargetConfig, configMap: V1ConfigMap, text: string, managedIds: string): Promise<void> {
    await this.deps.clients.core.replaceNamespacedConfigMap({
      name: target.configMap.name,
      namespace: target.namespace,
      body: {
        ...configMap,
        metadata: { ...configMap.metadata, annotations: { ...configMap.metadata?.annotations, [MANAGED_TOKENS_ANNOTATION]: managedIds } },
        data: { ...configMap.data, [target.configMap.key]: text },
      },
    });
  }

  private async restart(target: TargetConfig, workload: Workload, hash: string, tokens: number): Promise<void> {
    const now = new Date();
    // The template change bumps metadata.generation by one; the resourceVersion precondition makes
    // that exact, so the recorded generation is the one this patch produces.
    const body = {
      metadata: {
        resourceVersion: workload.metadata?.resourceVersion,
        annotations: { [RESTART_GENERATION_ANNOTATION]: String((workload.metadata?.generation ?? 0) + 1) },
      },
      spec: { template: { metadata: { annotations: { [CONFIG_HASH_ANNOTATION]: hash, [RESTARTED_AT_ANNOTATION]: now.toISOString() } } } },
    };
    const ref = { name: target.workload.name, namespace: target.namespace, body };
    if (target.workload.kind === 'Deployment') await this.deps.clients.apps.patchNamespacedDeployment(ref, mergePatch);
    else await this.deps.clients.apps.patchNamespacedStatefulSet(ref, mergePatch);
    this.deps.onRestart?.(target.name);
    const apiVersion = 'apps/v1';
    const note = `Restarting Flipt to apply its config (${tokens} managed tokens, config hash ${hash.slice(0, 12)})`;
    this.deps.log.info({ target: target.name, configHash: hash.slice(0, 12), tokens }, 'restarting Flipt');
    void this.deps.events.record({ apiVersion, kind: target.workload.kind, metadata: workload.metadata }, 'Normal', 'ConfigChanged', note, 'Restart');
  }
}

function missing(reason: TargetProblem['reason'], what: string, field: string): TargetProblem {
  return { reason, message: `${what} not found: create it, or correct targets[].${field} in the operator config` };
}

async function orUndefined<T>(request: Promise<T>): Promise<T | undefined> {
  try {
    return await request;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

function omit(record: Record<string, string>, keys: readonly string[]): Record<string, string> {
  const drop = new Set(keys);
  return Object.fromEntries(Object.entries(record).filter(([k]) => !drop.has(k)));
}
