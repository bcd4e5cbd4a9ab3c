// Whether the JWT in a client's Secret stays, is replaced now (and why), or is held while nothing can be
// issued (jwt-decisions.ts): decided from what the JWT says, the target's state and the keys' times.
// The JWTs here are read, never verified, as the decision reads them: unsigned strings are enough.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentialRoute, decideJwt, jwtAccepted, jwtAppliedVerdict, jwtIssuedVerdict, jwtRefreshVerdict, type JwtInputs } from '../../src/fliptclient/jwt-decisions.ts';
import { clientClaims, readJwt, subjectFor } from '../../src/vocabulary/client-jwt.ts';
import { fingerprint, tokenIdFor } from '../../src/vocabulary/credentials.ts';
import type { FliptClient } from '../../src/vocabulary/fliptclient.ts';
import type { TargetState } from '../../src/vocabulary/registration.ts';
import { exampleTarget } from '../support/target-fixture.ts';
import { unsignedJwt } from '../support/unsigned-jwt.ts';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const HOUR = 3_600_000;
const target = exampleTarget({ credentialKind: 'jwt' });
const key = { kid: 'k1', createdAt: T0 - HOUR, signsFrom: T0 - HOUR, signsUntil: T0 + 24 * HOUR, retireAt: T0 + 26 * HOUR };
const accepting: TargetState = {
  jwtConfigured: true,
  jwtAccepted: true,
  refused: new Map(),
  registered: new Map(),
  accepted: new Set(),
  conflicts: new Set(),
  rollout: { done: true, detail: '' },
  authenticationRequired: true,
};

function client(metadata?: Record<string, string>): FliptClient {
  return { apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { namespace: 'apps', name: 'web' }, spec: { target: 'default', ...(metadata ? { metadata } : {}) } };
}

/** A JWT as the operator issues one for `of`, issued at T0 for an hour; `over` changes its claims. */
function jwtFor(of: FliptClient, over: Record<string, unknown> = {}, kid = key.kid): string {
  const claims = { ...clientClaims(of), iss: target.jwt.issuer, aud: target.jwt.audience, sub: subjectFor('apps', 'web'), iat: T0 / 1000, nbf: T0 / 1000, exp: (T0 + HOUR) / 1000, jti: 'j1', ...over };
  return unsignedJwt({ alg: 'ES256', kid, typ: 'JWT' }, claims);
}

/** The decision for a client whose Secret holds `token` (the one its status names), at `now`. */
function decide(of: FliptClient, token: string, now: number, state: TargetState = accepting, keys = [key]) {
  const input: JwtInputs = {
    client: { ...of, status: { credentialFingerprint: fingerprint(token) } },
    target,
    state,
    secretToken: token,
    secretTokenSigned: false,
    registeredToken: undefined,
    keys,
    now,
  };
  return decideJwt(input);
}

test('a JWT that matches the client and target is kept until two thirds of its lifetime', () => {
  const decision = decide(client({ team: 'a' }), jwtFor(client({ team: 'a' })), T0 + 10 * 60_000);
  assert.equal(decision.action, 'keep');
  assert.equal(decision.action === 'keep' ? decision.refreshAt : 0, T0 + 40 * 60_000);
  assert.deepEqual(decide(client(), jwtFor(client()), T0 + 40 * 60_000), { action: 'mint', reason: 'Refresh' });
});

test('claims that differ from the spec in any way are replaced: a metadata key added, removed or changed', () => {
  const issuedFor = client({ team: 'a' });
  assert.deepEqual(decide(client({ team: 'a', tier: 'gold' }), jwtFor(issuedFor), T0 + 60_000), { action: 'mint', reason: 'ClaimsChanged' }, 'a key added to the spec');
  assert.deepEqual(decide(client(), jwtFor(issuedFor), T0 + 60_000), { action: 'mint', reason: 'ClaimsChanged' }, 'a key removed');
  assert.deepEqual(decide(client({ team: 'b' }), jwtFor(issuedFor), T0 + 60_000), { action: 'mint', reason: 'ClaimsChanged' }, 'a value changed');
  assert.deepEqual(decide(client(), jwtFor(client(), { sub: subjectFor('apps', 'other') }), T0 + 60_000), { action: 'mint', reason: 'ClaimsChanged' }, 'another subject');
});

test("a JWT for the target's audience and another is replaced: Flipt's JWT must name exactly the target's audience", () => {
  const token = jwtFor(client(), { aud: [target.jwt.audience, 'flipt:other'] });
  assert.deepEqual(decide(client(), token, T0 + 60_000), { action: 'mint', reason: 'SettingsChanged' });
  assert.deepEqual(decide(client(), jwtFor(client(), { iss: 'someone-else' }), T0 + 60_000), { action: 'mint', reason: 'SettingsChanged' });
});

