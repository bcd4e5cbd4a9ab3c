// Reconciles a FliptClient that holds, or is about to hold, a JWT: keeps its Secret holding a JWT the
// target's Flipt accepts, replaces it at two thirds of its lifetime (a requeue, not a poll), and,
// when its target uses static tokens again, switches it to the static token the target registered.
// What to do is decided in jwt-decisions.ts; this file reads caches, signs, and writes. No Flipt
// config write and no restart is ever needed for a client of a JWT target.
import type { V1Secret } from '@kubernetes/client-node';
import type { TargetConfig } from '../config/operator-config.ts';
import { isConflict, unlessNotFound } from '../kube/errors.ts';
import { secretValue } from '../kube/secret-data.ts';
import type { ReconcileResult } from '../runtime/controller.ts';
import { isPartialCopy } from '../vocabulary/cache-trim.ts';
import { clientClaims, readJwt, refreshAtOf, signedByPublishedKey, subjectFor, type JwtView } from '../vocabulary/client-jwt.ts';
import { credentialKindOf } from '../vocabulary/credential-kind.ts';
import { credentialKey, fingerprint, tokenIdFor, tokensEqual } from '../vocabulary/credentials.ts';
import { clientKey, ownedBy, secretNameFor, type FliptClient, type FliptClientStatus } from '../vocabulary/fliptclient.ts';
import type { TargetState } from '../vocabulary/registration.ts';
import { ROTATE_ANNOTATION } from '../vocabulary/rotation.ts';
import { bindingVerdict, desiredClientSecret, isCredentialOfRecord, readinessVerdict, replacementSecret, secretBehindStatus, secretConflictVerdict, secretNeedsUpdate, credentialVerdictConditions, withCondition, type Verdict } from './decisions.ts';
import { decideJwt, jwtAccepted, jwtAppliedVerdict, jwtIssuedVerdict, jwtRefreshVerdict, NOT_FOR_JWT, type MintReason } from './jwt-decisions.ts';
import type { FliptClientReconcilerDeps } from './reconciler-deps.ts';

/** What the FliptClient reconciler lends: its finalizer and status writes. */
export interface ClientWrites {
  ensureFinalizer(client: FliptClient): Promise<void>;
  writeStatus(client: FliptClient, next: Partial<FliptClientStatus>, refused?: Verdict): Promise<void>;
  /** Reports on the client that its Secret could not be written, then throws the error for the retry. */
  secretWriteFailed(client: FliptClient, secretName: string, err: unknown): Promise<never>;
}

const MINT_EVENTS: Partial<Record<MintReason, { type: 'Normal' | 'Warning'; reason: string; note: string }>> = {
  FirstIssue: { type: 'Normal', reason: 'JwtIssued', note: 'Issued a JWT' },
  SwitchToJwt: { type: 'Normal', reason: 'SwitchedToJwt', note: 'The target uses JWTs now: switched from the static token to a JWT' },
  SecretLost: { type: 'Warning', reason: 'SecretRestored', note: 'The Secret was deleted or edited: issued a new JWT' },
  Requested: { type: 'Normal', reason: 'Rotated', note: `Issued a new JWT on request (${ROTATE_ANNOTATION})` },
};

export class JwtClientReconciler {
  private readonly deps: FliptClientReconcilerDeps;
  private readonly writes: ClientWrites;

  constructor(deps: FliptClientReconcilerDeps, writes: ClientWrites) {
    this.deps = deps;
    this.writes = writes;
  }

