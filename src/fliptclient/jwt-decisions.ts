// Pure decisions for a FliptClient that holds, or is about to hold, a JWT: whether the JWT in its
// Secret stays, is replaced now (and why), or cannot be replaced yet; when it switches back to a static
// token; and what its conditions say. Only a JWT the operator issued is kept: the one the status
// fingerprint names, or one a published key signed (written just before its status, which the cache
// may not show yet). A Secret edited by hand is never trusted, only replaced.
import type { TargetConfig } from '../config/operator-config.ts';
import { clientClaims, readJwt, refreshAtOf, subjectFor, type JwtView } from '../vocabulary/client-jwt.ts';
import { credentialKindOf } from '../vocabulary/credential-kind.ts';
import { fingerprint, isWellFormedToken, tokenIdFor } from '../vocabulary/credentials.ts';
import type { FliptClient } from '../vocabulary/fliptclient.ts';
import { accepts, type TargetState } from '../vocabulary/registration.ts';
import { requestedRotation, ROTATE_ANNOTATION } from '../vocabulary/rotation.ts';
import { nextSigningStart, publishedKeys, signingKeyAt, type KeyTimes } from '../vocabulary/signing-keys.ts';
import { authenticationVerdict, NEXT_RESTART, type Verdict } from './decisions.ts';

export type MintReason = 'FirstIssue' | 'SwitchToJwt' | 'SecretLost' | 'Refresh' | 'KeyRetired' | 'SettingsChanged' | 'ClaimsChanged' | 'Requested';

export type JwtDecision =
  /** The Secret's JWT stays until refreshAt. */
  | { action: 'keep'; jwt: JwtView; refreshAt: number }
  | { action: 'mint'; reason: MintReason }
  /** Nothing Flipt would accept can be issued yet; `keep` is a JWT still good meanwhile. */
  | { action: 'wait'; verdict: Verdict; keep?: JwtView; retryAt?: number }
  /** The target uses static tokens again and every Flipt pod accepts this client's: switch to it. */
  | { action: 'switchToStatic'; token: string };

/**
 * Which way a client goes: the JWT way when it holds a JWT, or is new to a JWT target, or holds a
 * static token it can switch away from now (every Flipt pod validates JWTs and a key may sign).
 * Otherwise it keeps its static token, and looks again when a key may sign, if that is what it waits for.
 */
export function credentialRoute(
  client: FliptClient,
  target: TargetConfig,
  state: TargetState | undefined,
  keys: ReadonlyArray<KeyTimes & { kid: string }>,
  now: number,
): { jwt: boolean; lookAgainAt?: number } {
  if (credentialKindOf(client) === 'jwt') return { jwt: true };
  if (target.credentialKind !== 'jwt') return { jwt: false };
  if (!client.status?.credentialFingerprint) return { jwt: true };
  if (!state?.jwtAccepted) return { jwt: false };
  if (signingKeyAt(keys, now)) return { jwt: true };
  const lookAgainAt = nextSigningStart(keys, now);
  return lookAgainAt !== undefined ? { jwt: false, lookAgainAt } : { jwt: false };
}

export interface JwtInputs {
  client: FliptClient;
  target: TargetConfig;
  state: TargetState;
  /** The client Secret's `token`. */
  secretToken: string | undefined;
  /** Whether a published key signed the Secret's token (checked only when the status names another). */
  secretTokenSigned: boolean;
  /** The static token the target's credentials Secret holds under the client's id (issued for a switch back). */
  registeredToken: string | undefined;
  keys: ReadonlyArray<KeyTimes & { kid: string }>;
  now: number;
}

