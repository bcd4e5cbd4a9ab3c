// What the exchange answers for a reviewed service account (answer.ts): the refusals and the success shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerFor, serviceAccountOf } from '../../src/exchange/answer.ts';
import type { Credential } from '../../src/exchange/credentials.ts';
import { ExchangeError } from '../../src/exchange/wire.ts';

const NOW = Date.parse('2030-01-01T00:00:00Z');
const sa = { namespace: 'team', name: 'app', uid: 'sa-uid', podName: 'app-1', podUid: 'pod-uid' };
const bound = { kind: 'bound', namespace: 'team', name: 'web', key: 'team/web' } as const;
const ready: Credential = {
  kind: 'staticToken',
  token: 'a'.repeat(64),
  tokenId: 'team_web',
  ready: true,
  issuedAt: '2029-12-31T00:00:00Z',
  metadata: { env: 'prod', 'fliptclient-namespace': 'team', 'fliptclient-name': 'web' },
};

function refusal(fn: () => unknown): ExchangeError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ExchangeError, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

test('answerFor refuses unbound (403), ambiguous (403) and not-Ready (503) service accounts, and never hands out the token', () => {
  const unbound = refusal(() => answerFor({ serviceAccount: sa, bound: { kind: 'unbound' }, credential: ready, tokenExpiresAtMs: undefined, nowMs: NOW }));
  assert.deepEqual([unbound.status, unbound.outcome], [403, 'unbound']);
  assert.deepEqual(unbound.body, { code: 7, message: unbound.message, details: [] }, "grpc-gateway's body: the gRPC code, not the HTTP status");
  const ambiguous = refusal(() => answerFor({ serviceAccount: sa, bound: { kind: 'ambiguous', clients: ['a', 'b'] }, credential: ready, tokenExpiresAtMs: undefined, nowMs: NOW }));
  assert.deepEqual([ambiguous.status, ambiguous.outcome], [403, 'ambiguous']);
  assert.match(ambiguous.message, /a, b/);
  const notReady = refusal(() => answerFor({ serviceAccount: sa, bound, credential: { ...ready, ready: false, reason: 'WaitingForRollout' }, tokenExpiresAtMs: undefined, nowMs: NOW }));
  assert.deepEqual([notReady.status, notReady.outcome, notReady.headers['Retry-After']], [503, 'not_ready', '5']);
  // Ready but with no token to give (a Secret not yet read): not an empty 200.
  const noToken = refusal(() => answerFor({ serviceAccount: sa, bound, credential: { ...ready, token: '' }, tokenExpiresAtMs: undefined, nowMs: NOW }));
  assert.deepEqual([noToken.status, noToken.outcome], [503, 'not_ready']);
  for (const err of [unbound, ambiguous, notReady]) assert.ok(!err.message.includes(ready.token));
});

test('answerFor: expiresAt is the earliest future expiry, createdAt the issue time, and the caller identity cannot be overridden by the credential metadata', () => {
  const credential: Credential = { ...ready, expiresAt: '2030-01-01T02:00:00.000Z', metadata: { ...ready.metadata, 'io.flipt.auth.k8s.namespace': 'kube-system' } };
  const answer = answerFor({ serviceAccount: sa, bound, credential, tokenExpiresAtMs: NOW + 3_600_000, nowMs: NOW });
  assert.equal(answer.clientToken, ready.token);
  assert.equal(answer.authentication.expiresAt, '2030-01-01T01:00:00Z', 'the service-account token expires first');
  const later = answerFor({ serviceAccount: sa, bound, credential, tokenExpiresAtMs: NOW + 3 * 3_600_000, nowMs: NOW });
  assert.equal(later.authentication.expiresAt, '2030-01-01T02:00:00Z', 'the credential expires first');
  const past = answerFor({ serviceAccount: sa, bound, credential: ready, tokenExpiresAtMs: NOW - 1000, nowMs: NOW });
  assert.equal(past.authentication.expiresAt, undefined, 'an expiry in the past is not announced');
  const now = answerFor({ serviceAccount: sa, bound, credential: ready, tokenExpiresAtMs: NOW, nowMs: NOW });
  assert.equal(now.authentication.expiresAt, undefined, 'nor one that is now');
  assert.equal(answer.authentication.createdAt, '2029-12-31T00:00:00Z');
  assert.equal(answer.authentication.updatedAt, '2029-12-31T00:00:00Z');
  assert.deepEqual(answer.authentication.metadata, {
    env: 'prod',
    'fliptclient-namespace': 'team',
    'fliptclient-name': 'web',
    'io.flipt.auth.k8s.namespace': 'team',
    'io.flipt.auth.k8s.serviceaccount.name': 'app',
    'io.flipt.auth.k8s.serviceaccount.uid': 'sa-uid',
    'io.flipt.auth.k8s.pod.name': 'app-1',
    'io.flipt.auth.k8s.pod.uid': 'pod-uid',
  });
});

test('serviceAccountOf: every unauthenticated review is a 401, a non-service-account user a 403', () => {
  for (const reason of ['malformed', 'expired', 'invalid', 'audience'] as const) {
    const err = refusal(() => serviceAccountOf({ kind: 'unauthenticated', reason }, ['flipt-client-operator']));
    assert.deepEqual([err.status, err.outcome], [401, 'unauthenticated'], reason);
    assert.match(err.headers['WWW-Authenticate']!, /^Bearer/);
  }
  assert.match(refusal(() => serviceAccountOf({ kind: 'unauthenticated', reason: 'audience' }, ['x'])).message, /audience "x"/);
  const user = refusal(() => serviceAccountOf({ kind: 'authenticated', username: 'alice', audiences: ['x'] }, ['x']));
  assert.deepEqual([user.status, user.outcome], [403, 'not_service_account']);
  assert.deepEqual(serviceAccountOf({ kind: 'authenticated', username: 'system:serviceaccount:team:app', audiences: ['x'], serviceAccount: sa }, ['x']), sa);
});
