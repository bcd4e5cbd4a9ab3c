// Reconciles one FliptClient: refuse what cannot be served, hold the finalizer, keep its Secret with
// the token of record, and report in status how far Flipt has got with that token. Which token, which
// Secret and which conditions are decided in decisions.ts; this file only reads caches and writes.
import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { TargetConfig } from '../config/operator-config.ts';
import { mergePatch, type KubeClients } from '../kube/client.ts';
import { isConflict, isNotFound } from '../kube/errors.ts';
import type { EventRecorder } from '../kube/events.ts';
import { secretValue } from '../kube/secret-data.ts';
import type { Clock } from '../runtime/clock.ts';
import type { ReconcileResult } from '../runtime/controller.ts';
import type { Informer } from '../runtime/informer.ts';
import { credentialKey, fingerprint, tokenIdFor } from '../vocabulary/credentials.ts';
import {
  FINALIZER,
  GROUP,
  PLURAL,
  VERSION,
  ownedBy,
  secretNameFor,
  targetNameOf,
  type Condition,
  type FliptClient,
  type FliptClientStatus,
} from '../vocabulary/fliptclient.ts';
import type { TargetState } from '../vocabulary/registration.ts';
import {
  bindingVerdict,
  decideToken,
  desiredClientSecret,
  readinessVerdict,
  refusal,
  registrationVerdict,
  secretNeedsUpdate,
  withCondition,
  type Verdict,
} from './decisions.ts';

export interface FliptClientReconcilerDeps {
  api: KubeClients;
  targets: readonly TargetConfig[];
  fliptClients: Informer<FliptClient>;
  clientSecrets: Informer<V1Secret>;
  /** The target's credentials Secret as cached, to restore a lost client Secret from. */
  credentialsSecret: (target: string) => V1Secret | undefined;
  targetState: (target: string) => TargetState | undefined;
  enqueueTarget: (target: string) => void;
  /** For each of the client's service accounts, the other FliptClients that claim it too. */
  serviceAccountConflicts: (namespace: string, name: string) => Record<string, string[]>;
  events: EventRecorder;
  log: Logger;
  clock: Clock;
}

export class FliptClientReconciler {
  private readonly deps: FliptClientReconcilerDeps;

  constructor(deps: FliptClientReconcilerDeps) {
    this.deps = deps;
  }

