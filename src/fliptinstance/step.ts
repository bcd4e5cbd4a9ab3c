// The one decision of a target's reconcile: from what the target holds now, the FliptClients and the
// clock, what to write, whether to restart Flipt, when to look again, and what to tell the clients.
// Pure: the reconciler fetches, calls decideTargetStep, and applies what it returns, in this order:
// credentials, then the config that refers to them, then the restart; credentials no config refers to
// any more are dropped only once Flipt has rolled out without them. The gate, in order:
//   1. nothing to do without a ConfigMap, a workload, or anything to manage;
//   2. new tokens for rotations that fall due are issued (persisted) first, in a step of their own;
//   3. while a burst of clients is still being issued, hold (bounded) so the burst costs one restart;
//   4. restarts are at least restart.minInterval apart, measured from the workload's own annotation;
//   5. restart when the restart key differs, or when Flipt rolled on a config that is not ours.
// The step also says when to look again: the next scheduled rotation or the end of an overlap.
import type { TargetConfig } from '../config/operator-config.ts';
import { credentialKey, fingerprint, tokensEqual } from '../vocabulary/credentials.ts';
import { clientKey, type FliptClient } from '../vocabulary/fliptclient.ts';
import { rolledOut, type TargetProblem, type TargetState } from '../vocabulary/registration.ts';
import { FliptConfigError } from './flipt-config.ts';
import { planJwtMethod, type JwtMethodPlan } from './jwt-method.ts';
import { nextKindSwitchEvent, switchBackTokensToIssue } from './kind-switch.ts';
import { clientsInFlight, configHash, desiredCredentials, nextRotationEvent, planTarget, rotationsToIssue } from './plan.ts';
import type { WorkloadView } from './workload.ts';

export interface ObservedTarget {
  /** Flipt's ConfigMap; undefined when it does not exist. */
  configMap?: {
    text: string | undefined;
    /** The ids the operator recorded as its own, as the annotation says (undefined: no record). */
    managedRecord: string | undefined;
    managedIds: readonly string[];
    /** The jwt method settings the operator recorded writing (undefined: it wrote none). */
    jwtRecord: string | undefined;
  };
  /** The credentials Secret's data, decoded; empty when it does not exist. */
  credentials: Readonly<Record<string, string>>;
  workload?: WorkloadView;
  /** Every FliptClient, and the token each one's Secret holds ("<namespace>/<name>" -> token). */
  clients: readonly FliptClient[];
  clientSecretTokens: ReadonlyMap<string, string>;
  /** When the current burst hold began (kept in memory between steps). */
  heldSince?: number;
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
  heldSince?: number;
  state: TargetState;
}

/** The longest a target's changes wait for clients still being issued. */
export function maxHoldMs(target: TargetConfig): number {
  return Math.max(3 * target.restart.minInterval, 5000);
}

export function decideTargetStep(target: TargetConfig, observed: ObservedTarget, now: number): TargetStep {
  const step = decide(target, observed, now);
  // Like the tokens: once a rollout of the config the target holds has finished, its jwt method is
  // what every pod runs; while one runs, only if the pods had it before and the config still has it.
  const jwtAccepted = step.state.jwtConfigured && (rolledOut(step.state) || (observed.previous?.jwtAccepted ?? false));
  return { ...step, state: { ...step.state, accepted: acceptedBy(step.state, observed.previous), jwtAccepted } };
}

/**
 * The credentials every running pod accepts: once a rollout of the config the target holds has
 * finished, all of it; while one runs, what the pods accepted before and the config still holds. An
 * operator that starts during a rollout knows nothing accepted until it finishes.
 */
function acceptedBy(state: Omit<TargetState, 'accepted' | 'jwtAccepted'>, previous: TargetState | undefined): ReadonlySet<string> {
  const registered = new Set(state.registered.values());
  if (rolledOut(state)) return registered;
  return new Set([...(previous?.accepted ?? [])].filter((fp) => registered.has(fp)));
}

type Decision = Omit<TargetStep, 'state'> & { state: Omit<TargetState, 'accepted' | 'jwtAccepted'> };

