// Pure decisions for one FliptClient, each an ordered policy that returns a reason: which token it
// should hold, what its Secret should look like, and what its conditions say.
import type { V1Secret } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import { targetAllowsNamespace, type TargetConfig } from '../config/operator-config.ts';
import { encodeSecretData, secretValue } from '../kube/secret-data.ts';
import { JWT_AUTHORIZATION_SCHEME } from '../vocabulary/client-jwt.ts';
import { fingerprint, generateToken, isWellFormedToken, tokenIdFor, tokensEqual } from '../vocabulary/credentials.ts';
import {
  API_VERSION,
  CLIENT_LABEL,
  clientKey,
  KIND,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  metadataProblems,
  nameIsDnsLabel,
  targetNameOf,
  type Condition,
  type ConditionStatus,
  type ConditionType,
  type FliptClient,
  type FliptClientStatus,
} from '../vocabulary/fliptclient.ts';
import { accepts, requiresAuthentication, type TargetState } from '../vocabulary/registration.ts';
import { nextTokenIdFor, overlapEndsAt, requestedRotation, ROTATE_ANNOTATION, rotationTrigger, scheduledRotationAt } from '../vocabulary/rotation.ts';

export interface Verdict {
  status: ConditionStatus;
  reason: string;
  message: string;
}

/** Why a FliptClient cannot be served at all, before anything is written for it: its spec, then its target. */
export function refusal(client: FliptClient, target: TargetConfig | undefined, knownTargets: readonly string[]): Verdict | undefined {
  const name = targetNameOf(client);
  if (!nameIsDnsLabel(client)) {
    return {
      status: 'False',
      reason: 'InvalidName',
      message: `metadata.name must be a DNS label (at most 63 lower-case letters, digits or '-'), as it becomes part of the Flipt token id; nothing of this FliptClient reaches Flipt's config. Create it again under such a name`,
    };
  }
  const problems = metadataProblems(client.spec.metadata);
  if (problems.length > 0) {
    return {
      status: 'False',
      reason: 'InvalidMetadata',
      message: `spec.metadata is refused and nothing of it reaches Flipt's config: ${problems.join('; ')}. Fix spec.metadata`,
    };
  }
  if (!target) {
    return {
      status: 'False',
      reason: 'UnknownTarget',
      message: `Target "${name}" is not in the operator's configuration (known: ${knownTargets.join(', ') || 'none'}); set spec.target to one of them`,
    };
  }
  if (!targetAllowsNamespace(target, client.metadata.namespace)) {
    return {
      status: 'False',
      reason: 'NamespaceNotAllowed',
      message: `Target "${name}" does not accept FliptClients from namespace ${client.metadata.namespace}; ask the platform team to add it to targets[].allowedNamespaces`,
    };
  }
  return undefined;
}

export type TokenDecision =
  | { action: 'keep'; token: string }
  | { action: 'adopt'; token: string }
  | { action: 'switch'; token: string }
  | { action: 'restore'; token: string }
  | { action: 'issue'; token: string; reason: 'FirstIssue' | 'SecretLost' };

/** What the target's credentials Secret holds for the client: under `<id>`, and under `<id>_next` during a rotation. */
export interface RegisteredTokens {
  id?: string | undefined;
  next?: string | undefined;
}

/** Whether a Secret's token is the credential the client's status names. */
export function isCredentialOfRecord(token: string | undefined, client: FliptClient): boolean {
  return token !== undefined && fingerprint(token) === client.status?.credentialFingerprint;
}

/**
 * The status names a credential this Secret (or its absence) does not hold. A cached Secret may be one
 * the cache has not caught up with (its watch can lag behind the status's): read it from the API server
 * before taking it for lost, edited or stale.
 */
export function secretBehindStatus(secret: V1Secret | undefined, client: FliptClient): boolean {
  return client.status?.credentialFingerprint !== undefined && !isCredentialOfRecord(secretValue(secret, 'token'), client);
}