  reconcile = async (key: string): Promise<ReconcileResult> => {
    const [namespace, name] = key.split('/') as [string, string];
    const client = this.deps.fliptClients.get(name, namespace);
    if (!client) return;
    const target = this.deps.targets.find((t) => t.name === targetNameOf(client));
    if (client.metadata.deletionTimestamp) return this.finalize(client, target);

    const refused = refusal(client, target, this.deps.targets.map((t) => t.name));
    if (refused || !target) {
      await this.writeStatus(client, { conditions: refusedConditions(client, refused!, this.now()) }, refused);
      return;
    }
    const state = this.deps.targetState(target.name);
    if (!client.status?.credentialFingerprint && !state) {
      // Issue a first credential only once the target has been read and can take it.
      this.deps.enqueueTarget(target.name);
      return { requeueAfterMs: 500 };
    }
    if (!client.status?.credentialFingerprint && state?.problem) {
      // Issue nothing for a target that cannot take it yet; its state changing brings us back.
      const verdict: Verdict = { status: 'False', reason: state.problem.reason, message: state.problem.message };
      await this.writeStatus(client, { conditions: refusedConditions(client, verdict, this.now()) }, verdict);
      return;
    }

    const secretName = secretNameFor(client);
    const id = tokenIdFor(namespace, name);
    const registered = secretValue(this.deps.credentialsSecret(target.name), credentialKey(target, id));
    const issue = (existing: V1Secret | undefined) => {
      const decision = decideToken(client.status?.credentialFingerprint, secretValue(existing, 'token'), registered);
      return { decision, desired: desiredClientSecret(client, secretName, decision.token, target) };
    };

    // Not in the cache usually means not there yet: create it, and only read it when the create
    // says it exists (a Secret someone else made, or ours the cache has not seen yet).
    let existing = this.deps.clientSecrets.get(secretName, namespace);
    let { decision, desired } = issue(existing);
    if (!existing) {
      try {
        await this.deps.api.core.createNamespacedSecret({ namespace, body: desired });
      } catch (err) {
        if (!isConflict(err)) throw err;
        existing = await this.readSecret(secretName, namespace);
        if (!existing) throw new Error(`Secret ${namespace}/${secretName} was deleted while being created; retrying`);
        ({ decision, desired } = issue(existing));
      }
    }
    if (existing && !ownedBy(existing, client)) {
      const verdict: Verdict = {
        status: 'False',
        reason: 'SecretConflict',
        message: `Secret ${namespace}/${secretName} exists and is not owned by this FliptClient; the operator never overwrites it. Delete it or set spec.secret.name`,
      };
      await this.writeStatus(client, { conditions: refusedConditions(client, verdict, this.now()) }, verdict);
      return;
    }
    // Before the status names the token, so before any target registers it: deleting the client
    // from here on revokes it. A Secret written before the finalizer holds a token nothing accepts.
    await this.ensureFinalizer(client);
    if (existing && secretNeedsUpdate(existing, desired)) {
      const body = { ...desired, metadata: { ...existing.metadata, ...desired.metadata, labels: { ...existing.metadata?.labels, ...desired.metadata?.labels } } };
      await this.deps.api.core.replaceNamespacedSecret({ name: secretName, namespace, body });
    }

    const credentialFingerprint = fingerprint(decision.token);
    const issuedNow = decision.action === 'issue';
    if (issuedNow || decision.action === 'restore') this.deps.enqueueTarget(target.name);
    const issuedAt = issuedNow || !client.status?.issuedAt ? this.now().toISOString() : client.status.issuedAt;
    const issued: Verdict = {
      status: 'True',
      reason: 'Issued',
      message: `Token ${credentialFingerprint} (sha256 prefix) is in Secret ${secretName}`,
    };

    let conditions = withCondition(client.status?.conditions ?? [], 'CredentialIssued', issued, client.metadata.generation, this.now());
    const serviceAccounts = client.spec.serviceAccounts ?? [];
    const binding = serviceAccounts.length > 0 ? bindingVerdict(serviceAccounts, this.deps.serviceAccountConflicts(namespace, name)) : undefined;
    conditions = binding
      ? withCondition(conditions, 'ServiceAccountsBound', binding, client.metadata.generation, this.now())
      : conditions.filter((c) => c.type !== 'ServiceAccountsBound');
    if (state) {
      const applied = registrationVerdict(id, credentialFingerprint, state, target.name);
      const ready = readinessVerdict(issued, applied, state, `${target.workload.kind} ${target.namespace}/${target.workload.name}`, binding);
      conditions = withCondition(conditions, 'ConfigApplied', applied, client.metadata.generation, this.now());
      conditions = withCondition(conditions, 'Ready', ready, client.metadata.generation, this.now());
    } else if (!conditions.some((c) => c.type === 'Ready')) {
      const waiting: Verdict = { status: 'Unknown', reason: 'TargetNotObserved', message: `Waiting for the operator to read target "${target.name}"` };
      conditions = withCondition(conditions, 'ConfigApplied', waiting, client.metadata.generation, this.now());
      conditions = withCondition(conditions, 'Ready', waiting, client.metadata.generation, this.now());
    }
    await this.writeStatus(client, { conditions, secretName, tokenId: id, credentialFingerprint, issuedAt });

    if (decision.action === 'issue') {
      const why = decision.reason === 'FirstIssue' ? 'Generated a new token' : 'The Secret was lost and its token was not registered; generated a new token';
      void this.deps.events.record(client, 'Normal', 'TokenIssued', `${why} (${credentialFingerprint}) in Secret ${secretName}`, 'Issue');
    } else if (decision.action === 'restore') {
      void this.deps.events.record(client, 'Warning', 'SecretRestored', `Secret ${secretName} was deleted or edited; restored its token from target "${target.name}"`, 'Restore');
    }
    if (!state) this.deps.enqueueTarget(target.name);
    return;
  };