function decide(target: TargetConfig, observed: ObservedTarget, now: number): Decision {
  const { configMap, workload, credentials } = observed;
  const rollout = workload?.rollout ?? { done: false, detail: 'workload missing' };
  let base: Omit<TargetState, 'accepted' | 'jwtAccepted'> = { registered: new Map(), conflicts: new Set(), rollout, authenticationRequired: true, jwtConfigured: false };
  const keepHold = observed.heldSince !== undefined ? { heldSince: observed.heldSince } : {};
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
  let jwtMethod: JwtMethodPlan;
  try {
    jwtMethod = planJwtMethod(target, observed.clients, configMap.text, configMap.jwtRecord, now);
  } catch (err) {
    return invalid(err);
  }
  if (jwtMethod.problem) base = { ...base, jwtProblem: jwtMethod.problem };
  const tokenOf = (client: FliptClient) => observed.clientSecretTokens.get(clientKey(client.metadata.namespace, client.metadata.name));
  const desired = desiredCredentials(target, observed.clients, tokenOf, credentials, now);
  const jwtMethodUntouched = jwtMethod.ensure === undefined && !jwtMethod.remove;
  if (desired.length === 0 && configMap.managedIds.length === 0 && Object.keys(credentials).length === 0 && jwtMethodUntouched) {
    // Nothing to manage yet: leave Flipt's config and pods alone until a FliptClient names this target.
    return { state: { ...base, ...currentState(target, source, [], {}), workloadHash: workload.configHash } };
  }
  const restartAllowedAt = (workload.restartedAtMs ?? 0) + target.restart.minInterval;
  /** What the target holds now, unchanged: for a step that writes nothing of the config yet. */
  const unchanged = (nextApplyAt?: number): Omit<TargetState, 'accepted' | 'jwtAccepted'> => ({
    ...base,
    ...currentState(target, source, configMap.managedIds, credentials),
    conflicts: observed.previous?.conflicts ?? base.conflicts,
    authenticationRequired: observed.previous?.authenticationRequired ?? true,
    jwtConfigured: jwtMethod.ensure !== undefined && configMap.jwtRecord === jwtMethod.record,
    workloadHash: workload.configHash,
    ...(nextApplyAt !== undefined ? { nextApplyAt } : {}),
  });
  const keepHoldFrom = (heldSince: number | undefined) => (heldSince !== undefined ? { heldSince } : {});

  const rotations = target.credentialKind === 'staticToken' ? rotationsToIssue(target, observed.clients, tokenOf, credentials, now) : [];
  const issue = [...rotations, ...switchBackTokensToIssue(target, observed.clients, credentials)];
  if (issue.length > 0) return { issue, requeueAfterMs: 0, ...keepHoldFrom(observed.heldSince), state: unchanged() };

  const events = [nextRotationEvent(target, observed.clients, credentials, now), nextKindSwitchEvent(target, observed.clients, now)].filter((at) => at !== undefined);
  const rotationAt = events.length > 0 ? Math.min(...events) : undefined;
  const lookAgain = (ms: number | undefined) => {
    const candidates = [ms, rotationAt !== undefined ? rotationAt - now : undefined].filter((c): c is number => c !== undefined);
    return candidates.length > 0 ? { requeueAfterMs: Math.min(...candidates) } : {};
  };

  if (clientsInFlight(target, observed.clients, desired) > 0) {
    const heldSince = observed.heldSince ?? now;
    const until = heldSince + maxHoldMs(target);
    // A burst is being issued: wait for it (bounded) so that it costs one restart, not several.
    if (until > now) return { heldSince, ...lookAgain(until - now), state: unchanged(Math.max(until, restartAllowedAt)) };
  }

  let plan;
  try {
    plan = planTarget(target, configMap.text, configMap.managedIds, credentials, desired, jwtMethod);
  } catch (err) {
    return invalid(err);
  }

  const conflicts = new Set(plan.render.conflictingIds);
  const managedRecord = JSON.stringify(plan.render.managedIds);
  const configDiffers = plan.render.changed || configMap.managedRecord !== managedRecord || configMap.jwtRecord !== jwtMethod.record;
  const credentialsMissing = Object.entries(plan.credentials).some(([k, v]) => !tokensEqual(credentials[k] ?? '', v));
  // A ConfigMap that lost our record was replaced by someone else (Flipt's chart recreates it on
  // every upgrade); if Flipt also rolled meanwhile, its pods read that config, not ours.
  const rolledOnForeignConfig = configMap.managedRecord === undefined && plan.render.managedIds.length > 0 && workload.changedSinceOurRestart;
  const restartNeeded = workload.configHash !== plan.configHash || rolledOnForeignConfig;

  const step: Decision = { ...lookAgain(undefined), state: base };
  if (configDiffers || credentialsMissing || restartNeeded) {
    if (restartNeeded && restartAllowedAt > now) {
      const state = { ...unchanged(restartAllowedAt), conflicts, authenticationRequired: plan.render.authenticationRequired };
      return { ...lookAgain(restartAllowedAt - now), state };
    }
    if (credentialsMissing) step.credentials = plan.credentials;
    if (configDiffers) step.config = { text: plan.render.text, managedRecord, jwtRecord: jwtMethod.record };
    if (restartNeeded) step.restart = { configHash: plan.configHash, tokens: desired.length };
  } else if (plan.staleCredentialKeys.length > 0 && rollout.done) {
    const stale = new Set(plan.staleCredentialKeys);
    step.credentials = Object.fromEntries(Object.entries(credentials).filter(([k]) => !stale.has(k)));
  }

  step.state = {
    ...(jwtMethod.problem ? { jwtProblem: jwtMethod.problem } : {}),
    jwtConfigured: jwtMethod.ensure !== undefined,
    registered: registration(target, plan.render.managedIds, plan.credentials).registered,
    conflicts,
    configHash: plan.configHash,
    workloadHash: plan.configHash,
    rollout: restartNeeded ? { done: false, detail: 'restart triggered' } : rollout,
    authenticationRequired: plan.render.authenticationRequired,
  };
  return step;
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
