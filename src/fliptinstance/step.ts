// The one decision of a target's reconcile: from what the target holds now, the FliptClients and the
// clock, what to write, whether to restart Flipt, when to look again, and what to tell the clients.
// Pure: the reconciler fetches, calls decideTargetStep, and applies what it returns, in this order:
// credentials, then the config that refers to them, then the restart; credentials no config refers to
// any more are dropped only once Flipt has rolled out without them. The gate, in order:
//   1. nothing to do without a ConfigMap, a workload, or anything to manage;
//   2. while a burst of clients is still being issued and issuing makes progress, hold (bounded), so
//      the burst costs one restart however fast the machine issues (never for a JWT target: its new
//      clients need no config change);
//   3. new tokens for rotations that fall due (where the target has room for a second token), and
//      static tokens for a switch back from JWTs, are issued (persisted) first, in a step of their own;
//   4. only the clients that fit the API server's object limits (and their namespace's limit) are
//      registered, every one that fits is, and a token registered keeps its place (capacity.ts); the
//      operator's jwt method counts toward them, and a client holding a JWT has no entry, so it is
//      never refused;
//   5. restarts are at least restart.minInterval apart, measured from the workload's own annotation;
//   6. restart when the restart key differs, or when Flipt rolled on a config that is not ours.
// The step also says when to look again: the next scheduled rotation, the end of an overlap, or the
// end of a switch between static tokens and JWTs.
import type { TargetConfig } from '../config/operator-config.ts';
import { credentialKey, fingerprint, tokensEqual } from '../vocabulary/credentials.ts';
import { servedBy, type FliptClient } from '../vocabulary/fliptclient.ts';
import { rolledOut, type TargetProblem, type TargetState } from '../vocabulary/registration.ts';
import { admitWithin, byPriority, dataBytes, entriesOf, fillRatio, fits, type Admission, type TargetSizes } from './capacity.ts';
import { credentialsNotDelivered } from './credentials-delivery.ts';
import { FliptConfigError, idsReferringToHeld, metadataOfTokens } from './flipt-config.ts';
import { readFliptEnv, type PodEnv } from './flipt-env.ts';
import { MANAGED_JWT_METHOD_ANNOTATION, planJwtMethod, type JwtMethodPlan } from './jwt-method.ts';
import { nextKindSwitchEvent, switchBackTokensToIssue } from './kind-switch.ts';
import { clientsInFlight, configHash, desiredCredentials, MANAGED_TOKENS_ANNOTATION, nextRotationEvent, planTarget, rotationsToIssue, type ClientCredential, type TargetPlan } from './plan.ts';
import type { WorkloadView } from './workload.ts';

export interface ObservedTarget {
  /** Flipt's ConfigMap; undefined when it does not exist. */
  configMap?: {
    text: string | undefined;
    /** The ids the operator recorded as its own, as the annotation says (undefined: no record, or one that is not a list). */
    managedRecord: string | undefined;
    managedIds: readonly string[];
    /** The jwt method settings the operator recorded writing (undefined: it wrote none). */
    jwtRecord: string | undefined;
    /** Bytes of what the ConfigMap holds besides the config key and the records (its other data and annotations). */
    otherDataBytes: number;
    otherAnnotationBytes: number;
  };
  /** The credentials Secret's data, decoded; empty when it does not exist. */
  credentials: Readonly<Record<string, string>>;
  workload?: WorkloadView;
  /** The FliptClients that name the target, and the token a client's Secret holds (read only for the clients the step needs). */
  clients: readonly FliptClient[];
  clientSecretToken: (client: FliptClient) => string | undefined;
  /** The burst hold in progress (kept in memory between steps). */
  hold?: BurstHold;
  /** What the last step published, for what a held step cannot know yet. */
  previous?: TargetState;
}

export interface TargetStep {
  /** Generate a new token under each of these keys and add them to the credentials Secret; nothing else. */
  issue?: string[];
  /** Write the credentials Secret with exactly this data (creating it if needed). */
  credentials?: Record<string, string>;
  /** Write the config and the records of managed ids and of the jwt method (undefined: none). */
  config?: { text: string; managedRecord: string; jwtRecord: string | undefined };
  /** Patch the workload's pod template with this restart key. */
  restart?: { configHash: string; tokens: number };
  requeueAfterMs?: number;
  /** The burst hold to carry to the next step (undefined: none). */
  hold?: BurstHold;
  state: TargetState;
}

/** A burst being waited for: since when, and when issuing last made progress (how many were issued then). */
export interface BurstHold {
  since: number;
  progressAt: number;
  issued: number;
}

