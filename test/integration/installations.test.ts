// Two installations of the operator on one cluster, each with its own targets (as IngressClass or
// External Secrets' controller class keep controllers apart): each serves the FliptClients that name
// one of its targets and leaves every other FliptClient, its status and its finalizers alone. Only
// the installation that reports unknown targets does, and only for a FliptClient nobody claimed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { recordHistory, type ObjectHistory } from '../support/api-watch.ts';
import { installCrd, testCluster, waitFor, type TestCluster } from '../support/cluster.ts';
import { createFliptTarget, simulateDeploymentController } from '../support/flipt-target.ts';
import { condition, deleteFliptClient, createFliptClient, getFliptClient, removeFliptClients } from '../support/fliptclients.ts';
import { startOperator, writeOperatorConfig, type OperatorProcess } from '../support/operator-process.ts';

const suffix = randomBytes(3).toString('hex');
const APP = `installations-${suffix}`;
let cluster: TestCluster;
const operators: OperatorProcess[] = [];
const stops: Array<() => void> = [];
const histories = new Map<string, ObjectHistory<FliptClient>>();

/** An installation with one target; its signing keys (kept only if it needs them) in its target's namespace. */
async function installation(name: string, target: string, reportUnknownTargets: boolean, credentialKind: 'staticToken' | 'jwt' = 'staticToken'): Promise<void> {
  const namespace = `flipt-${name}-${suffix}`;
  await createFliptTarget(cluster.clients, { namespace, configMap: 'flipt', deployment: 'flipt' });
  stops.push(simulateDeploymentController(cluster.clients, namespace, 'flipt'));
  const { path } = writeOperatorConfig({
    targets: [{ name: target, namespace, configMap: { name: 'flipt' }, workload: { kind: 'Deployment', name: 'flipt' }, restart: { minInterval: '1s' }, credentialKind }],
    installation: { name, reportUnknownTargets },
    leaderElection: { enabled: true, namespace: 'default', leaseName: `fco-${name}-${suffix}` },
    // Frequent resyncs: whatever an installation decides from the whole cache, it decides again often.
    resyncPeriod: '2s',
    // The JWKS is served on the exchange port.
    ...(credentialKind === 'jwt' ? { exchange: { enabled: true } } : {}),
    jwt: { jwksUrl: `http://fco-${name}.example.svc:8443/.well-known/jwks.json`, signingKeys: { namespace, publishAhead: '1s' } },
  });
  operators.push(startOperator(path, cluster.kubeconfigPath));
}

before(async () => {
  cluster = await testCluster();
  await installCrd(cluster.kubeConfig);
  await cluster.clients.core.createNamespace({ body: { metadata: { name: APP } } });
  await installation('alpha', 'team-a', true);
  await installation('beta', 'team-b', false);
  await installation('gamma', 'team-j', false, 'jwt');
  for (const name of ['of-alpha', 'of-beta', 'typo']) {
    histories.set(name, await recordHistory<FliptClient>(cluster.kubeConfig, `/apis/flipt.io/v1alpha1/namespaces/${APP}/fliptclients`, name));
  }
  await createFliptClient(cluster.clients, APP, 'of-alpha', { target: 'team-a' });
  await createFliptClient(cluster.clients, APP, 'of-beta', { target: 'team-b' });
  await createFliptClient(cluster.clients, APP, 'typo', { target: 'team-c' });
  await createFliptClient(cluster.clients, APP, 'of-gamma', { target: 'team-j' });
});

after(async () => {
  for (const h of histories.values()) h.stop();
  for (const stop of stops) stop();
  await Promise.all(operators.map((o) => o.stop()));
  if (cluster) await removeFliptClients(cluster, APP);
});

