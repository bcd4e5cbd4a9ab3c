// Reconciles one FliptClient: refuse what cannot be served, hold the finalizer, keep its Secret with
// the token of record, and report in status how far Flipt has got with that token. Which token, which
// Secret and which conditions are decided in decisions.ts; this file only reads caches and writes.
import type { V1Secret } from '@kubernetes/client-node';
import type { TargetConfig } from '../config/operator-config.ts';
import { mergePatch } from '../kube/client.ts';
import { describeError, isConflict, isForbidden, isNotFound, statusCode, unlessNotFound } from '../kube/errors.ts';
import { compareResourceVersions } from '../kube/resource-version.ts';
import { secretValue } from '../kube/secret-data.ts';
import type { ReconcileResult } from '../runtime/controller.ts';
import { isPartialCopy } from '../vocabulary/cache-trim.ts';
import { credentialKey, fingerprint, tokenIdFor } from '../vocabulary/credentials.ts';
import {
  FINALIZER,
  clientKey,
  fliptClientPath,
  ownedBy,
  secretNameFor,
  targetNameOf,
  type Condition,
  type FliptClient,
  type FliptClientStatus,
} from '../vocabulary/fliptclient.ts';
import { accepts } from '../vocabulary/registration.ts';
import { nextTokenIdFor, requestedRotation, ROTATE_ANNOTATION, rotationOverlap, rotationTrigger, scheduledRotationAt } from '../vocabulary/rotation.ts';
import {
  bindingVerdict,
  decideSwitch,
  decideToken,
  desiredClientSecret,
  readinessVerdict,
  refusal,
  registrationVerdict,
  replacementSecret,
  restartAnnotationFor,
  revoked,
  rolloutQuietUntil,
  sameStatus,
  rotationVerdict,
  secretBehindStatus,
  secretConflictVerdict,
  secretNeedsUpdate,
  credentialVerdictConditions,
  secretWriteFailedVerdict,
  statusWriteRefusedNote,
  finalizerWriteFailedVerdict,
  reportsRefusedWrite,
  statusEvents,
  withCondition,
  workloadsVerdict,
  type RegisteredTokens,
  type Verdict,
  type WorkloadRestart,
} from './decisions.ts';
import { credentialRoute } from './jwt-decisions.ts';
import { JwtClientReconciler } from './jwt-reconciler.ts';
import type { FliptClientReconcilerDeps } from './reconciler-deps.ts';

export class FliptClientReconciler {
  private readonly deps: FliptClientReconcilerDeps;
  private readonly jwt: JwtClientReconciler;
  /** The last Ready transition announced per FliptClient, so that a stale cache never announces one twice. */
  private readonly announced = new Map<string, string>();
  /** The reason the API server last refused a FliptClient's status for, reported once until a status write gets through. */
  private readonly statusRefused = new Map<string, string>();
  /** The resourceVersion of each FliptClient as this reconciler last wrote it, until the cache has it. */
  private readonly written = new Map<string, string>();
  /** The token whose late switch time this reconciler recorded, per FliptClient, until its Secret holds it. */
  private readonly lateSwitchRecorded = new Map<string, string>();

  constructor(deps: FliptClientReconcilerDeps) {
    this.deps = deps;
    this.jwt = new JwtClientReconciler(deps, {
      ensureFinalizer: (client) => this.ensureFinalizer(client),
      writeStatus: (client, next, refused) => this.writeStatus(client, next, refused),
      secretWriteFailed: (client, secretName, err) => this.secretWriteFailed(client, secretName, err),
    });
  }