test('a JWT of record due for replacement is replaced whatever the target says: its successor is validated wherever it is', () => {
  const token = jwtFor(client());
  const due = T0 + 50 * 60_000;
  const rollingOut: TargetState = { ...accepting, jwtAccepted: false };
  assert.deepEqual(decide(client(), token, due, rollingOut), { action: 'mint', reason: 'Refresh' }, 'a rollout this process did not see finish (it has just started)');
  const broken: TargetState = { ...accepting, problem: { reason: 'ConfigMapMissing', message: 'ConfigMap flipt/flipt not found' } };
  assert.deepEqual(decide(client(), token, due, broken), { action: 'mint', reason: 'Refresh' }, "the target's ConfigMap gone: the pods still run its last config");
  const jwtBroken: TargetState = { ...accepting, jwtAccepted: false, jwtProblem: { reason: 'KubernetesMethodEnabled', message: 'kubernetes method on' } };
  assert.deepEqual(decide(client(), token, due, jwtBroken), { action: 'mint', reason: 'Refresh' });
  assert.deepEqual(decide(client(), token, T0 + HOUR + 1, rollingOut), { action: 'mint', reason: 'Refresh' }, 'expired while the operator was down');
  assert.deepEqual(decide(client({ team: 'b' }), token, T0 + 60_000, rollingOut), { action: 'mint', reason: 'ClaimsChanged' });
  assert.deepEqual(decide(client(), token, T0 + 60_000, broken, [{ ...key, kid: 'k2' }]), { action: 'mint', reason: 'KeyRetired' });
  const requested = { ...client(), metadata: { ...client().metadata, annotations: { 'flipt.io/rotate': 'now' } } };
  assert.deepEqual(decide(requested, token, T0 + 60_000, rollingOut), { action: 'mint', reason: 'Requested' });
});

test('a JWT for settings Flipt does not run yet waits for the target; one still good is kept meanwhile, not one whose key is retired, nor one that expires now', () => {
  const pending: TargetState = { ...accepting, jwtAccepted: false };
  const token = jwtFor(client(), { aud: 'flipt:before' });
  const waiting = decide(client(), token, T0 + 60_000, pending);
  assert.equal(waiting.action === 'wait' && waiting.verdict.reason, 'JwtMethodPending');
  assert.equal(waiting.action === 'wait' ? waiting.keep?.jti : undefined, 'j1', 'the old settings still validate it: kept meanwhile');

  const atExpiry = decide(client(), token, T0 + HOUR, pending);
  assert.equal(atExpiry.action === 'wait' ? atExpiry.keep : 'not a wait', undefined, 'exp is the first instant a JWT is no longer valid');

  const broken: TargetState = { ...accepting, problem: { reason: 'ConfigMapMissing', message: 'ConfigMap flipt/flipt not found' } };
  const blocked = decide(client(), token, T0 + 60_000, broken);
  assert.deepEqual(blocked.action === 'wait' ? [blocked.verdict.reason, blocked.verdict.message, blocked.keep?.jti] : [], ['ConfigMapMissing', 'ConfigMap flipt/flipt not found', 'j1']);
  assert.deepEqual(jwtAppliedVerdict(broken, target, 'apps/web'), { status: 'False', reason: 'ConfigMapMissing', message: 'ConfigMap flipt/flipt not found' });
});

test('no key may sign yet: a JWT due for replacement is kept while still good, not one whose key is retired', () => {
  const token = jwtFor(client());
  const notYet = { ...key, kid: 'k2', signsFrom: T0 + 2 * HOUR };
  // Still published (its JWTs verify) but too close to retirement to sign one that lives.
  const closing = { ...key, signsUntil: T0, retireAt: T0 + 50 * 60_000 + 1_000 };
  const due = decide(client(), token, T0 + 50 * 60_000, accepting, [closing, notYet]);
  assert.equal(due.action === 'wait' && due.verdict.reason, 'SigningKeyPending');
  assert.equal(due.action === 'wait' ? due.keep?.jti : undefined, 'j1');
  const retired = decide(client(), token, T0 + 50 * 60_000, accepting, [notYet]);
  assert.equal(retired.action === 'wait' && retired.verdict.reason, 'SigningKeyPending');
  assert.equal(retired.action === 'wait' ? retired.keep : 'not a wait', undefined);
});

test('jwtAccepted: the jwt method runs, the key is published, and exp has not come', () => {
  const jwt = readJwt(jwtFor(client()))!;
  assert.equal(jwtAccepted(jwt, accepting, [key], T0 + HOUR - 1), true);
  assert.equal(jwtAccepted(jwt, accepting, [key], T0 + HOUR), false, 'at exp');
  assert.equal(jwtAccepted(jwt, { ...accepting, jwtAccepted: false }, [key], T0), false);
  assert.equal(jwtAccepted(jwt, accepting, [{ ...key, kid: 'k2' }], T0), false);
});