  private async finalize(client: FliptClient, target: TargetConfig | undefined): Promise<ReconcileResult> {
    if (!client.metadata.finalizers?.includes(FINALIZER)) return;
    if (target) {
      this.deps.enqueueTarget(target.name);
      const state = this.deps.targetState(target.name);
      const id = tokenIdFor(client.metadata.namespace, client.metadata.name);
      if (!state) return { requeueAfterMs: 1000 };
      // Wait until the token has left the config and Flipt has been told to restart without it.
      if (!state.problem && (state.registered.has(id) || state.configHash !== state.workloadHash)) return;
    }
    await this.patchFinalizers(client, (client.metadata.finalizers ?? []).filter((f) => f !== FINALIZER));
    void this.deps.events.record(client, 'Normal', 'TokenRevoked', `Token removed from target "${targetNameOf(client)}"`, 'Revoke');
    return;
  }

  private now(): Date {
    return new Date(this.deps.clock.now());
  }

  private async ensureFinalizer(client: FliptClient): Promise<void> {
    const finalizers = client.metadata.finalizers ?? [];
    if (finalizers.includes(FINALIZER)) return;
    await this.patchFinalizers(client, [...finalizers, FINALIZER]);
  }

  /** Merge patch with the cached resourceVersion as precondition: a stale cache means retry, not clobber. */
  private async patchFinalizers(client: FliptClient, finalizers: string[]): Promise<void> {
    const { namespace, name, resourceVersion } = client.metadata;
    try {
      await this.deps.api.custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { metadata: { finalizers, resourceVersion } } },
        mergePatch,
      );
    } catch (err) {
      if (isNotFound(err)) return;
      if (isConflict(err)) throw new Error(`FliptClient ${namespace}/${name} changed meanwhile; retrying with the newer version`);
      throw err;
    }
  }

  private async readSecret(name: string, namespace: string): Promise<V1Secret | undefined> {
    try {
      return await this.deps.api.core.readNamespacedSecret({ name, namespace });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Writes status only when it changed; records an Event when Ready or a refusal changes. */
  private async writeStatus(client: FliptClient, next: Partial<FliptClientStatus>, refused?: Verdict): Promise<void> {
    const current = client.status ?? {};
    const status: FliptClientStatus = {
      observedGeneration: client.metadata.generation ?? 0,
      conditions: next.conditions ?? [],
      secretName: next.secretName ?? current.secretName,
      tokenId: next.tokenId ?? current.tokenId,
      credentialFingerprint: next.credentialFingerprint ?? current.credentialFingerprint,
      issuedAt: next.issuedAt ?? current.issuedAt,
      ...(current.rotateAt ? { rotateAt: current.rotateAt } : {}),
      ...(current.lastRotateRequest ? { lastRotateRequest: current.lastRotateRequest } : {}),
    };
    if (JSON.stringify(normalise(status)) === JSON.stringify(normalise(current))) return;
    const { namespace, name } = client.metadata;
    try {
      await this.deps.api.custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { status } },
        mergePatch,
      );
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    const before = current.conditions?.find((c) => c.type === 'Ready');
    const after = status.conditions?.find((c) => c.type === 'Ready');
    if (after && (before?.status !== after.status || before?.reason !== after.reason)) {
      // Outcomes make Events (Ready, and what needs someone to act); progress is in the condition only.
      const warning = refused !== undefined || WARNING_REASONS.has(after.reason);
      if (warning || after.status === 'True') void this.deps.events.record(client, warning ? 'Warning' : 'Normal', after.reason, after.message);
    }
    const applied = status.conditions?.find((c) => c.type === 'ConfigApplied');
    const appliedBefore = current.conditions?.find((c) => c.type === 'ConfigApplied');
    if (applied?.reason === 'AuthenticationNotRequired' && appliedBefore?.reason !== applied.reason) {
      void this.deps.events.record(client, 'Warning', applied.reason, applied.message);
    }
  }
}

/** Ready reasons that need someone to act, recorded as Warning Events. */
const WARNING_REASONS = new Set(['ServiceAccountConflict', 'TokenIdConflict', 'InvalidFliptConfig', 'ConfigMapMissing', 'WorkloadMissing']);

function refusedConditions(client: FliptClient, verdict: Verdict, now: Date): Condition[] {
  const generation = client.metadata.generation;
  let conditions = withCondition(client.status?.conditions ?? [], 'CredentialIssued', verdict, generation, now);
  conditions = withCondition(conditions, 'Ready', verdict, generation, now);
  return conditions.filter((c) => c.type !== 'ConfigApplied');
}

function normalise(status: FliptClientStatus): FliptClientStatus {
  return Object.fromEntries(Object.entries(status).filter(([, v]) => v !== undefined)) as FliptClientStatus;
}