/** A burst is waited for while some client was issued within this long... */
export function progressWindowMs(target: TargetConfig): number {
  return Math.max(target.restart.minInterval, 5_000);
}

/** ...and never longer than this in all. */
export function maxHoldMs(target: TargetConfig): number {
  return Math.max(30 * target.restart.minInterval, 300_000);
}

const NO_ENV: PodEnv = { containers: [], vars: [], envFrom: [] };

export function decideTargetStep(target: TargetConfig, observed: ObservedTarget, now: number): TargetStep {
  const step = decide(target, observed, now);
  // Like the tokens: once a rollout of the config the target holds has finished, its jwt method is
  // what every pod runs; while one runs, only if the pods had it before and the config still has it.
  const jwtAccepted = step.state.jwtConfigured && (rolledOut(step.state) || (observed.previous?.jwtAccepted ?? false));
  // Flipt reads its environment over its config. `accepted` stays a fact of the rollout (refreshes,
  // rotations and switches go on); whether a client may be Ready follows the variable, and after it
  // is gone, a finished rollout without it.
  const workloadEnv = observed.workload?.env ?? NO_ENV;
  const env = readFliptEnv(target, workloadEnv, step.state);
  const envBlocks = (env.override?.blocking ?? false) || ((observed.previous?.envBlocks ?? false) && !rolledOut(step.state));
  const state: TargetState = {
    ...step.state,
    accepted: acceptedBy(step.state, acceptedBefore(target, observed)),
    jwtAccepted,
    authenticationRequiredByEnv: env.authenticationRequired,
    envOverride: env.override,
    envBlocks: envBlocks || undefined,
    credentialsNotDelivered: credentialsNotDelivered(target, observed.workload?.credentials, workloadEnv, step.state.secretsBasePath),
  };
  return { ...step, state };
}

/** What a step reads of Flipt's pod template: read at every step, and kept as read when its write fails. */
const POD_TEMPLATE_READING = ['authenticationRequiredByEnv', 'envOverride', 'envBlocks', 'credentialsNotDelivered'] as const;
type PodTemplateField = (typeof POD_TEMPLATE_READING)[number];

/**
 * A failed write changes nothing in the target: it stays as the last step published it, but what
 * was read of Flipt's pod template is as this step read it. On this process's first step there is
 * no such state: the step's, but never claiming Flipt was restarted on it (a deleted client's
 * finalizer waits for that).
 */
export function afterFailedWrite(previous: TargetState | undefined, step: TargetState, writeFailure: string): TargetState {
  const reading = Object.fromEntries(POD_TEMPLATE_READING.map((field) => [field, step[field]])) as Pick<TargetState, PodTemplateField>;
  if (previous) return { ...previous, ...reading, writeFailure };
  const { workloadHash: _planned, ...unwritten } = step;
  return { ...unwritten, ...reading, writeFailure };
}

/**
 * The credentials every running pod accepts: once a rollout of the config the target holds has
 * finished, all of it; while one runs, what the pods accepted before and the config still holds.
 */
function acceptedBy(state: Omit<TargetState, 'accepted' | 'jwtAccepted'>, before: ReadonlySet<string>): ReadonlySet<string> {
  const registered = new Set(state.registered.values());
  if (rolledOut(state)) return registered;
  return new Set([...before].filter((fp) => registered.has(fp)));
}

/**
 * What the pods accepted before this step: as the last step published it, or on this operator's first
 * step, all the config registers if Flipt finished rolling out that very config (the restart key on
 * the workload says which); otherwise nothing until a rollout finishes. Without the second, every
 * Ready client of a target whose first step restarts Flipt (a client deleted while the operator was
 * down) would wait for that rollout as if its credential were new. Where the ConfigMap lost its
 * record, what the config registers is its entries that refer to the credentials the operator holds.
 */
function acceptedBefore(target: TargetConfig, { previous, configMap, workload, credentials }: ObservedTarget): ReadonlySet<string> {
  if (previous) return previous.accepted;
  if (!configMap || !workload?.rollout.done) return new Set();
  let ids = configMap.managedIds;
  if (configMap.managedRecord === undefined) {
    try {
      ids = idsReferringToHeld(configMap.text, { credentialReference: target.credentialReference, heldCredentials: credentials });
    } catch (err) {
      if (err instanceof FliptConfigError) return new Set();
      throw err;
    }
  }
  const rolled = currentState(target, configMap.text ?? '', ids, credentials);
  return rolled.configHash === workload.configHash ? new Set(rolled.registered.values()) : new Set();
}