  reconcile = async (key: string): Promise<ReconcileResult> => {
    const [namespace, name] = key.split('/') as [string, string];
    const cached = this.deps.fliptClients.get(name, namespace);
    if (!cached) {
      this.announced.delete(key);
      this.written.delete(key);
      this.lateSwitchRecorded.delete(key);
      this.statusRefused.delete(key);
      return;
    }
    // A cache older than our own last write of this FliptClient would decide again from what that
    // write replaced (a status written twice, an issuedAt moved): the watch event of the write brings the key back.
    const behind = compareResourceVersions(cached.metadata.resourceVersion, this.written.get(key));
    if (behind === -1) return;
    this.written.delete(key);
    let client = cached;
    const target = this.deps.targets.find((t) => t.name === targetNameOf(client));
    // Another installation's FliptClient (its target is not ours): left alone, status and finalizer included.
    const ours = target !== undefined || client.status?.installation === this.deps.installation.name;
    if (!ours && (client.status?.installation !== undefined || !this.deps.installation.reportUnknownTargets)) return;
    if (client.metadata.deletionTimestamp) return this.finalize(client, target);
    if (!ours) {
      // The installation that owns the target claims a new FliptClient within moments: give it that
      // long before calling the target unknown, so that no client ever shows UnknownTarget in passing.
      const age = this.deps.clock.now() - new Date(client.metadata.creationTimestamp ?? 0).getTime();
      if (age < UNKNOWN_TARGET_GRACE_MS) return { requeueAfterMs: UNKNOWN_TARGET_GRACE_MS - age };
    }

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
    const route = credentialRoute(client, target, state, this.deps.signingKeys(), this.deps.clock.now());
    if (route.jwt) {
      // Never the static path for a client holding a JWT: it would read the JWT as a lost token.
      if (!state) return { requeueAfterMs: 500 };
      return this.jwt.reconcile(client, target, state);
    }
    if (!client.status?.credentialFingerprint && state?.problem) {
      // Issue nothing for a target that cannot take it yet; its state changing brings us back.
      const verdict: Verdict = { status: 'False', reason: state.problem.reason, message: state.problem.message };
      await this.writeStatus(client, { conditions: refusedConditions(client, verdict, this.now()) }, verdict);
      return;
    }

    const secretName = secretNameFor(client);
    const id = tokenIdFor(namespace, name);
    const nextId = nextTokenIdFor(id);
    const credentials = this.deps.credentialsSecret(target.name);
    const registered: RegisteredTokens = { id: secretValue(credentials, credentialKey(target, id)), next: secretValue(credentials, credentialKey(target, nextId)) };

    // A rotation's new token that every Flipt pod accepts becomes the token of record, in status first:
    // a crash before the Secret follows finds the status naming it, and the Secret is switched then.
    const switchTo = decideSwitch(client.status?.credentialFingerprint, registered, nextId, state);
    const trigger = switchTo ? (rotationTrigger(client, this.deps.clock.now()) ?? 'request') : undefined;
    if (switchTo) client = await this.recordSwitch(client, switchTo);

    const decide = (existing: V1Secret | undefined) => {
      const decision = decideToken(client.status?.credentialFingerprint, secretValue(existing, 'token'), registered);
      return { decision, desired: desiredClientSecret(client, secretName, decision.token, target) };
    };
    // Not in the cache usually means not there yet: create it, and only read it when the create
    // says it exists (a Secret someone else made, or ours the cache has not seen yet). In the cache
    // without the token the status names, it may be older than our own last write of it; a partial
    // copy lacks what a write would keep.
    let existing = this.deps.clientSecrets.get(secretName, namespace);
    if (existing && (secretBehindStatus(existing, client) || isPartialCopy(existing))) {
      existing = await this.readSecret(secretName, namespace);
    }
    let { decision, desired } = decide(existing);
    // The status named the new token before a crash kept the Secret from following: the overlap
    // counts from the switch, so the status says when that is, first. The Secret follows once the
    // cache holds that status (the watch event of the write brings the key back): a target that saw
    // the Secret switch beside the earlier time would retire the old token at once. The status then
    // says when the Secret switched, the time its overlap counts from.
    const lateSwitch = decision.action === 'switch' && !switchTo;
    if (lateSwitch && this.lateSwitchRecorded.get(key) !== fingerprint(decision.token)) {
      await this.recordSwitch(client, decision.token);
      this.lateSwitchRecorded.set(key, fingerprint(decision.token));
      return;
    }
    this.lateSwitchRecorded.delete(key);
    if (!existing) {
      try {
        await this.deps.api.json.post(`/api/v1/namespaces/${namespace}/secrets`, desired);
      } catch (err) {
        if (!isConflict(err)) return this.secretWriteFailed(client, secretName, err);
        existing = await this.readSecret(secretName, namespace);
        if (!existing) throw new Error(`Secret ${namespace}/${secretName} was deleted while being created; retrying`);
        ({ decision, desired } = decide(existing));
      }
    }
    if (existing && !ownedBy(existing, client)) {
      const verdict = secretConflictVerdict(namespace, secretName);
      await this.writeStatus(client, { conditions: refusedConditions(client, verdict, this.now()) }, verdict);
      return;
    }
    // Before the status names the token, so before any target registers it: deleting the client
    // from here on revokes it. A Secret written before the finalizer holds a token nothing accepts.
    await this.ensureFinalizer(client);
    if (existing && secretNeedsUpdate(existing, desired)) {
      try {
        await this.deps.api.core.replaceNamespacedSecret({ name: secretName, namespace, body: replacementSecret(existing, desired) });
      } catch (err) {
        if (!isConflict(err)) return this.secretWriteFailed(client, secretName, err);
        throw err;
      }
    }

    const credentialFingerprint = fingerprint(decision.token);
    const issuedNow = decision.action === 'issue';
    if (issuedNow || decision.action === 'restore' || switchTo) this.deps.enqueueTarget(target.name);
    const issuedAt = issuedNow || lateSwitch || !client.status?.issuedAt ? this.now().toISOString() : client.status.issuedAt;
    const issued: Verdict = { status: 'True', reason: 'Issued', message: `Token ${credentialFingerprint} (sha256 prefix) is in Secret ${secretName}` };

    const generation = client.metadata.generation;
    let conditions = withCondition(client.status?.conditions ?? [], 'CredentialIssued', issued, generation, this.now());
    const serviceAccounts = client.spec.serviceAccounts ?? [];
    const binding = serviceAccounts.length > 0 ? bindingVerdict(serviceAccounts, this.deps.serviceAccountConflicts(namespace, name)) : undefined;
    conditions = binding ? withCondition(conditions, 'ServiceAccountsBound', binding, generation, this.now()) : conditions.filter((c) => c.type !== 'ServiceAccountsBound');
    let ready: Verdict | undefined;
    if (state) {
      const applied = registrationVerdict(key, id, credentialFingerprint, state, target.name);
      const workload = `${target.workload.kind} ${target.namespace}/${target.workload.name}`;
      ready = readinessVerdict(issued, applied, state, workload, accepts(state, credentialFingerprint), binding);
      conditions = withCondition(conditions, 'ConfigApplied', applied, generation, this.now());
      conditions = withCondition(conditions, 'Ready', ready, generation, this.now());
    } else if (!conditions.some((c) => c.type === 'Ready')) {
      const waiting: Verdict = { status: 'Unknown', reason: 'TargetNotObserved', message: `Waiting for the operator to read target "${target.name}"` };
      conditions = withCondition(conditions, 'ConfigApplied', waiting, generation, this.now());
      conditions = withCondition(conditions, 'Ready', waiting, generation, this.now());
    }
    const quietUntil = rolloutQuietUntil(client.status?.conditions ?? [], conditions, state, this.deps.clock.now());
    if (quietUntil !== undefined) {
      const kept = (type: string) => client.status!.conditions!.find((c) => c.type === type);
      conditions = conditions.map((c) => (c.type === 'Ready' || c.type === 'ConfigApplied' ? (kept(c.type) ?? c) : c));
    }
    const statusNow = { ...client.status, credentialFingerprint, issuedAt };
    const rotating = rotationVerdict({ ...client, status: statusNow }, registered, state, target.name, this.deps.clock.now());
    conditions = withCondition(conditions, 'Rotating', rotating, generation, this.now());

    // Workloads that read the credential from their environment restart once per credential, and only
    // once every Flipt pod accepts it.
    let workloadsRestartedFor = client.status?.workloadsRestartedFor;
    const restartTargets = client.spec.rolloutRestartTargets ?? [];
    if (restartTargets.length === 0) conditions = conditions.filter((c) => c.type !== 'WorkloadsRestarted');
    else if (ready?.status === 'True' && workloadsRestartedFor !== credentialFingerprint) {
      const outcome = await this.restartWorkloads(client, credentialFingerprint);
      if (outcome.status === 'True') workloadsRestartedFor = credentialFingerprint;
      conditions = withCondition(conditions, 'WorkloadsRestarted', outcome, generation, this.now());
    } else if (!conditions.some((c) => c.type === 'WorkloadsRestarted')) {
      const waiting: Verdict = { status: 'Unknown', reason: 'WaitingForReady', message: 'The workloads restart once the FliptClient is Ready' };
      conditions = withCondition(conditions, 'WorkloadsRestarted', waiting, generation, this.now());
    }

    await this.writeStatus(client, {
      conditions,
      secretName,
      tokenId: id,
      credentialFingerprint,
      issuedAt,
      // A first token answers a rotation request made before it existed: nothing to rotate away from.
      ...(decision.action === 'issue' && decision.reason === 'FirstIssue' ? { lastRotateRequest: client.metadata.annotations?.[ROTATE_ANNOTATION] } : {}),
      workloadsRestartedFor,
    });

    // A first token is announced by the Ready Event that follows within moments: one Event per client
    // in a burst of thousands, not two.
    if (decision.action === 'issue' && decision.reason !== 'FirstIssue') {
      this.deps.events.record(client, 'Normal', 'TokenIssued', `The Secret was lost and its token was not registered; generated a new token (${credentialFingerprint}) in Secret ${secretName}`, 'Issue');
    } else if (decision.action === 'restore') {
      this.deps.events.record(client, 'Warning', 'SecretRestored', `Secret ${secretName} was deleted or edited; restored its token from target "${target.name}"`, 'Restore');
    }
    if (switchTo || lateSwitch) {
      const until = Date.parse(issuedAt) + rotationOverlap(client);
      // A late switch cannot tell a request from the schedule: the status answered the request before the crash.
      const how = switchTo ? (trigger === 'request' ? 'on request' : 'on schedule') : 'its Secret switched after an operator restart';
      const note = `Rotated the token (${how}): Secret ${secretName} holds ${credentialFingerprint}; the previous token stays valid until ${new Date(until).toISOString()}`;
      this.deps.events.record(client, 'Normal', 'Rotated', note, 'Rotate');
      const counted = trigger ?? 'resumed';
      this.deps.onRotated(target.name, counted);
      this.deps.log.info({ fliptClient: key, target: target.name, trigger: counted, credentialFingerprint }, 'rotated a token');
    }
    if (!state) this.deps.enqueueTarget(target.name);
    // A JWT target's client switches from its static token once a key may sign.
    const lookAgainAt = Math.min(route.lookAgainAt ?? Infinity, quietUntil ?? Infinity);
    return lookAgainAt < Infinity ? { requeueAfterMs: lookAgainAt - this.deps.clock.now() } : undefined;
  };