  async reconcile(client: FliptClient, target: TargetConfig, state: TargetState): Promise<ReconcileResult> {
    const { namespace, name } = client.metadata;
    const secretName = secretNameFor(client);
    const now = this.deps.clock.now();
    let existing = this.deps.clientSecrets.get(secretName, namespace);
    // A Secret we just wrote can be missing from the cache, or still hold the JWT it replaced: without
    // this read a good JWT would be replaced by a needless new one. A partial copy lacks what a write would keep.
    if (secretBehindStatus(existing, client) || (existing && isPartialCopy(existing))) {
      existing = await unlessNotFound(this.deps.api.core.readNamespacedSecret({ name: secretName, namespace }));
    }
    if (existing && !ownedBy(existing, client)) return this.secretConflict(client, secretName);
    const id = tokenIdFor(namespace, name);
    const secretToken = secretValue(existing, 'token');
    const keys = this.deps.signingKeys();
    const decision = decideJwt({
      client,
      target,
      state,
      secretToken,
      secretTokenSigned: !isCredentialOfRecord(secretToken, client) && secretToken !== undefined && (await signedByPublishedKey(secretToken, keys, now)),
      registeredToken: secretValue(this.deps.credentialsSecret(target.name), credentialKey(target, id)),
      keys,
      now,
    });

    // A static token may come to be registered for this client (a switch back): deleting the client must then revoke it.
    if (target.credentialKind === 'staticToken') await this.writes.ensureFinalizer(client);
    if (decision.action === 'switchToStatic') {
      // The Secret first: the target keeps the token registered while the status still says JWT, so a
      // crash (or a cache that has not seen the status yet) before the status follows only repeats this.
      if (secretToken === undefined || !tokensEqual(secretToken, decision.token)) {
        if (!(await this.putSecret(client, existing, desiredClientSecret(client, secretName, decision.token, target)))) return this.secretConflict(client, secretName);
        this.deps.events.record(client, 'Normal', 'SwitchedToStaticToken', `The target uses static tokens again: Secret ${secretName} holds static token ${fingerprint(decision.token)}`, 'Switch');
      }
      await this.writes.writeStatus(client, {
        conditions: client.status?.conditions,
        credentialKind: 'staticToken',
        credentialKindSince: new Date(now).toISOString(),
        credentialFingerprint: fingerprint(decision.token),
        issuedAt: new Date(now).toISOString(),
      });
      this.deps.enqueueTarget(target.name);
      return;
    }

    if (decision.action === 'wait') {
      const retry = decision.retryAt !== undefined ? { requeueAfterMs: Math.max(0, decision.retryAt - now) } : undefined;
      if (!decision.keep || !secretToken) {
        const conditions = [
          ['CredentialIssued', decision.verdict],
          ['ConfigApplied', jwtAppliedVerdict(state, target, clientKey(namespace, name))],
          ['Ready', decision.verdict],
        ] as const;
        let next = client.status?.conditions ?? [];
        for (const [type, verdict] of conditions) next = withCondition(next, type, verdict, client.metadata.generation, new Date(now));
        await this.writes.writeStatus(client, { conditions: next, secretName }, decision.verdict);
        return retry;
      }
      await this.record(client, target, state, decision.keep, secretToken, secretName);
      // Its refresh may be overdue: look again when a key may sign, or when it expires.
      return retry ?? { requeueAfterMs: Math.max(0, decision.keep.expiresAt - now) };
    }

    if (decision.action === 'keep') {
      const desired = desiredClientSecret(client, secretName, secretToken!, target, decision.jwt.expiresAt);
      if (existing && secretNeedsUpdate(existing, desired) && !(await this.putSecret(client, existing, desired))) return this.secretConflict(client, secretName);
      await this.record(client, target, state, decision.jwt, secretToken!, secretName);
      return { requeueAfterMs: Math.max(0, decision.refreshAt - now) };
    }

    const issued = await this.deps.signer.sign(target.jwt, subjectFor(namespace, name), clientClaims(client), now);
    if (!issued) throw new Error(`no signing key may sign for FliptClient ${namespace}/${name} right now; retrying`);
    const jwt = readJwt(issued.jwt)!;
    if (!(await this.putSecret(client, existing, desiredClientSecret(client, secretName, issued.jwt, target, issued.expiresAt)))) return this.secretConflict(client, secretName);
    // Any new JWT answers a pending rotate request, whatever else made it due: recorded, it is not answered twice.
    const request = client.metadata.annotations?.[ROTATE_ANNOTATION];
    const answered = request !== undefined ? { lastRotateRequest: request } : {};
    await this.record(client, target, state, jwt, issued.jwt, secretName, answered);
    const event = MINT_EVENTS[decision.reason];
    if (event) this.deps.events.record(client, event.type, event.reason, `${event.note} (${fingerprint(issued.jwt)}, key ${issued.kid}) in Secret ${secretName}`, 'Issue');
    return { requeueAfterMs: Math.max(0, refreshAtOf(jwt) - now) };
  }