type Decision = Omit<TargetStep, 'state'> & { state: Omit<TargetState, 'accepted' | 'jwtAccepted' | PodTemplateField> };

function decide(target: TargetConfig, observed: ObservedTarget, now: number): Decision {
  const { configMap, workload, credentials } = observed;
  const rollout = workload?.rollout ?? { done: false, detail: 'workload missing' };
  let base: Omit<TargetState, 'accepted' | 'jwtAccepted'> = { registered: new Map(), conflicts: new Set(), refused: new Map(), rollout, authenticationRequired: true, jwtConfigured: false };
  const keepHold = observed.hold !== undefined ? { hold: observed.hold } : {};
  if (!configMap) return { ...keepHold, state: { ...base, problem: missing('ConfigMapMissing', `ConfigMap ${target.namespace}/${target.configMap.name}`, 'configMap') } };
  if (!workload) {
    return { ...keepHold, state: { ...base, problem: missing('WorkloadMissing', `${target.workload.kind} ${target.namespace}/${target.workload.name}`, 'workload') } };
  }

  const source = configMap.text ?? '';
  const invalid = (err: unknown): Decision => {
    if (!(err instanceof FliptConfigError)) throw err;
    const message = `Key ${target.configMap.key} of ConfigMap ${target.namespace}/${target.configMap.name} is ${err.message}; fix it and the operator will continue`;
    return { state: { ...base, problem: { reason: 'InvalidFliptConfig', message } } };
  };
  // The cheap part first: a burst is held while it lasts, and this runs on every step of it.
  const served = observed.clients.filter((client) => servedBy(target, client));
  // The config is parsed only for a target that wants the jwt method: JWT mode, which holds no burst,
  // or a switch back not yet complete (rare and brief, so a burst held then parses it on each step).
  let jwtMethod: JwtMethodPlan;
  try {
    jwtMethod = planJwtMethod(target, served, configMap.text, configMap.jwtRecord, workload.env, now);
  } catch (err) {
    return invalid(err);
  }
  // What the plan found, on every state this step publishes.
  const jwtFindings = {
    ...(jwtMethod.problem ? { jwtProblem: jwtMethod.problem } : {}),
    ...(jwtMethod.kubernetesEnabled !== undefined ? { kubernetesEnabled: jwtMethod.kubernetesEnabled } : {}),
  };
  base = { ...base, ...jwtFindings };
  const issued = served.filter((client) => client.status?.credentialFingerprint).length;
  const jwtMethodUntouched = jwtMethod.ensure === undefined && !jwtMethod.remove;
  if (issued === 0 && configMap.managedIds.length === 0 && Object.keys(credentials).length === 0 && jwtMethodUntouched) {
    // Nothing to manage yet: leave Flipt's config and pods alone until a FliptClient names this target.
    return { state: { ...base, ...currentState(target, source, [], {}), workloadHash: workload.configHash } };
  }
  const restartAllowedAt = (workload.restartedAtMs ?? 0) + target.restart.minInterval;
  /** What the target holds now, unchanged: for a step that writes nothing of the config yet. */
  const unchanged = (): Omit<TargetState, 'accepted' | 'jwtAccepted'> => ({
    ...base,
    ...currentState(target, source, configMap.managedIds, credentials),
    conflicts: observed.previous?.conflicts ?? base.conflicts,
    refused: observed.previous?.refused ?? base.refused,
    authenticationRequired: observed.previous?.authenticationRequired ?? true,
    ...(observed.previous?.secretsBasePath !== undefined ? { secretsBasePath: observed.previous.secretsBasePath } : {}),
    jwtConfigured: jwtMethod.ensure !== undefined && configMap.jwtRecord === jwtMethod.record,
    workloadHash: workload.configHash,
  });

  // A new client of a JWT target never needs Flipt's config (no entry, no restart): no burst to wait for.
  if (target.credentialKind !== 'jwt' && clientsInFlight(served) > 0) {
    // A burst is being issued: wait for it while it makes progress (bounded), so it costs one restart.
    const previous = observed.hold ?? { since: now, progressAt: now, issued };
    const hold = issued > previous.issued ? { ...previous, progressAt: now, issued } : previous;
    const until = Math.min(hold.progressAt + progressWindowMs(target), hold.since + maxHoldMs(target));
    if (until > now) return { hold, requeueAfterMs: until - now, state: unchanged() };
  }

  const tokenOf = observed.clientSecretToken;
  const desired = desiredCredentials(target, served, tokenOf, credentials, now);
  // A JWT target's clients are not rotated (their JWTs are refreshed); a switch back issues static tokens.
  const due = target.credentialKind === 'staticToken' ? rotationsToIssue(target, served, tokenOf, credentials, now) : [];
  // A rotation registers a second token until its overlap ends: it is issued only where the target has
  // room for it beside every token registered now, so it never costs one of them its place. Its entry
  // (a stand-in token) is planned with the rest: admitted, the rotation is issued now and nothing of
  // this plan is written; left out, the plan is that of `desired` alone.
  let planned;
  try {
    planned = planWithinCapacity(target, configMap, credentials, [...desired, ...due], jwtMethod);
  } catch (err) {
    return invalid(err);
  }
  const rotations = due.filter((entry) => !planned.rotationsWithoutRoom.has(entry.owner.key)).map((entry) => entry.credentialKey);
  const issue = [...rotations, ...switchBackTokensToIssue(target, served, credentials)];
  if (issue.length > 0) return { issue, requeueAfterMs: 0, state: unchanged() };
  const events = [nextRotationEvent(target, served, credentials, now), nextKindSwitchEvent(target, served, now)].filter((at) => at !== undefined);
  const rotationAt = events.length > 0 ? Math.min(...events) : undefined;
  const lookAgain = (ms: number | undefined) => {
    const candidates = [ms, rotationAt !== undefined ? rotationAt - now : undefined].filter((c): c is number => c !== undefined);
    return candidates.length > 0 ? { requeueAfterMs: Math.min(...candidates) } : {};
  };

  const { plan, refused, sizes, admitted } = planned;
  // What of registered clients waits for room: a rotation not issued (or issued before another client
  // took the room), new metadata.
  const waitingForRoom = {
    ...(planned.rotationsWithoutRoom.size > 0 ? { rotationsWithoutRoom: planned.rotationsWithoutRoom } : {}),
    ...(planned.metadataWithoutRoom.size > 0 ? { metadataWithoutRoom: planned.metadataWithoutRoom } : {}),
  };

  const conflicts = new Set(plan.render.conflictingIds);
  const managedRecord = JSON.stringify(plan.render.managedIds);
  const configDiffers = plan.render.changed || configMap.managedRecord !== managedRecord || configMap.jwtRecord !== jwtMethod.record;
  const credentialsMissing = Object.entries(plan.credentials).some(([k, v]) => !tokensEqual(credentials[k] ?? '', v));
  // Someone else replaced the config: Flipt's chart recreates the ConfigMap on every upgrade (our
  // record goes), kubectl apply or a GitOps sync rewrites its text (our record, never in what they
  // apply, stays). If Flipt also rolled meanwhile, its pods read that config, not ours.
  const replacedByOthers = configMap.managedRecord === undefined || plan.render.changed;
  const rolledOnForeignConfig = replacedByOthers && plan.render.managedIds.length > 0 && workload.changedSinceOurRestart;
  const restartNeeded = workload.configHash !== plan.configHash || rolledOnForeignConfig;

  const step: Decision = { ...lookAgain(undefined), state: base };
  if (configDiffers || credentialsMissing || restartNeeded) {
    if (restartNeeded && restartAllowedAt > now) {
      const state = { ...unchanged(), conflicts, refused, ...waitingForRoom, fill: fillRatio(sizes), authenticationRequired: plan.render.authenticationRequired, secretsBasePath: plan.render.secretsBasePath };
      return { ...lookAgain(restartAllowedAt - now), state };
    }
    if (credentialsMissing) step.credentials = plan.credentials;
    if (configDiffers) step.config = { text: plan.render.text, managedRecord, jwtRecord: jwtMethod.record };
    if (restartNeeded) step.restart = { configHash: plan.configHash, tokens: admitted };
  } else if (plan.staleCredentialKeys.length > 0 && rollout.done) {
    const stale = new Set(plan.staleCredentialKeys);
    step.credentials = Object.fromEntries(Object.entries(credentials).filter(([k]) => !stale.has(k)));
  }

  step.state = {
    ...jwtFindings,
    jwtConfigured: jwtMethod.ensure !== undefined,
    registered: registration(target, plan.render.managedIds, plan.credentials).registered,
    conflicts,
    refused,
    ...waitingForRoom,
    fill: fillRatio(sizes),
    configHash: plan.configHash,
    workloadHash: plan.configHash,
    rollout: restartNeeded ? { done: false, detail: 'restart triggered' } : rollout,
    authenticationRequired: plan.render.authenticationRequired,
    secretsBasePath: plan.render.secretsBasePath,
  };
  const rolloutSince = restartNeeded ? now : rollout.done ? undefined : workload.restartedAtMs;
  if (rolloutSince !== undefined) step.state.rolloutSince = rolloutSince;
  return step;
}