  /**
   * Records a rotation's new token as the token of record, and now as when the Secret switches to it,
   * with the resourceVersion as precondition so a stale cache never rotates twice.
   */
  private async recordSwitch(client: FliptClient, token: string): Promise<FliptClient> {
    const { namespace, name, resourceVersion } = client.metadata;
    const issuedAt = this.now().toISOString();
    const status: FliptClientStatus = {
      ...client.status,
      credentialFingerprint: fingerprint(token),
      issuedAt,
      ...(requestedRotation(client) !== undefined ? { lastRotateRequest: requestedRotation(client)! } : {}),
    };
    try {
      const body = { metadata: { resourceVersion }, status: { ...status, rotateAt: rotateAtOf(client, issuedAt) ?? null } };
      this.wrote((await this.deps.api.json.mergePatch(`${fliptClientPath(namespace, name)}/status`, body)) as FliptClient);
    } catch (err) {
      if (isConflict(err)) throw new Error(`FliptClient ${namespace}/${name} changed meanwhile; retrying the rotation with the newer version`);
      throw err;
    }
    return { ...client, status };
  }

  /** Restarts each of spec.rolloutRestartTargets by a pod-template annotation holding the credential's fingerprint. */
  private async restartWorkloads(client: FliptClient, credentialFingerprint: string): Promise<Verdict> {
    const { namespace, name } = client.metadata;
    const results: WorkloadRestart[] = [];
    for (const workload of client.spec.rolloutRestartTargets ?? []) {
      const body = { spec: { template: { metadata: { annotations: { [restartAnnotationFor(name)]: credentialFingerprint } } } } };
      const ref = { name: workload.name, namespace, body };
      try {
        if (workload.kind === 'Deployment') await this.deps.api.apps.patchNamespacedDeployment(ref, mergePatch);
        else if (workload.kind === 'StatefulSet') await this.deps.api.apps.patchNamespacedStatefulSet(ref, mergePatch);
        else await this.deps.api.apps.patchNamespacedDaemonSet(ref, mergePatch);
        results.push({ ...workload, outcome: 'restarted' });
      } catch (err) {
        if (isNotFound(err)) results.push({ ...workload, outcome: 'missing' });
        else if (isForbidden(err)) results.push({ ...workload, outcome: 'forbidden' });
        else throw err;
      }
    }
    const verdict = workloadsVerdict(namespace, results, credentialFingerprint);
    if (verdict.status !== 'True') this.deps.events.record(client, 'Warning', verdict.reason, verdict.message, 'Restart');
    return verdict;
  }