export function decideJwt(input: JwtInputs): JwtDecision {
  const { client, target, state, keys, now } = input;
  const id = tokenIdFor(client.metadata.namespace, client.metadata.name);
  const token = input.registeredToken;
  if (target.credentialKind === 'staticToken' && isWellFormedToken(token) && state.registered.get(id) === fingerprint(token) && accepts(state, fingerprint(token))) {
    return { action: 'switchToStatic', token };
  }

  const ofRecord = input.secretToken !== undefined && (fingerprint(input.secretToken) === client.status?.credentialFingerprint || input.secretTokenSigned);
  const jwt = ofRecord ? readJwt(input.secretToken) : undefined;
  const stale = jwt ? staleness(jwt, client, target, keys, now) : undefined;
  if (jwt && !stale) return { action: 'keep', jwt, refreshAt: refreshAtOf(jwt) };
  const stillGood = jwt && jwt.expiresAt > now && stale !== 'KeyRetired' ? jwt : undefined;

  // A JWT of record is replaced whatever the target's state: its successor has the same issuer and
  // audience and a published key, so every pod that validates the one validates the other. Waiting on
  // the target instead would let it expire through a broken config, or a rollout that had not finished
  // when this process started (whether the pods accept JWTs is known only from a rollout it saw end).
  // Only new settings wait for Flipt's config.
  if (stale === undefined || stale === 'SettingsChanged') {
    if (state.problem) return wait({ status: 'False', reason: state.problem.reason, message: state.problem.message }, stillGood);
    // Pods that run the jwt method still validate JWTs: a problem with it stops issuing only where none does.
    if (state.jwtProblem && !state.jwtAccepted) return wait({ status: 'False', reason: state.jwtProblem.reason, message: state.jwtProblem.message }, stillGood);
    if (!state.jwtAccepted) {
      // Nothing that follows the target's progress: every waiting client's status would be written again.
      const when = state.writeFailure !== undefined ? ` (writing the target failed: ${state.writeFailure}; the operator retries with backoff)` : ` with Flipt's next restart (${NEXT_RESTART})`;
      const message = state.jwtConfigured
        ? `Waiting for every Flipt pod of target "${target.name}" to run the config with the jwt method; kubectl rollout status shows how far`
        : `Waiting for target "${target.name}" to add the jwt method to Flipt's config${when}`;
      return wait({ status: 'False', reason: 'JwtMethodPending', message }, stillGood);
    }
  }
  if (!signingKeyAt(keys, now)) {
    const retryAt = nextSigningStart(keys, now);
    const until = retryAt !== undefined ? ` until ${new Date(retryAt).toISOString()}` : '';
    const message = `Waiting for a signing key that every operator replica publishes${until}: a new key signs nothing before then`;
    return { ...wait({ status: 'False', reason: 'SigningKeyPending', message }, stillGood), ...(retryAt !== undefined ? { retryAt } : {}) };
  }
  if (stale) return { action: 'mint', reason: stale };
  if (credentialKindOf(client) === 'jwt') return { action: 'mint', reason: 'SecretLost' };
  return { action: 'mint', reason: client.status?.credentialFingerprint ? 'SwitchToJwt' : 'FirstIssue' };
}

function wait(verdict: Verdict, keep: JwtView | undefined): JwtDecision {
  return { action: 'wait', verdict, ...(keep ? { keep } : {}) };
}

/** Why a JWT of record must be replaced now, or undefined while it is good. */
function staleness(jwt: JwtView, client: FliptClient, target: TargetConfig, keys: ReadonlyArray<KeyTimes & { kid: string }>, now: number): MintReason | undefined {
  if (!publishedKeys(keys, now).some((k) => k.kid === jwt.kid)) return 'KeyRetired';
  if (jwt.issuer !== target.jwt.issuer || jwt.audiences.length !== 1 || jwt.audiences[0] !== target.jwt.audience) return 'SettingsChanged';
  if (jwt.subject !== subjectFor(client.metadata.namespace, client.metadata.name) || !sameClaims(jwt, clientClaims(client))) return 'ClaimsChanged';
  if (requestedRotation(client) !== undefined) return 'Requested';
  return now >= refreshAtOf(jwt) ? 'Refresh' : undefined;
}