/**
 * Which token the client holds. The status fingerprint names the token of record: the client Secret
 * keeps it while it matches; a Secret written just before a crash (no fingerprint yet) is adopted; a
 * Secret still holding the token a rotation replaced switches to the new one; a Secret lost or edited
 * is restored from the target's credentials when they still hold the token of record; only otherwise
 * is a new token issued.
 */
export function decideToken(statusFingerprint: string | undefined, secretToken: string | undefined, registered: RegisteredTokens): TokenDecision {
  if (isWellFormedToken(secretToken)) {
    if (statusFingerprint === undefined) return { action: 'adopt', token: secretToken };
    if (fingerprint(secretToken) === statusFingerprint) return { action: 'keep', token: secretToken };
  }
  if (statusFingerprint !== undefined) {
    if (isWellFormedToken(registered.next) && fingerprint(registered.next) === statusFingerprint) {
      return { action: secretToken !== undefined && registered.id !== undefined && tokensEqual(secretToken, registered.id) ? 'switch' : 'restore', token: registered.next };
    }
    if (isWellFormedToken(registered.id) && fingerprint(registered.id) === statusFingerprint) return { action: 'restore', token: registered.id };
  }
  return { action: 'issue', token: generateToken(), reason: statusFingerprint === undefined ? 'FirstIssue' : 'SecretLost' };
}

/**
 * Step 3 of a rotation: the new token the target issued is registered and Flipt runs with it, so it
 * becomes the client's token of record. Undefined while it is not (or there is no new token).
 */
export function decideSwitch(statusFingerprint: string | undefined, registered: RegisteredTokens, nextId: string, state: TargetState | undefined): string | undefined {
  const next = registered.next;
  if (!isWellFormedToken(next) || statusFingerprint === undefined || fingerprint(next) === statusFingerprint) return undefined;
  if (!state || state.registered.get(nextId) !== fingerprint(next) || !accepts(state, fingerprint(next))) return undefined;
  return next;
}

/**
 * Whether a deleted client's token is revoked, so its finalizer may go: neither its token nor a
 * rotation's new one is in the target's config, and Flipt was told to restart with that config.
 */
export function revoked(state: TargetState, id: string): boolean {
  return !state.registered.has(id) && !state.registered.has(nextTokenIdFor(id)) && state.configHash === state.workloadHash;
}

/**
 * The client Secret as it should be: our keys and labels, the user's extra labels and annotations.
 * A JWT (given its expiry) is presented as `JWT <jwt>` and says when it expires; a static token as `Bearer <token>`.
 */
export function desiredClientSecret(client: FliptClient, secretName: string, token: string, target: TargetConfig, jwtExpiresAt?: number): V1Secret {
  const { name, namespace, uid } = client.metadata;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: secretName,
      namespace,
      labels: { ...client.spec.secret?.labels, [MANAGED_BY_LABEL]: MANAGED_BY, [CLIENT_LABEL]: name },
      ...(client.spec.secret?.annotations ? { annotations: { ...client.spec.secret.annotations } } : {}),
      ownerReferences: [{ apiVersion: API_VERSION, kind: KIND, name, uid: uid!, controller: true, blockOwnerDeletion: true }],
    },
    type: 'Opaque',
    data: encodeSecretData({
      token,
      ...(jwtExpiresAt === undefined ? { authorization: `Bearer ${token}` } : { authorization: `${JWT_AUTHORIZATION_SCHEME} ${token}`, expiresAt: new Date(jwtExpiresAt).toISOString() }),
      ...(target.url ? { url: target.url } : {}),
    }),
  };
}