  /** A Warning Event, once for each reason the API server gives in a row: the status cannot report its own refusal. */
  private statusWriteRefused(client: FliptClient, err: unknown): void {
    const { namespace, name } = client.metadata;
    const reason = describeError(err);
    const note = statusWriteRefusedNote(namespace, name, statusCode(err), reason);
    if (note === undefined || this.statusRefused.get(keyOf(client)) === reason) return;
    this.statusRefused.set(keyOf(client), reason);
    this.deps.events.record(client, 'Warning', 'StatusWriteFailed', note, 'WriteStatus');
  }

  private secretWriteFailed(client: FliptClient, secretName: string, err: unknown): Promise<never> {
    return this.writeRefused(client, secretWriteFailedVerdict(client.metadata.namespace, secretName, describeError(err)), err);
  }

  /** Never silent: the client says why the API server refused its write (and a Warning Event), then the error goes to the retry with backoff. */
  private async writeRefused(client: FliptClient, verdict: Verdict, err: unknown): Promise<never> {
    if (reportsRefusedWrite(client, verdict, statusCode(err))) {
      await this.writeStatus(client, { conditions: credentialVerdictConditions(client, verdict, this.now()) }, verdict).catch(() => undefined);
    }
    throw err;
  }

  private async finalize(client: FliptClient, target: TargetConfig | undefined): Promise<ReconcileResult> {
    if (!client.metadata.finalizers?.includes(FINALIZER)) return;
    const state = target && this.deps.targetState(target.name);
    if (target) {
      this.deps.enqueueTarget(target.name);
      const id = tokenIdFor(client.metadata.namespace, client.metadata.name);
      if (!state) return { requeueAfterMs: 1000 };
      // A target with a problem does not hold the deletion (below).
      if (!state.problem && !revoked(state, id)) return;
    }
    await this.patchFinalizers(client, (client.metadata.finalizers ?? []).filter((f) => f !== FINALIZER));
    this.announced.delete(keyOf(client));
    if (state?.problem) {
      // A broken target must not hold deletions: the token goes from its config once the target can be written.
      this.deps.events.record(client, 'Warning', 'RevocationDeferred', `Target "${targetNameOf(client)}" cannot be changed now (${state.problem.reason}); the token leaves Flipt's config once it can`, 'Revoke');
    } else {
      this.deps.events.record(client, 'Normal', 'TokenRevoked', `Token removed from target "${targetNameOf(client)}"`, 'Revoke');
    }
    return;
  }