/**
 * The plan for every desired credential that fits: in the common case all of them (one render);
 * when they do not fit, those admitted in priority order within the room the rest of the target
 * leaves, the others refused, and the result measured again. The jwt method is part of that rest:
 * its lines count toward the ConfigMap, and a client holding a JWT has no entry to refuse.
 */
function planWithinCapacity(
  target: TargetConfig,
  configMap: NonNullable<ObservedTarget['configMap']>,
  credentials: Readonly<Record<string, string>>,
  desired: readonly ClientCredential[],
  jwtMethod: JwtMethodPlan,
): { plan: TargetPlan; sizes: TargetSizes; admitted: number } & Admission {
  const registeredIds = new Set(configMap.managedIds);
  const first = byPriority(target, desired, registeredIds);
  const recorded = configMap.managedRecord === undefined ? undefined : configMap.managedIds;
  const within = entriesOf(first.candidates);
  const plan = planTarget(target, configMap.text, recorded, credentials, within, jwtMethod);
  const sizes = sizesOf(target, plan, configMap, jwtMethod);
  const registeredRefused = desired.some((e) => registeredIds.has(e.id) && first.refused.has(e.owner.key));
  if (fits(sizes) && !registeredRefused) return { plan, ...first, sizes, admitted: new Set(first.candidates.map((c) => c.owner)).size };
  // Over, or a registered client refused: a registered client whose metadata grew is charged at what
  // it holds now, its new metadata admitted after it; the target holds everything else besides them.
  const { candidates, ...admission } = byPriority(target, desired, registeredIds, metadataOfTokens(configMap.text, registeredIds));
  const empty = planTarget(target, configMap.text, recorded, {}, [], jwtMethod);
  const candidateKeys = new Set(entriesOf(candidates).map((e) => e.credentialKey));
  const overhead = { ...sizesOf(target, empty, configMap, jwtMethod), secret: dataBytes(credentials, candidateKeys) };
  const admitted = admitWithin(target, candidates, overhead, admission);
  const fitted = planTarget(target, configMap.text, recorded, credentials, admitted, jwtMethod);
  return { plan: fitted, ...admission, sizes: sizesOf(target, fitted, configMap, jwtMethod), admitted: new Set(admitted.map((e) => e.owner.key)).size };
}