/** Whether an existing Secret differs from the desired one in anything the operator owns. */
export function secretNeedsUpdate(existing: V1Secret, desired: V1Secret): boolean {
  const sameData = (a: Record<string, string> = {}, b: Record<string, string> = {}) =>
    Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => k in a && tokensEqual(a[k]!, v));
  const includes = (have: Record<string, string> | undefined, want: Record<string, string> | undefined) =>
    Object.entries(want ?? {}).every(([k, v]) => have?.[k] === v);
  const owner = existing.metadata?.ownerReferences?.find((r) => r.controller);
  return (
    !sameData(existing.data, desired.data) ||
    !includes(existing.metadata?.labels, desired.metadata?.labels) ||
    !includes(existing.metadata?.annotations, desired.metadata?.annotations) ||
    owner?.uid !== desired.metadata?.ownerReferences?.[0]?.uid
  );
}

/** What replaces an existing client Secret: the desired one, keeping metadata (and labels) others added. */
export function replacementSecret(existing: V1Secret, desired: V1Secret): V1Secret {
  return { ...desired, metadata: { ...existing.metadata, ...desired.metadata, labels: { ...existing.metadata?.labels, ...desired.metadata?.labels } } };
}

/** ConfigApplied: is the client's current credential in the target's config and credentials? */
export function registrationVerdict(owner: string, id: string, credentialFingerprint: string, state: TargetState, targetName: string): Verdict {
  if (state.problem) return { status: 'False', reason: state.problem.reason, message: state.problem.message };
  const refused = state.refused.get(owner);
  if (refused) return { status: 'False', reason: refused.reason, message: refused.message };
  if (state.conflicts.has(id)) {
    return {
      status: 'False',
      reason: 'TokenIdConflict',
      message: `Flipt's config for target "${targetName}" already has a hand-written token with id ${id}; remove or rename it there`,
    };
  }
  const registered = state.registered.get(id);
  // Mid-rotation the token of record is the new one, registered as <id>_next until the old one goes.
  if (registered === credentialFingerprint || state.registered.get(nextTokenIdFor(id)) === credentialFingerprint) {
    const held = `Registered with target "${targetName}" as token ${id}`;
    const authentication = authenticationVerdict(state, held, 'token');
    if (authentication?.status === 'False') return authentication;
    // Before the warnings on authentication: Flipt would not start on the config that holds the token (secretFile), or not accept it (env).
    const delivery = state.credentialsNotDelivered;
    if (delivery) return { status: 'True', reason: delivery.reason, message: `${held}, but ${delivery.message}` };
    const metadataWaits = state.metadataWithoutRoom?.get(owner);
    if (metadataWaits) return { status: 'True', reason: 'MetadataNotApplied', message: `${held}, but ${metadataWaits}` };
    return authentication ?? { status: 'True', reason: 'Registered', message: held };
  }
  if (state.writeFailure) {
    return {
      status: 'False',
      reason: 'TargetWriteFailed',
      message: `Writing target "${targetName}" failed (${state.writeFailure}); the operator retries with backoff`,
    };
  }
  // The same message from issue until registered: one that followed the target (a burst held, the
  // interval between restarts) would write the status of every waiting client again at each change.
  const when = ` with Flipt's next restart (${NEXT_RESTART})`;
  return registered
    ? { status: 'False', reason: 'UpdatePending', message: `Target "${targetName}" still holds an older credential for ${id}; the new one is applied${when}` }
    : { status: 'False', reason: 'RegistrationPending', message: `Waiting for target "${targetName}" to register token ${id}${when}` };
}

/**
 * ServiceAccountsBound, for clients that list service accounts: a service account claimed by two
 * FliptClients is served to neither, so both say which other client claims it.
 */
export function bindingVerdict(serviceAccounts: readonly string[], conflicts: Readonly<Record<string, readonly string[]>>): Verdict {
  const contested = Object.entries(conflicts).filter(([, others]) => others.length > 0);
  if (contested.length === 0) {
    return { status: 'True', reason: 'Bound', message: `Service accounts ${serviceAccounts.join(', ')} may exchange their tokens for this credential` };
  }
  const detail = contested.map(([sa, others]) => `${sa} (also claimed by ${others.join(', ')})`).join('; ');
  return {
    status: 'False',
    reason: 'ServiceAccountConflict',
    message: `Service accounts claimed by more than one FliptClient are served to none: ${detail}; remove them from all but one FliptClient's spec.serviceAccounts`,
  };
}