  private wrote(client: FliptClient): void {
    const { resourceVersion } = client.metadata;
    if (resourceVersion) this.written.set(keyOf(client), resourceVersion);
  }

  private now(): Date {
    return new Date(this.deps.clock.now());
  }

  private async ensureFinalizer(client: FliptClient): Promise<void> {
    const finalizers = client.metadata.finalizers ?? [];
    if (finalizers.includes(FINALIZER)) return;
    await this.patchFinalizers(client, [...finalizers, FINALIZER]);
  }

  /**
   * Merge patch with the cached resourceVersion as precondition: a stale cache means retry, not clobber.
   * A refusal is never silent (writeRefused).
   */
  private async patchFinalizers(client: FliptClient, finalizers: string[]): Promise<void> {
    const { namespace, name, resourceVersion } = client.metadata;
    try {
      this.wrote((await this.deps.api.json.mergePatch(fliptClientPath(namespace, name), { metadata: { finalizers, resourceVersion } })) as FliptClient);
    } catch (err) {
      if (isNotFound(err)) return;
      if (isConflict(err)) throw new Error(`FliptClient ${namespace}/${name} changed meanwhile; retrying with the newer version`);
      return this.writeRefused(client, finalizerWriteFailedVerdict(namespace, name, finalizers.includes(FINALIZER) ? 'add' : 'remove', describeError(err)), err);
    }
  }

