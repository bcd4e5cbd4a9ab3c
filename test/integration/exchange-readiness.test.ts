// The operator's own wiring of the exchange's readiness, end to end: an operator process whose RBAC
// lets it review tokens but not yet list FliptClients or Secrets has unsynced caches (and an empty
// service-account index), so its exchange answers 503 with Retry-After, never a false 403; once the
// binding appears its caches sync and the same request gets a real answer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { installCrd, testCluster, waitFor, type TestCluster } from '../support/cluster.ts';
import { serviceAccountKubeconfig } from '../support/deploy-rbac.ts';
import { createFliptTarget } from '../support/flipt-target.ts';
import { startOperator, writeOperatorConfig, type OperatorProcess } from '../support/operator-process.ts';
import { withoutCredential } from '../support/scenario.ts';

const suffix = randomBytes(3).toString('hex');
const NAMESPACE = `ready-${suffix}`;
const FLIPT = `ready-flipt-${suffix}`;
let cluster: TestCluster;
let operator: OperatorProcess;
let ports: { health: number; exchange: number };

async function exchange(): Promise<{ status: number; retryAfter: string | null; body: { code?: number; message?: string } }> {
  const request = await cluster.clients.core.createNamespacedServiceAccountToken({
    name: 'app',
    namespace: NAMESPACE,
    body: { spec: { audiences: ['flipt-client-operator'], expirationSeconds: 600 } },
  });
  const res = await fetch(`http://127.0.0.1:${ports.exchange}/auth/v1/method/kubernetes/serviceaccount`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ service_account_token: request.status!.token }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { code?: number; message?: string } };
}

const readyz = async () => (await fetch(`http://127.0.0.1:${ports.health}/readyz`)).status;

before(async () => {
  cluster = await testCluster();
  await installCrd(cluster.kubeConfig);
  const { core, rbac } = cluster.clients;
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  await core.createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: 'app' } } });
  await core.createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: 'operator' } } });
  await createFliptTarget(cluster.clients, { namespace: FLIPT, configMap: 'flipt', deployment: 'flipt' });
  // TokenReviews only: the exchange can review tokens, the caches cannot list anything.
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: `${NAMESPACE}-reviews` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: NAMESPACE }],
    },
  });
  const written = writeOperatorConfig({
    targets: [{ name: 'default', namespace: FLIPT, configMap: { name: 'flipt' }, workload: { kind: 'Deployment', name: 'flipt' } }],
    leaderElection: { enabled: true, namespace: NAMESPACE, leaseName: 'fco' },
    exchange: { enabled: true, audiences: ['flipt-client-operator'] },
  });
  ports = written.ports;
  operator = startOperator(written.path, await serviceAccountKubeconfig(cluster, NAMESPACE, 'operator'));
});

after(async () => {
  await operator?.stop();
  for (const name of [`${NAMESPACE}-reviews`, `${NAMESPACE}-all`]) await cluster?.clients.rbac.deleteClusterRoleBinding({ name }).catch(() => {});
});

test('caches not synced (RBAC missing): the exchange answers 503 with Retry-After, never 403; the JWKS is not served, nor cacheable, before the signing keys are known', async () => {
  await waitFor(async () => (await fetch(`http://127.0.0.1:${ports.exchange}/`).catch(() => undefined)) !== undefined, 'the exchange to listen', 30_000, 200);
  await waitFor(() => operator.output().includes('watch failed'), 'the watches to be refused', 30_000, 200);
  for (let i = 0; i < 3; i++) {
    const answer = await exchange();
    assert.equal(answer.status, 503, withoutCredential(JSON.stringify(answer.body)));
    assert.equal(answer.body.code, 14);
    assert.ok(Number(answer.retryAfter) >= 1, 'Retry-After');
    assert.match(answer.body.message!, /starting/);
    assert.equal(await readyz(), 503, '/readyz agrees');
  }
  // An empty key set Flipt cached would make it refuse every JWT until the cache expired.
  const jwks = await fetch(`http://127.0.0.1:${ports.exchange}/.well-known/jwks.json`);
  assert.equal(jwks.status, 503, `JWKS before the keys are known: ${jwks.status} ${await jwks.text()}`);
  assert.doesNotMatch(jwks.headers.get('cache-control') ?? '', /max-age|public/);
});

test('once the binding appears the caches sync and the exchange answers for real', async () => {
  await cluster.clients.rbac.createClusterRoleBinding({
    body: {
      metadata: { name: `${NAMESPACE}-all` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: NAMESPACE }],
    },
  });
  await waitFor(async () => (await readyz()) === 200, 'the caches to sync', 60_000, 250);
  const answer = await exchange();
  assert.equal(answer.status, 403, withoutCredential(JSON.stringify(answer.body)));
  assert.equal(answer.body.code, 7);
  assert.match(answer.body.message!, /not bound to a FliptClient/);
});
