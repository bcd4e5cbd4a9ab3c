// Whether the JWT in a client's Secret stays, is replaced now (and why), or is held while nothing can be
// issued (jwt-decisions.ts): decided from what the JWT says, the target's state and the keys' times.
// The JWTs here are read, never verified, as the decision reads them: unsigned strings are enough.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideJwt, jwtAccepted, type JwtInputs } from '../../src/fliptclient/jwt-decisions.ts';
import { clientClaims, readJwt, subjectFor } from '../../src/vocabulary/client-jwt.ts';
import { fingerprint } from '../../src/vocabulary/credentials.ts';
import type { FliptClient } from '../../src/vocabulary/fliptclient.ts';
import type { TargetState } from '../../src/vocabulary/registration.ts';
import { exampleTarget } from '../support/target-fixture.ts';

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

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWT as the operator issues one for `of`, issued at T0 for an hour; `over` changes its claims. */
function jwtFor(of: FliptClient, over: Record<string, unknown> = {}, kid = key.kid): string {
  const claims = { ...clientClaims(of), iss: target.jwt.issuer, aud: target.jwt.audience, sub: subjectFor('apps', 'web'), iat: T0 / 1000, nbf: T0 / 1000, exp: (T0 + HOUR) / 1000, jti: 'j1', ...over };
  return `${b64({ alg: 'ES256', kid, typ: 'JWT' })}.${b64(claims)}.c2ln`;
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
});

test("a JWT for the target's audience and another is replaced: Flipt's JWT must name exactly the target's audience", () => {
  const token = jwtFor(client(), { aud: [target.jwt.audience, 'flipt:other'] });
  assert.deepEqual(decide(client(), token, T0 + 60_000), { action: 'mint', reason: 'SettingsChanged' });
  assert.deepEqual(decide(client(), jwtFor(client(), { iss: 'someone-else' }), T0 + 60_000), { action: 'mint', reason: 'SettingsChanged' });
});

test('while nothing can be issued, a JWT still good is kept meanwhile; not one whose key is retired, nor one that expires now', () => {
  const pending: TargetState = { ...accepting, jwtAccepted: false };
  const token = jwtFor(client());
  const waiting = decide(client(), token, T0 + 50 * 60_000, pending);
  assert.equal(waiting.action, 'wait');
  assert.equal(waiting.action === 'wait' ? waiting.keep?.jti : undefined, 'j1', 'past its refresh time but not expired: kept meanwhile');

  const atExpiry = decide(client(), token, T0 + HOUR, pending);
  assert.equal(atExpiry.action === 'wait' ? atExpiry.keep : 'not a wait', undefined, 'exp is the first instant a JWT is no longer valid');

  // Its key no longer published (retired early, or lost with the keys Secret): never kept, even while waiting.
  const successor = { ...key, kid: 'k2' };
  const retired = decide(client(), token, T0 + 60_000, pending, [successor]);
  assert.equal(retired.action, 'wait');
  assert.equal(retired.action === 'wait' ? retired.keep : 'not a wait', undefined);
});

test('jwtAccepted: the jwt method runs, the key is published, and exp has not come', () => {
  const jwt = readJwt(jwtFor(client()))!;
  assert.equal(jwtAccepted(jwt, accepting, [key], T0 + HOUR - 1), true);
  assert.equal(jwtAccepted(jwt, accepting, [key], T0 + HOUR), false, 'at exp');
  assert.equal(jwtAccepted(jwt, { ...accepting, jwtAccepted: false }, [key], T0), false);
  assert.equal(jwtAccepted(jwt, accepting, [{ ...key, kid: 'k2' }], T0), false);
});