/**
 * Ready: summary of the others, then whether every running Flipt pod accepts the credential (so a
 * restart for other clients, or a rotation's, leaves a Ready client Ready).
 */
export function readinessVerdict(issued: Verdict, applied: Verdict, state: TargetState | undefined, workload: string, accepted: boolean, binding?: Verdict): Verdict {
  if (issued.status !== 'True') return issued;
  if (applied.status !== 'True') return { status: 'False', reason: applied.reason, message: applied.message };
  if (binding && binding.status !== 'True') return binding;
  // After a variable of Flipt's pod template that made it refuse credentials, only pods started without it accept them.
  if (state && accepted && !state.envBlocks) return { status: 'True', reason: 'Ready', message: `Flipt (${workload}) runs with this credential` };
  // Not how far the rollout is: that changes with each pod, and every waiting client's status would be written again each time.
  return { status: 'False', reason: 'RolloutInProgress', message: `Waiting for every Flipt pod (${workload}) to run the config that holds this credential; kubectl rollout status shows how far` };
}

/**
 * Rotating: True while a rotation is under way (requested, the new token registering, the old one
 * retiring), False otherwise with when the next one is due. Ready stays True throughout.
 */
export function rotationVerdict(client: FliptClient, registered: RegisteredTokens, state: TargetState | undefined, targetName: string, now: number): Verdict {
  const current = client.status?.credentialFingerprint;
  const id = tokenIdFor(client.metadata.namespace, client.metadata.name);
  const nextId = nextTokenIdFor(id);
  const next = isWellFormedToken(registered.next) ? registered.next : undefined;
  if (next && fingerprint(next) !== current) {
    if (state?.conflicts.has(nextId)) {
      return {
        status: 'False',
        reason: 'RotationBlocked',
        message: `Flipt's config for target "${targetName}" has a hand-written token with id ${nextId}, which a rotation needs; remove or rename it there`,
      };
    }
    const step = state && state.registered.get(nextId) === fingerprint(next) ? 'is registered with' : 'is being registered with';
    return {
      status: 'True',
      reason: 'NewTokenRegistering',
      message: `A new token (${fingerprint(next)}) ${step} target "${targetName}"; the Secret switches to it once every Flipt pod accepts it`,
    };
  }
  if (next && fingerprint(next) === current && isWellFormedToken(registered.id) && !tokensEqual(registered.id, next)) {
    const until = overlapEndsAt(client);
    const when = until !== undefined && until > now ? `until ${new Date(until).toISOString()} (spec.rotation.overlap), then` : 'no longer: it';
    return { status: 'True', reason: 'OldTokenRetiring', message: `The Secret holds the new token ${current}; the previous one stays valid ${when} leaves Flipt with its next restart` };
  }
  const trigger = rotationTrigger(client, now);
  if (trigger) {
    const why = trigger === 'request' ? `requested (${ROTATE_ANNOTATION}=${JSON.stringify(requestedRotation(client)!.slice(0, 63))})` : 'due on schedule';
    if (state?.problem) return { status: 'False', reason: 'RotationBlocked', message: `A rotation is ${why}, but target "${targetName}" cannot take it: ${state.problem.message}` };
    const withoutRoom = state?.rotationsWithoutRoom?.get(clientKey(client.metadata.namespace, client.metadata.name));
    if (withoutRoom) return { status: 'False', reason: 'RotationBlocked', message: `A rotation is ${why}, but ${withoutRoom}` };
    return { status: 'True', reason: 'RotationRequested', message: `A rotation is ${why}; target "${targetName}" issues a new token` };
  }
  const due = scheduledRotationAt(client);
  return due !== undefined
    ? { status: 'False', reason: 'Scheduled', message: `The next rotation is due at ${new Date(due).toISOString()} (spec.rotation.every)` }
    : { status: 'False', reason: 'OnRequest', message: `Rotated only on request: kubectl annotate fliptclient ${client.metadata.name} ${ROTATE_ANNOTATION}=<new value>` };
}