test('credentialRoute: a JWT stays a JWT; a client new to a JWT target takes one; a static token switches once Flipt accepts JWTs and a key signs', () => {
  const staticTarget = exampleTarget();
  const issued = { ...client(), status: { credentialFingerprint: 'ab'.repeat(8) } };
  const holdingJwt = { ...issued, status: { ...issued.status, credentialKind: 'jwt' as const } };
  assert.deepEqual(credentialRoute(holdingJwt, staticTarget, accepting, [key], T0), { jwt: true }, 'a JWT is kept until the switch back');
  assert.deepEqual(credentialRoute(client(), staticTarget, accepting, [key], T0), { jwt: false });
  assert.deepEqual(credentialRoute(client(), target, undefined, [], T0), { jwt: true }, 'nothing issued yet: straight to a JWT');
  assert.deepEqual(credentialRoute(issued, target, { ...accepting, jwtAccepted: false }, [key], T0), { jwt: false }, 'keeps its static token until every Flipt pod accepts JWTs');
  assert.deepEqual(credentialRoute(issued, target, accepting, [key], T0), { jwt: true });
  const later = { ...key, kid: 'k2', createdAt: T0, signsFrom: T0 + HOUR };
  assert.deepEqual(credentialRoute(issued, target, accepting, [later], T0), { jwt: false, lookAgainAt: T0 + HOUR }, 'no key signs yet: look again when one does');
  assert.deepEqual(credentialRoute(issued, target, accepting, [], T0), { jwt: false });
});

test('decideJwt: a target back on static tokens switches the client once its static token is registered and accepted everywhere', () => {
  const token = 'cd'.repeat(32);
  const id = tokenIdFor('apps', 'web');
  const staticTarget = exampleTarget();
  const registered: TargetState = { ...accepting, registered: new Map([[id, fingerprint(token)]]), accepted: new Set([fingerprint(token)]) };
  const input = (state: TargetState, over: Partial<JwtInputs> = {}): JwtInputs => ({
    client: { ...client(), status: { credentialFingerprint: fingerprint(jwtFor(client())) } },
    target: staticTarget,
    state,
    secretToken: jwtFor(client()),
    secretTokenSigned: false,
    registeredToken: token,
    keys: [key],
    now: T0 + 60_000,
    ...over,
  });
  assert.deepEqual(decideJwt(input(registered)), { action: 'switchToStatic', token });
  assert.equal(decideJwt(input({ ...registered, accepted: new Set() })).action, 'keep', 'not yet accepted by every Flipt pod: the JWT stays');
  assert.equal(decideJwt(input({ ...registered, registered: new Map() })).action, 'keep', 'not registered yet');
  assert.equal(decideJwt(input(registered, { target })).action, 'keep', 'a JWT target never switches back');
  assert.equal(decideJwt(input(registered, { registeredToken: 'not a token' })).action, 'keep');
});

test('decideJwt: what a client without a good JWT waits for, or why it gets one now', () => {
  const at = T0 + 60_000;
  const fresh = (over: Partial<JwtInputs> = {}) => decideJwt({ client: client(), target, state: accepting, secretToken: undefined, secretTokenSigned: false, registeredToken: undefined, keys: [key], now: at, ...over });
  assert.deepEqual(fresh(), { action: 'mint', reason: 'FirstIssue' });
  const hadStatic = { ...client(), status: { credentialFingerprint: 'ab'.repeat(8) } };
  assert.deepEqual(fresh({ client: hadStatic }), { action: 'mint', reason: 'SwitchToJwt' });
  assert.deepEqual(fresh({ client: { ...hadStatic, status: { ...hadStatic.status, credentialKind: 'jwt' } } }), { action: 'mint', reason: 'SecretLost' });

  const notConfigured = fresh({ state: { ...accepting, jwtConfigured: false, jwtAccepted: false } });
  assert.equal(notConfigured.action === 'wait' && notConfigured.verdict.reason, 'JwtMethodPending');
  assert.match(notConfigured.action === 'wait' ? notConfigured.verdict.message : '', /to add the jwt method to Flipt's config with Flipt's next restart/);
  const failing = fresh({ state: { ...accepting, jwtConfigured: false, jwtAccepted: false, writeFailure: 'API 403: denied' } });
  assert.match(failing.action === 'wait' ? failing.verdict.message : '', /writing the target failed: API 403: denied; the operator retries with backoff/);
  const rollingOut = fresh({ state: { ...accepting, jwtAccepted: false } });
  assert.match(rollingOut.action === 'wait' ? rollingOut.verdict.message : '', /Waiting for every Flipt pod of target "default" to run the config with the jwt method/);

  const later = { ...key, kid: 'k2', createdAt: at, signsFrom: at + HOUR };
  const keyPending = fresh({ keys: [later] });
  assert.equal(keyPending.action === 'wait' && keyPending.verdict.reason, 'SigningKeyPending');
  assert.equal(keyPending.action === 'wait' ? keyPending.retryAt : 0, at + HOUR);
  assert.match(keyPending.action === 'wait' ? keyPending.verdict.message : '', new RegExp(`until ${new Date(at + HOUR).toISOString()}`));
  const noKey = fresh({ keys: [] });
  assert.equal(noKey.action === 'wait' ? noKey.retryAt : 0, undefined, 'no key at all: nothing to wait for');
});

