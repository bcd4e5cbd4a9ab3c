// What the exchange service relies on, proven against the real API server: a projected
// service-account token from TokenRequest is authenticated by TokenReview for its own audience,
// names the service account, and is refused for another audience; a garbage token is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1TokenReview } from '@kubernetes/client-node';
import { testCluster, createNamespace, waitFor, type TestCluster } from '../support/cluster.ts';

const AUDIENCE = 'flipt-client-operator';

// Connected once for the whole file; every test awaits it.
const started = testCluster();
started.catch(() => {});

async function review(c: TestCluster, token: string, audiences: string[]): Promise<V1TokenReview> {
  return c.clients.authentication.createTokenReview({
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } },
  });
}

async function serviceAccountToken(c: TestCluster, namespace: string, name: string, audiences: string[]): Promise<string> {
  const request = await c.clients.core.createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences, expirationSeconds: 600 } },
  });
  const token = request.status?.token;
  assert.ok(token, 'TokenRequest returned a token');
  return token;
}

test('TokenReview authenticates a service-account token for its audience only', async () => {
  const c = await started;
  const namespace = await createNamespace(c.clients, 'tokenreview');
  const sa = 'app';
  await c.clients.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: sa } } });
  const token = await serviceAccountToken(c, namespace, sa, [AUDIENCE]);

  // Right after the SA is created the apiserver may still read SAs from a cold cache.
  let result: V1TokenReview | undefined;
  await waitFor(async () => {
    result = await review(c, token, [AUDIENCE]);
    return result.status?.authenticated === true;
  }, 'the token to be authenticated', 10_000, 200);

  const status = result!.status!;
  assert.equal(status.authenticated, true);
  assert.equal(status.error ?? '', '');
  assert.equal(status.user?.username, `system:serviceaccount:${namespace}:${sa}`);
  assert.ok(status.user?.uid, 'the SA uid is reported');
  assert.ok(status.user?.groups?.includes('system:serviceaccounts'));
  assert.ok(status.user?.groups?.includes(`system:serviceaccounts:${namespace}`));
  assert.deepEqual(status.audiences, [AUDIENCE]);

  // Another audience: the token was not minted for it.
  const other = await review(c, token, ['some-other-service']);
  assert.notEqual(other.status?.authenticated, true);
  assert.equal(other.status?.user?.username ?? '', '');

  // A token minted for another audience is not accepted for ours.
  const foreign = await serviceAccountToken(c, namespace, sa, ['some-other-service']);
  const foreignReview = await review(c, foreign, [AUDIENCE]);
  assert.notEqual(foreignReview.status?.authenticated, true);
});

test('TokenReview refuses a garbage token', async () => {
  const c = await started;
  for (const garbage of ['not-a-token', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl', 'a'.repeat(64)]) {
    const result = await review(c, garbage, [AUDIENCE]);
    assert.notEqual(result.status?.authenticated, true, `${garbage} was authenticated`);
    assert.equal(result.status?.user?.username ?? '', '');
  }
});

test('TokenReview stops authenticating a token once its service account is deleted', async (t) => {
  const c = await started;
  const namespace = await createNamespace(c.clients, 'tokenreview');
  await c.clients.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'gone' } } });
  const token = await serviceAccountToken(c, namespace, 'gone', [AUDIENCE]);
  await waitFor(async () => (await review(c, token, [AUDIENCE])).status?.authenticated === true, 'the token to be authenticated', 10_000, 200);
  await c.clients.core.deleteNamespacedServiceAccount({ namespace, name: 'gone' });
  // kube-apiserver caches successful token authentications for 10s, so this takes up to that long.
  const deleted = Date.now();
  await waitFor(async () => (await review(c, token, [AUDIENCE])).status?.authenticated !== true, 'the token to be refused', 30_000, 250);
  t.diagnostic(`refused ${Date.now() - deleted} ms after the service account was deleted`);
});