/**
 * The pod-template annotation that restarts a workload of spec.rolloutRestartTargets: one key per
 * FliptClient (a workload may use several), its value the credential's fingerprint, so it changes
 * exactly when the credential does and a restart can never loop.
 */
export function restartAnnotationFor(fliptClientName: string): string {
  return `${fliptClientName}.fliptclient.flipt.io/credential`;
}

export interface WorkloadRestart {
  kind: string;
  name: string;
  outcome: 'restarted' | 'missing' | 'forbidden';
}

/** WorkloadsRestarted: whether every workload of spec.rolloutRestartTargets was restarted for the credential, and what to do if not. */
export function workloadsVerdict(namespace: string, results: readonly WorkloadRestart[], credentialFingerprint: string): Verdict {
  const forbidden = results.filter((r) => r.outcome === 'forbidden');
  if (forbidden.length > 0) {
    const kinds = [...new Set(forbidden.map((r) => `${r.kind.toLowerCase()}s`))].join(', ');
    return {
      status: 'False',
      reason: 'RestartForbidden',
      message:
        `The operator may not patch ${forbidden.map((r) => `${r.kind} ${r.name}`).join(', ')} in namespace ${namespace}; the credential itself is in place. ` +
        `Grant its ServiceAccount "patch" on apps ${kinds}: the kustomize component deploy/components/rollout-restart, or the Helm value rolloutRestart.enabled=true`,
    };
  }
  const missing = results.filter((r) => r.outcome === 'missing');
  if (missing.length > 0) {
    return {
      status: 'False',
      reason: 'RestartTargetMissing',
      message: `${missing.map((r) => `${r.kind} ${r.name}`).join(', ')} not found in namespace ${namespace}; create it or remove it from spec.rolloutRestartTargets`,
    };
  }
  return { status: 'True', reason: 'Restarted', message: `${results.map((r) => `${r.kind} ${r.name}`).join(', ')} restarted for credential ${credentialFingerprint}` };
}

/** Sets a condition, keeping lastTransitionTime when the status did not change. */
export function withCondition(conditions: readonly Condition[], type: ConditionType, verdict: Verdict, generation: number | undefined, now: Date): Condition[] {
  const previous = conditions.find((c) => c.type === type);
  const next: Condition = {
    type,
    status: verdict.status,
    reason: verdict.reason,
    message: verdict.message,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    lastTransitionTime: previous && previous.status === verdict.status ? previous.lastTransitionTime : now.toISOString(),
  };
  const order: ConditionType[] = ['Ready', 'CredentialIssued', 'ConfigApplied', 'ServiceAccountsBound', 'Rotating', 'WorkloadsRestarted'];
  return [...conditions.filter((c) => c.type !== type), next].sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type));
}

/**
 * What Flipt's authentication settings, in its config and its pod template, say of a credential the
 * target holds (`held` says how), in this order: a variable that makes Flipt refuse it, no credential
 * required at all, a variable the operator cannot read. Undefined: nothing to say. One policy for
 * static tokens and JWTs.
 */
export function authenticationVerdict(state: TargetState, held: string, credential: 'token' | 'credential'): Verdict | undefined {
  if (state.envOverride?.blocking) return { status: 'False', reason: state.envOverride.reason, message: `${held}, but ${state.envOverride.message}` };
  if (!requiresAuthentication(state)) {
    const byEnv = state.authenticationRequiredByEnv;
    let why: string;
    if (byEnv === undefined) {
      why = `Flipt's config has authentication.required false, so it accepts requests without any ${credential}; set authentication.required: true`;
    } else if (byEnv.reference) {
      why = `Flipt's config takes authentication.required from \${env:${byEnv.variable}}, which container ${byEnv.container} of Flipt's pod template leaves unset, empty or false, so it accepts requests without any ${credential}; set ${byEnv.variable} to true there, or authentication.required: true`;
    } else {
      why = `Flipt's pod template sets ${byEnv.variable} to false in container ${byEnv.container}, which Flipt reads over authentication.required, so it accepts requests without any ${credential}; remove the variable or set it to true`;
    }
    return { status: 'True', reason: 'AuthenticationNotRequired', message: `${held}, but ${why}` };
  }
  if (state.envOverride) return { status: 'True', reason: state.envOverride.reason, message: `${held}, but ${state.envOverride.message}` };
  return undefined;
}