/** The bytes the target's objects would hold with this plan written (the records of managed ids and of the jwt method included). */
function sizesOf(target: TargetConfig, plan: TargetPlan, configMap: NonNullable<ObservedTarget['configMap']>, jwtMethod: JwtMethodPlan): TargetSizes {
  const jwtRecord = jwtMethod.record !== undefined ? MANAGED_JWT_METHOD_ANNOTATION.length + Buffer.byteLength(jwtMethod.record) : 0;
  return {
    configMap: configMap.otherDataBytes + Buffer.byteLength(target.configMap.key) + Buffer.byteLength(plan.render.text),
    annotations: configMap.otherAnnotationBytes + MANAGED_TOKENS_ANNOTATION.length + Buffer.byteLength(JSON.stringify(plan.render.managedIds)) + jwtRecord,
    secret: dataBytes(plan.credentials),
  };
}

/** The registered set and restart key as the target stands, before pending changes are applied. */
function currentState(target: TargetConfig, source: string, managed: readonly string[], credentials: Readonly<Record<string, string>>) {
  const { registered, referenced } = registration(target, managed, credentials);
  return { registered, configHash: configHash(source, referenced) };
}

/** For the ids a config registers: id -> fingerprint of its credential, and the credentials the config refers to. */
function registration(target: TargetConfig, ids: readonly string[], credentials: Readonly<Record<string, string>>) {
  const registered = new Map<string, string>();
  const referenced: Record<string, string> = {};
  for (const id of ids) {
    const key = credentialKey(target, id);
    const token = credentials[key];
    if (!token) continue;
    registered.set(id, fingerprint(token));
    referenced[key] = token;
  }
  return { registered, referenced };
}

function missing(reason: TargetProblem['reason'], what: string, field: string): TargetProblem {
  return { reason, message: `${what} not found: create it, or correct targets[].${field} in the operator config` };
}