function sameClaims(jwt: JwtView, wanted: Readonly<Record<string, string>>): boolean {
  const ours = Object.keys(jwt.claims).filter((k) => k.startsWith('io.flipt.auth.'));
  return ours.length === Object.keys(wanted).length && ours.every((k) => jwt.claims[k] === wanted[k]);
}

/** CredentialIssued for a JWT in the Secret. */
export function jwtIssuedVerdict(jwt: Pick<JwtView, 'kid' | 'expiresAt'>, credentialFingerprint: string, secretName: string, refreshAt: number): Verdict {
  return {
    status: 'True',
    reason: 'JwtIssued',
    message: `JWT ${credentialFingerprint} (sha256 prefix), signed with key ${jwt.kid}, valid until ${new Date(jwt.expiresAt).toISOString()}, is in Secret ${secretName}; it is refreshed at ${new Date(refreshAt).toISOString()}`,
  };
}

/**
 * ConfigApplied for a client holding a JWT: does the target's Flipt config validate the operator's JWTs?
 * `owner` ("<namespace>/<name>") names the client, for a static token of a switch back that the target has no room for.
 */
export function jwtAppliedVerdict(state: TargetState, target: TargetConfig, owner: string): Verdict {
  if (state.problem) return { status: 'False', reason: state.problem.reason, message: state.problem.message };
  if (!state.jwtConfigured) {
    if (state.jwtProblem) return { status: 'False', reason: state.jwtProblem.reason, message: state.jwtProblem.message };
    return { status: 'False', reason: 'JwtMethodPending', message: `Waiting for target "${target.name}" to add the jwt method to Flipt's config` };
  }
  if (target.credentialKind === 'staticToken') {
    const refused = state.refused.get(owner);
    if (refused) {
      return {
        status: 'True',
        reason: 'SwitchingToStaticToken',
        message: `Target "${target.name}" uses static tokens again, but cannot register this client's (${refused.reason}: ${refused.message}); the client keeps its JWT meanwhile`,
      };
    }
    return {
      status: 'True',
      reason: 'SwitchingToStaticToken',
      message: `Target "${target.name}" uses static tokens again: this client keeps its JWT until every Flipt pod accepts its new static token`,
    };
  }
  if (state.jwtProblem) return { status: 'False', reason: state.jwtProblem.reason, message: state.jwtProblem.message };
  const held = `Flipt's config for target "${target.name}" validates this operator's JWTs`;
  return (
    authenticationVerdict(state, held, 'credential') ?? {
      status: 'True',
      reason: 'JwtMethodEnabled',
      message: `Flipt's config for target "${target.name}" validates JWTs of issuer ${target.jwt.issuer} for audience ${target.jwt.audience}`,
    }
  );
}

/** Whether every running Flipt pod accepts the JWT: the jwt method runs, its key is published, it has not expired. */
export function jwtAccepted(jwt: Pick<JwtView, 'kid' | 'expiresAt'>, state: TargetState, keys: ReadonlyArray<KeyTimes & { kid: string }>, now: number): boolean {
  return state.jwtAccepted && jwt.expiresAt > now && publishedKeys(keys, now).some((k) => k.kid === jwt.kid);
}

/** Rotating, for a JWT: it is replaced on its own, spec.rotation is for static tokens. */
export function jwtRefreshVerdict(refreshAt: number): Verdict {
  return {
    status: 'False',
    reason: 'JwtRefresh',
    message: `The JWT is replaced at ${new Date(refreshAt).toISOString()}, two thirds of its lifetime; spec.rotation applies to static tokens only (the ${ROTATE_ANNOTATION} annotation replaces the JWT now)`,
  };
}

/** WorkloadsRestarted, for a JWT: a workload reading it from its environment would need a restart at every refresh. */
export const NOT_FOR_JWT: Verdict = {
  status: 'False',
  reason: 'NotForJwt',
  message:
    'A JWT is replaced at two thirds of its lifetime, and a workload that reads it from its environment would need a restart every time, so spec.rolloutRestartTargets are not restarted: mount the Secret as a volume (the kubelet refreshes the file), use the exchange endpoint, or use a target with static tokens',
};