/** Ready reasons that need someone to act, recorded as Warning Events. */
const WARNING_REASONS = new Set(['ServiceAccountConflict', 'TokenIdConflict', 'InvalidFliptConfig', 'ConfigMapMissing', 'WorkloadMissing', 'TargetFull', 'NamespaceLimitReached', 'TargetWriteFailed', 'SecretWriteFailed', 'FinalizerWriteFailed', 'FliptEnvOverride']);

/** Reasons of other conditions that need someone to act, recorded as Warning Events when they appear. */
const WARNING_CONDITION_REASONS = new Set(['AuthenticationNotRequired', 'FliptEnvOverride', 'CredentialsNotMounted', 'RotationBlocked', 'MetadataNotApplied']);

export interface StatusEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/**
 * The Events a status write announces: outcomes (Ready, and what needs someone to act), never
 * progress. A Ready transition is announced once: `lastAnnounced` is the transition this process
 * announced last for the client, because the cache may not show that write yet and the next
 * reconcile would see the same transition again. Returns the transition to remember, if any.
 */
export function statusEvents(
  uid: string,
  before: readonly Condition[],
  after: readonly Condition[],
  refused: boolean,
  lastAnnounced: string | undefined,
): { events: StatusEvent[]; announced?: string } {
  const events: StatusEvent[] = [];
  let announced: string | undefined;
  const was = before.find((c) => c.type === 'Ready');
  const is = after.find((c) => c.type === 'Ready');
  const transition = is && `${uid}:${is.status}/${is.reason}`;
  if (is && (was?.status !== is.status || was?.reason !== is.reason) && lastAnnounced !== transition) {
    announced = transition;
    const warning = refused || WARNING_REASONS.has(is.reason);
    if (warning || is.status === 'True') events.push({ type: warning ? 'Warning' : 'Normal', reason: is.reason, message: is.message });
  }
  for (const type of ['ConfigApplied', 'Rotating'] as const) {
    const now = after.find((c) => c.type === type);
    const then = before.find((c) => c.type === type);
    // Not twice in one write: Ready may have just announced the same reason.
    if (now && WARNING_CONDITION_REASONS.has(now.reason) && then?.reason !== now.reason && !events.some((e) => e.reason === now.reason)) {
      events.push({ type: 'Warning', reason: now.reason === 'RotationBlocked' ? 'RotationFailed' : now.reason, message: now.message });
    }
  }
  return { events, ...(announced ? { announced } : {}) };
}

/**
 * Whether a status to write says what the current one says. The API server returns an object's keys
 * sorted, whatever order they were written in: compared by value, not as text, or every reconcile of
 * an unchanged client would send a patch (one per client at each operator start).
 */
export function sameStatus(next: FliptClientStatus, current: FliptClientStatus): boolean {
  const defined = (status: FliptClientStatus) => Object.fromEntries(Object.entries(status).filter(([, v]) => v !== undefined));
  return isDeepStrictEqual(defined(next), defined(current));
}

/** When Flipt's next restart comes, as a waiting client's message says it. */
export const NEXT_RESTART = 'one for a burst of new FliptClients once it is issued; restarts are restart.minInterval apart';

/** How long a rollout may run before the clients waiting on it are told so one by one. */
export const ROLLOUT_QUIET_MS = 10_000;

/**
 * Until when a client waiting for its credential to be registered keeps its conditions as they are
 * while Flipt rolls out with it (undefined: report now). A rollout that finishes within
 * ROLLOUT_QUIET_MS takes each waiting client from issued to Ready in one status write instead of
 * two, which is thousands of writes in a burst; a longer one is reported as RolloutInProgress.
 */