  private readSecret(name: string, namespace: string): Promise<V1Secret | undefined> {
    return unlessNotFound(this.deps.api.core.readNamespacedSecret({ name, namespace }));
  }

  /** Writes status only when it changed; records an Event when Ready or a refusal changes. */
  private async writeStatus(client: FliptClient, next: Partial<FliptClientStatus>, refused?: Verdict): Promise<void> {
    const current = client.status ?? {};
    const issuedAt = next.issuedAt ?? current.issuedAt;
    const kind = next.credentialKind ?? current.credentialKind;
    const ofJwt = (field: 'expiresAt' | 'refreshAt' | 'keyId') => (kind === 'jwt' ? (field in next ? next[field] : current[field]) : undefined);
    const status: FliptClientStatus = {
      observedGeneration: client.metadata.generation ?? 0,
      conditions: next.conditions ?? [],
      secretName: next.secretName ?? current.secretName,
      tokenId: next.tokenId ?? current.tokenId,
      credentialFingerprint: next.credentialFingerprint ?? current.credentialFingerprint,
      issuedAt,
      rotateAt: kind === 'jwt' ? undefined : rotateAtOf(client, issuedAt),
      lastRotateRequest: 'lastRotateRequest' in next ? next.lastRotateRequest : current.lastRotateRequest,
      workloadsRestartedFor: 'workloadsRestartedFor' in next ? next.workloadsRestartedFor : current.workloadsRestartedFor,
      credentialKind: kind,
      credentialKindSince: next.credentialKindSince ?? current.credentialKindSince,
      expiresAt: ofJwt('expiresAt'),
      refreshAt: ofJwt('refreshAt'),
      keyId: ofJwt('keyId'),
      installation: this.deps.installation.name,
    };
    if (sameStatus(status, current)) return;
    const { namespace, name } = client.metadata;
    // A merge patch keeps what it does not name: a field that went away is sent as null.
    const body = { status: Object.fromEntries(Object.entries(status).map(([k, v]) => [k, v ?? null])) };
    try {
      this.wrote((await this.deps.api.json.mergePatch(`${fliptClientPath(namespace, name)}/status`, body)) as FliptClient);
    } catch (err) {
      if (isNotFound(err)) return;
      this.statusWriteRefused(client, err);
      throw err;
    }
    this.statusRefused.delete(keyOf(client));
    const { events, announced } = statusEvents(client.metadata.uid ?? '', current.conditions ?? [], status.conditions ?? [], refused !== undefined, this.announced.get(keyOf(client)));
    if (announced) this.announced.set(keyOf(client), announced);
    for (const event of events) this.deps.events.record(client, event.type, event.reason, event.message);
  }
}

/** The scheduled rotation of a token issued at `issuedAt`, as status reports it. */
function rotateAtOf(client: FliptClient, issuedAt: string | undefined): string | undefined {
  const at = scheduledRotationAt({ ...client, status: { ...client.status, ...(issuedAt ? { issuedAt } : {}) } });
  return at !== undefined ? new Date(at).toISOString() : undefined;
}

/** How long a FliptClient whose target no installation knows waits, unclaimed, before it is reported UnknownTarget. */
const UNKNOWN_TARGET_GRACE_MS = 10_000;

const keyOf = (client: FliptClient) => clientKey(client.metadata.namespace, client.metadata.name);

/** A client the operator does not serve (yet) registers nothing: no ConfigApplied. */
function refusedConditions(client: FliptClient, verdict: Verdict, now: Date): Condition[] {
  return credentialVerdictConditions(client, verdict, now).filter((c) => c.type !== 'ConfigApplied');
}