  /** Writes the status and conditions for the JWT the Secret holds. */
  private async record(client: FliptClient, target: TargetConfig, state: TargetState, jwt: JwtView, jwtText: string, secretName: string, extra: Partial<FliptClientStatus> = {}): Promise<void> {
    const now = new Date(this.deps.clock.now());
    const generation = client.metadata.generation;
    const credentialFingerprint = fingerprint(jwtText);
    const refreshAt = refreshAtOf(jwt);
    const issued = jwtIssuedVerdict(jwt, credentialFingerprint, secretName, refreshAt);
    const applied = jwtAppliedVerdict(state, target, clientKey(client.metadata.namespace, client.metadata.name));
    const serviceAccounts = client.spec.serviceAccounts ?? [];
    const binding = serviceAccounts.length > 0 ? bindingVerdict(serviceAccounts, this.deps.serviceAccountConflicts(client.metadata.namespace, client.metadata.name)) : undefined;
    const workload = `${target.workload.kind} ${target.namespace}/${target.workload.name}`;
    const ready = readinessVerdict(issued, applied, state, workload, jwtAccepted(jwt, state, this.deps.signingKeys(), now.getTime()), binding);
    let conditions = withCondition(client.status?.conditions ?? [], 'CredentialIssued', issued, generation, now);
    conditions = withCondition(conditions, 'ConfigApplied', applied, generation, now);
    conditions = withCondition(conditions, 'Ready', ready, generation, now);
    conditions = binding ? withCondition(conditions, 'ServiceAccountsBound', binding, generation, now) : conditions.filter((c) => c.type !== 'ServiceAccountsBound');
    conditions = withCondition(conditions, 'Rotating', jwtRefreshVerdict(refreshAt), generation, now);
    conditions = client.spec.rolloutRestartTargets?.length ? withCondition(conditions, 'WorkloadsRestarted', NOT_FOR_JWT, generation, now) : conditions.filter((c) => c.type !== 'WorkloadsRestarted');
    const switched = credentialKindOf(client) !== 'jwt' && client.status?.credentialFingerprint !== undefined;
    await this.writes.writeStatus(client, {
      conditions,
      secretName,
      tokenId: tokenIdFor(client.metadata.namespace, client.metadata.name),
      credentialFingerprint,
      issuedAt: new Date(jwt.issuedAt).toISOString(),
      credentialKind: 'jwt',
      ...(switched ? { credentialKindSince: now.toISOString() } : {}),
      expiresAt: new Date(jwt.expiresAt).toISOString(),
      refreshAt: new Date(refreshAt).toISOString(),
      ...(jwt.kid ? { keyId: jwt.kid } : {}),
      ...extra,
    });
  }

  /** Creates or replaces the client Secret; false when a Secret of that name turns out not to be ours. */
  private async putSecret(client: FliptClient, existing: V1Secret | undefined, desired: V1Secret): Promise<boolean> {
    const { core } = this.deps.api;
    const namespace = client.metadata.namespace;
    const name = desired.metadata!.name!;
    let current = existing;
    if (!current) {
      try {
        await core.createNamespacedSecret({ namespace, body: desired });
        return true;
      } catch (err) {
        if (!isConflict(err)) return this.writes.secretWriteFailed(client, name, err);
      }
      current = await unlessNotFound(core.readNamespacedSecret({ name, namespace }));
      if (!current) throw new Error(`Secret ${namespace}/${name} was deleted while being created; retrying`);
      if (!ownedBy(current, client)) return false;
    }
    try {
      await core.replaceNamespacedSecret({ name, namespace, body: replacementSecret(current, desired) });
    } catch (err) {
      if (!isConflict(err)) return this.writes.secretWriteFailed(client, name, err);
      throw err;
    }
    return true;
  }

  private async secretConflict(client: FliptClient, secretName: string): Promise<ReconcileResult> {
    const verdict = secretConflictVerdict(client.metadata.namespace, secretName);
    await this.writes.writeStatus(client, { conditions: credentialVerdictConditions(client, verdict, new Date(this.deps.clock.now())) }, verdict);
    return;
  }
}