export function rolloutQuietUntil(current: readonly Condition[], next: readonly Condition[], state: TargetState | undefined, now: number): number | undefined {
  const was = current.find((c) => c.type === 'Ready');
  const is = next.find((c) => c.type === 'Ready');
  if (was?.status !== 'False' || !['RegistrationPending', 'UpdatePending'].includes(was.reason) || is?.reason !== 'RolloutInProgress') return undefined;
  if (was.observedGeneration !== is.observedGeneration) return undefined;
  if (state?.rolloutSince === undefined) return undefined;
  const until = state.rolloutSince + ROLLOUT_QUIET_MS;
  return until > now ? until : undefined;
}

/** CredentialIssued and Ready carry the verdict (a refusal, a Secret problem); the other conditions still say what they said. */
export function credentialVerdictConditions(client: FliptClient, verdict: Verdict, now: Date): Condition[] {
  const conditions = withCondition(client.status?.conditions ?? [], 'CredentialIssued', verdict, client.metadata.generation, now);
  return withCondition(conditions, 'Ready', verdict, client.metadata.generation, now);
}

/** The API server refused to write the client Secret (an admission policy, a quota, RBAC): the reconcile is retried with backoff. */
export function secretWriteFailedVerdict(namespace: string, secretName: string, reason: string): Verdict {
  return { status: 'False', reason: 'SecretWriteFailed', message: `Writing Secret ${namespace}/${secretName} failed (${reason}); the operator retries with backoff` };
}

/**
 * The API server refused to add or remove the operator's finalizer (an admission policy or webhook on
 * FliptClient updates): a token is registered only once the finalizer holds, and a deleted client
 * goes only once it is off. The reconcile is retried with backoff.
 */
export function finalizerWriteFailedVerdict(namespace: string, name: string, change: 'add' | 'remove', reason: string): Verdict {
  const consequence = change === 'add' ? 'its token is registered only once the finalizer holds' : 'the FliptClient is deleted once the finalizer is off';
  return {
    status: 'False',
    reason: 'FinalizerWriteFailed',
    message: `${change === 'add' ? 'Adding' : 'Removing'} the finalizer of FliptClient ${namespace}/${name} failed (${reason}); ${consequence}. The operator retries with backoff`,
  };
}

/**
 * Whether a write the API server answered with this HTTP status is reported on the client. A refusal
 * is (an admission policy or webhook, a quota, RBAC); throttling and a lost connection are not (the
 * retry is the answer to those); and a reason the client already shows is not written again on every
 * retry, so that an error whose text changes each time cannot turn the retries into a write loop.
 */
export function reportsRefusedWrite(client: FliptClient, verdict: Verdict, status: number | undefined): boolean {
  if (status === undefined || status === 429) return false;
  return client.status?.conditions?.find((c) => c.type === 'Ready')?.reason !== verdict.reason;
}

/**
 * The Warning Event's note for a status the API server refused (an admission policy or webhook on
 * fliptclients/status, a status the CRD's schema rejects): the status cannot say so itself.
 * Undefined where the retry is the answer (a lost connection, throttling, a conflict) or the
 * FliptClient is gone.
 */
export function statusWriteRefusedNote(namespace: string, name: string, status: number | undefined, reason: string): string | undefined {
  if (status === undefined || status === 404 || status === 409 || status === 429) return undefined;
  return `Writing the status of FliptClient ${namespace}/${name} failed (${reason}): its conditions are older than the operator's view. The operator retries with backoff`;
}

/** A Secret of the client's Secret's name that another owner controls: never overwritten. */
export function secretConflictVerdict(namespace: string, secretName: string): Verdict {
  return {
    status: 'False',
    reason: 'SecretConflict',
    message: `Secret ${namespace}/${secretName} exists and is not owned by this FliptClient; the operator never overwrites it. Delete it or set spec.secret.name`,
  };
}