test("decideJwt: a JWT the status does not name is kept only when a published key signed it (written just before its status); one edited by hand is replaced", () => {
  const token = jwtFor(client());
  const ofAnother = { ...client(), status: { credentialFingerprint: 'ab'.repeat(8), credentialKind: 'jwt' as const } };
  const input = (signed: boolean): JwtInputs => ({ client: ofAnother, target, state: accepting, secretToken: token, secretTokenSigned: signed, registeredToken: undefined, keys: [key], now: T0 + 60_000 });
  assert.equal(decideJwt(input(true)).action, 'keep');
  assert.deepEqual(decideJwt(input(false)), { action: 'mint', reason: 'SecretLost' });
});

test('jwtAppliedVerdict: whether the target validates the JWT, and what a switch back to static tokens says', () => {
  assert.equal(jwtAppliedVerdict(accepting, target, 'apps/web').reason, 'JwtMethodEnabled');
  assert.equal(jwtAppliedVerdict({ ...accepting, jwtConfigured: false }, target, 'apps/web').reason, 'JwtMethodPending');
  const staticTarget = exampleTarget();
  assert.match(jwtAppliedVerdict(accepting, staticTarget, 'apps/web').message, /uses static tokens again: this client keeps its JWT until every Flipt pod accepts/);
  const full: TargetState = { ...accepting, refused: new Map([['apps/web', { reason: 'TargetFull', message: 'no room' }]]) };
  assert.match(jwtAppliedVerdict(full, staticTarget, 'apps/web').message, /cannot register this client's \(TargetFull: no room\); the client keeps its JWT meanwhile/);
  assert.equal(jwtAppliedVerdict(full, target, 'apps/web').reason, 'JwtMethodEnabled', 'a JWT target has no static token to refuse');
});

test('jwtIssuedVerdict and jwtRefreshVerdict: the key, the expiry, the Secret and the refresh time, never the JWT', () => {
  const token = jwtFor(client());
  const jwt = readJwt(token)!;
  const issued = jwtIssuedVerdict(jwt, fingerprint(token), 'web-flipt', T0 + 40 * 60_000);
  assert.deepEqual([issued.status, issued.reason], ['True', 'JwtIssued']);
  assert.equal(
    issued.message,
    `JWT ${fingerprint(token)} (sha256 prefix), signed with key k1, valid until 2030-01-01T01:00:00.000Z, is in Secret web-flipt; it is refreshed at 2030-01-01T00:40:00.000Z`,
  );
  const refresh = jwtRefreshVerdict(T0 + 40 * 60_000);
  assert.deepEqual([refresh.status, refresh.reason], ['False', 'JwtRefresh']);
  assert.match(refresh.message, /^The JWT is replaced at 2030-01-01T00:40:00\.000Z, two thirds of its lifetime; spec\.rotation applies to static tokens only \(the flipt\.io\/rotate annotation replaces the JWT now\)$/);
  for (const { message } of [issued, refresh]) {
    assert.ok(!message.includes(token) && !message.includes(token.split('.')[1]!), 'no part of the JWT itself');
  }
});

test('new settings are issued while a problem with the jwt method keeps it out of new pods, as long as the running pods validate JWTs', () => {
  const token = jwtFor(client(), { aud: 'flipt:before' });
  const problem = { reason: 'KubernetesMethodEnabled' as const, message: 'kubernetes method on' };
  assert.deepEqual(decide(client(), token, T0 + 60_000, { ...accepting, jwtProblem: problem }), { action: 'mint', reason: 'SettingsChanged' });
  const nowhere = decide(client(), token, T0 + 60_000, { ...accepting, jwtAccepted: false, jwtProblem: problem });
  assert.equal(nowhere.action === 'wait' && nowhere.verdict.reason, 'KubernetesMethodEnabled', 'no pod validates JWTs: it waits, saying why');
});