test('each installation serves the FliptClients of its own targets', async () => {
  for (const [name, installationName] of [['of-alpha', 'alpha'], ['of-beta', 'beta']] as const) {
    await waitFor(async () => condition(await getFliptClient(cluster.clients, APP, name), 'Ready')?.status === 'True', `${name} Ready`, 60_000);
    const client = await getFliptClient(cluster.clients, APP, name);
    assert.equal(client.status?.installation, installationName);
    assert.deepEqual(client.metadata.finalizers, ['flipt.io/revoke-token']);
  }
});

test('a FliptClient nobody serves is reported UnknownTarget, once its grace has passed, by the reporting installation only', async () => {
  await waitFor(async () => condition(await getFliptClient(cluster.clients, APP, 'typo'), 'Ready')?.reason === 'UnknownTarget', 'typo reported', 30_000);
  const typo = await getFliptClient(cluster.clients, APP, 'typo');
  assert.equal(typo.status?.installation, 'alpha');
  assert.match(condition(typo, 'Ready')!.message, /"team-c".*known: team-a/);
  assert.equal(typo.metadata.finalizers, undefined);
});

test('no installation ever touches the other one\'s FliptClients: no UnknownTarget in passing, no flapping', async () => {
  // Let both installations run side by side for a while, then read every version the API server recorded.
  await new Promise((r) => setTimeout(r, 8_000));
  for (const [name, owner] of [['of-alpha', 'alpha'], ['of-beta', 'beta']] as const) {
    const history = histories.get(name)!;
    await history.caughtUp();
    for (const version of history.versions) {
      assert.notEqual(condition(version, 'Ready')?.reason, 'UnknownTarget', `${name} was never called UnknownTarget`);
      if (version.status?.installation) assert.equal(version.status.installation, owner, `${name}'s status was only ever written by ${owner}`);
    }
    const readyAt = history.versions.findIndex((v) => condition(v, 'Ready')?.status === 'True');
    const later = history.versions.slice(readyAt + 1);
    assert.ok(later.every((v) => condition(v, 'Ready')?.status === 'True'), `${name} stayed Ready`);
  }
});

test("deleting one installation's FliptClient is handled by that installation alone", async () => {
  await deleteFliptClient(cluster.clients, APP, 'of-beta');
  await waitFor(() => histories.get('of-beta')!.deleted !== undefined, 'of-beta deleted (its finalizer released by beta)', 30_000);
  const alpha = await getFliptClient(cluster.clients, APP, 'of-alpha');
  assert.equal(condition(alpha, 'Ready')?.status, 'True');
  const betaConfig = async () => (await cluster.clients.core.readNamespacedConfigMap({ name: 'flipt', namespace: `flipt-beta-${suffix}` })).data!['default.yml']!;
  const alphaConfig = (await cluster.clients.core.readNamespacedConfigMap({ name: 'flipt', namespace: `flipt-alpha-${suffix}` })).data!['default.yml']!;
  assert.ok(!(await betaConfig()).includes(`${APP}_of-beta`), "the token left beta's Flipt");
  assert.ok(alphaConfig.includes(`${APP}_of-alpha`) && !alphaConfig.includes(`${APP}_of-beta`), "alpha's Flipt never held beta's client");
});

test("signing keys are kept only by an installation with a JWT target, whatever JWT clients the others' caches hold", async () => {
  await waitFor(async () => {
    const client = await getFliptClient(cluster.clients, APP, 'of-gamma');
    return client.status?.credentialKind === 'jwt' && condition(client, 'Ready')?.status === 'True';
  }, 'of-gamma Ready with a JWT', 60_000);
  const keysIn = async (name: string) =>
    (await cluster.clients.core.listNamespacedSecret({ namespace: `flipt-${name}-${suffix}` })).items.some((s) => s.metadata?.name === 'flipt-client-operator-signing-keys');
  assert.ok(await keysIn('gamma'), "gamma's keys");
  // Signing keys are looked at on every resync (2s here): a key created by mistake would appear within one.
  await new Promise((r) => setTimeout(r, 5_000));
  assert.deepEqual([await keysIn('alpha'), await keysIn('beta')], [false, false], 'no keys for installations that sign nothing');
});
