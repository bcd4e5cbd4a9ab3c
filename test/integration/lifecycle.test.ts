// The full life of a FliptClient, with the operator as a real process running as its own
// ServiceAccount under exactly deploy/'s RBAC: create -> Secret + config + credentials + one restart ->
// Ready after the rollout -> spec change -> delete -> token gone, finalizer gone.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { V1ConfigMap, V1Deployment, V1Secret } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { decodeSecretData, secretValue } from '../../src/kube/secret-data.ts';
import { fingerprint } from '../../src/vocabulary/credentials.ts';
import type { FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { changes, recordHistory, revision, type ObjectHistory } from '../support/api-watch.ts';
import { installCrd, testCluster, waitFor, type TestCluster } from '../support/cluster.ts';
import { operatorKubeconfig, OPERATOR_NAMESPACE } from '../support/deploy-rbac.ts';
import { createFliptTarget, finishRollout } from '../support/flipt-target.ts';
import { assertValidFliptConfig } from '../support/flipt-schema.ts';
import { startOperator, writeOperatorConfig, type OperatorProcess } from '../support/operator-process.ts';
import { createFliptClient, deleteFliptClient, getFliptClient, condition, patchFliptClientSpec, removeFliptClients } from '../support/fliptclients.ts';
import { hidden } from '../support/hidden.ts';
import { withoutCredential } from '../support/scenario.ts';

const FLIPT = { namespace: 'flipt', configMap: 'flipt', deployment: 'flipt' };
const RESTARTED_AT = 'flipt.io/restarted-at';
const MANAGED_TOKENS = 'flipt.io/managed-tokens';

let cluster: TestCluster;
let operator: OperatorProcess;
let configMaps: ObjectHistory<V1ConfigMap>;
let deployments: ObjectHistory<V1Deployment>;
let credentialSecrets: ObjectHistory<V1Secret>;
let appNamespace: string;
let exchangeUrl: string;
const seenTokens: string[] = [];

/** A pod's view: a projected token for the operator's audience, traded at the exchange endpoint. */
async function exchange(serviceAccount: string): Promise<{ status: number; body: Record<string, any> }> {
  const request = await cluster.clients.core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace: appNamespace,
    body: { spec: { audiences: ['flipt-client-operator'], expirationSeconds: 600 } },
  });
  const res = await fetch(exchangeUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ service_account_token: request.status!.token }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

before(async () => {
  cluster = await testCluster();
  await installCrd(cluster.kubeConfig);
  await createFliptTarget(cluster.clients, FLIPT);
  appNamespace = 'team-lifecycle';
  await cluster.clients.core.createNamespace({ body: { metadata: { name: appNamespace } } });
  const kubeconfig = await operatorKubeconfig(cluster);
  const example = parse(readFileSync(new URL('../../deploy/config.yaml', import.meta.url), 'utf8')) as { targets: Array<Record<string, unknown>> };
  const target = { ...example.targets[0], restart: { minInterval: '1s' } };
  const written = writeOperatorConfig({
    targets: [target],
    leaderElection: { enabled: true, namespace: OPERATOR_NAMESPACE, leaseName: 'flipt-client-operator' },
    exchange: { enabled: true, audiences: ['flipt-client-operator'] },
  });
  const configPath = written.path;
  exchangeUrl = `http://127.0.0.1:${written.ports.exchange}/auth/v1/method/kubernetes/serviceaccount`;
  configMaps = await recordHistory<V1ConfigMap>(cluster.kubeConfig, `/api/v1/namespaces/flipt/configmaps`, 'flipt');
  deployments = await recordHistory<V1Deployment>(cluster.kubeConfig, `/apis/apps/v1/namespaces/flipt/deployments`, 'flipt');
  credentialSecrets = await recordHistory<V1Secret>(cluster.kubeConfig, `/api/v1/namespaces/flipt/secrets`, 'flipt-client-credentials');
  operator = startOperator(configPath, kubeconfig);
});

after(async () => {
  configMaps?.stop();
  deployments?.stop();
  credentialSecrets?.stop();
  await operator?.stop();
  if (cluster) await removeFliptClients(cluster, appNamespace);
});

async function fliptConfig(): Promise<string> {
  const cm = await cluster.clients.core.readNamespacedConfigMap({ name: 'flipt', namespace: 'flipt' });
  return cm.data!['default.yml']!;
}

async function credentials(): Promise<Record<string, string>> {
  const secret = await cluster.clients.core.readNamespacedSecret({ name: 'flipt-client-credentials', namespace: 'flipt' });
  return decodeSecretData(secret.data);
}

const restarts = () => changes(deployments, (d) => d.spec?.template?.metadata?.annotations?.[RESTARTED_AT] ?? null);
const MIN_INTERVAL_MS = 1000;

/** Waits until minInterval plus 2 s after the last restart (a held-back restart has had its chance), and for the watches to catch up. */
async function quietPeriod(): Promise<void> {
  const restartedAt = Date.parse(deployments.versions.at(-1)?.spec?.template?.metadata?.annotations?.[RESTARTED_AT] ?? '');
  const until = Math.max(Date.now(), Number.isNaN(restartedAt) ? 0 : restartedAt + MIN_INTERVAL_MS) + 2_000;
  await new Promise((r) => setTimeout(r, until - Date.now()));
  await Promise.all([configMaps.caughtUp(), deployments.caughtUp(), credentialSecrets.caughtUp()]);
}

/** Every token the run has seen: the clients' and every version of the credentials Secret's. */
function allTokens(): string[] {
  const fromCredentials = credentialSecrets.versions.flatMap((s) => Object.values(decodeSecretData(s.data)));
  return [...new Set([...seenTokens, ...fromCredentials])].filter((t) => /^[0-9a-f]{64}$/.test(t));
}

test('a FliptClient gets a Secret, a registered token, one restart, and Ready after the rollout', async () => {
  await createFliptClient(cluster.clients, appNamespace, 'checkout', { metadata: { team: 'payments' }, serviceAccounts: ['checkout'] });

  let secretToken = '';
  await waitFor(async () => {
    const secret = await cluster.clients.core.readNamespacedSecret({ name: 'checkout-flipt', namespace: appNamespace });
    secretToken = secretValue(secret, 'token')!;
    return secretToken.length > 0;
  }, 'client Secret');
  seenTokens.push(secretToken);
  const secret = await cluster.clients.core.readNamespacedSecret({ name: 'checkout-flipt', namespace: appNamespace });
  // Compared without printing: a failing assertion shows its values.
  assert.ok(/^[0-9a-f]{64}$/.test(secretToken), 'the token is 64 hex characters');
  assert.ok(secretValue(secret, 'authorization') === `Bearer ${secretToken}`, 'authorization is "Bearer <token>"');
  assert.equal(secretValue(secret, 'url'), 'http://flipt.flipt.svc.cluster.local:8080');
  assert.equal(secret.metadata!.labels!['app.kubernetes.io/managed-by'], 'flipt-client-operator');
  assert.equal(secret.metadata!.labels!['flipt.io/client'], 'checkout');
  const owner = secret.metadata!.ownerReferences!.find((r) => r.controller);
  const client = await getFliptClient(cluster.clients, appNamespace, 'checkout');
  assert.equal(owner?.uid, client.metadata.uid);
  assert.equal(owner?.kind, 'FliptClient');

  await waitFor(async () => (await fliptConfig()).includes('team-lifecycle_checkout'), 'token in Flipt config');
  const config = await fliptConfig();
  assertValidFliptConfig(config);
  const doc = parse(config);
  const tokens = doc.authentication.methods.token.storage.tokens;
  // The credential hidden: what fails this check may be the token written where the reference belongs.
  const entry = tokens['team-lifecycle_checkout'];
  assert.deepEqual({ ...entry, credential: hidden(entry?.credential) }, {
    credential: hidden('${secret:file:team-lifecycle_checkout}'),
    metadata: { 'fliptclient-name': 'checkout', 'fliptclient-namespace': appNamespace, team: 'payments' },
  });
  assert.ok(tokens['ci-pipeline'], 'hand-written token survives');
  assert.ok(config.includes('# hand-written token: the operator must never touch it'), 'comment survives');
  assert.equal(doc.secrets.providers.file.enabled, true);
  assert.ok(!config.includes(secretToken), 'secretFile mode keeps the token out of the ConfigMap');
  assert.equal(hidden((await credentials())['team-lifecycle_checkout']), hidden(secretToken));

  await waitFor(() => restarts() === 1, 'one restart');
  // The operator's passes after the restart must keep it not Ready until the rollout is reported.
  await waitFor(async () => condition(await getFliptClient(cluster.clients, appNamespace, 'checkout'), 'Ready')?.reason === 'RolloutInProgress', 'RolloutInProgress');
  for (const until = Date.now() + 3000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
    const during = await getFliptClient(cluster.clients, appNamespace, 'checkout');
    assert.notEqual(condition(during, 'Ready')?.status, 'True', 'not Ready before the rollout finished');
    assert.equal(condition(during, 'Ready')?.reason, 'RolloutInProgress');
    assert.equal(condition(during, 'ConfigApplied')?.status, 'True');
  }

  await finishRollout(cluster.clients, 'flipt', 'flipt');
  await waitFor(async () => condition(await getFliptClient(cluster.clients, appNamespace, 'checkout'), 'Ready')?.status === 'True', 'Ready');
  const ready = await getFliptClient(cluster.clients, appNamespace, 'checkout');
  assert.equal(ready.status?.secretName, 'checkout-flipt');
  assert.equal(ready.status?.tokenId, 'team-lifecycle_checkout');
  assert.equal(ready.status?.credentialFingerprint, fingerprint(secretToken));
  assert.equal(ready.status?.observedGeneration, ready.metadata.generation);
  assert.ok(ready.status?.issuedAt);
  assert.deepEqual(ready.metadata.finalizers, ['flipt.io/revoke-token']);
  assert.equal(restarts(), 1, 'still exactly one restart');
});

test('the exchange, run by the operator under deploy/ RBAC, trades the pod token for the credential', async () => {
  await cluster.clients.core.createNamespacedServiceAccount({ namespace: appNamespace, body: { metadata: { name: 'checkout' } } });
  let answer = await exchange('checkout');
  for (let i = 0; i < 20 && answer.status === 401; i++) {
    await new Promise((r) => setTimeout(r, 250)); // the apiserver may not see a brand-new ServiceAccount yet
    answer = await exchange('checkout');
  }
  assert.equal(answer.status, 200, withoutCredential(JSON.stringify(answer.body)));
  assert.equal(hidden(answer.body.clientToken), hidden(seenTokens[0]));
  assert.equal(answer.body.authentication.metadata['io.flipt.auth.k8s.namespace'], appNamespace);
  assert.equal(answer.body.authentication.metadata['io.flipt.auth.k8s.serviceaccount.name'], 'checkout');

  await cluster.clients.core.createNamespacedServiceAccount({ namespace: appNamespace, body: { metadata: { name: 'nobody' } } });
  const unbound = await exchange('nobody');
  assert.equal(unbound.status, 403);
  assert.equal(unbound.body.code, 7);
});

test('two FliptClients claiming one service account: neither is served, both say so', async () => {
  await createFliptClient(cluster.clients, appNamespace, 'rival', { serviceAccounts: ['checkout'] });
  for (const name of ['checkout', 'rival']) {
    await waitFor(async () => condition(await getFliptClient(cluster.clients, appNamespace, name), 'ServiceAccountsBound')?.reason === 'ServiceAccountConflict', `${name} reports the conflict`);
  }
  const rivalSecret = await cluster.clients.core.readNamespacedSecret({ name: 'rival-flipt', namespace: appNamespace });
  seenTokens.push(secretValue(rivalSecret, 'token')!);
  const checkout = await getFliptClient(cluster.clients, appNamespace, 'checkout');
  assert.match(condition(checkout, 'ServiceAccountsBound')!.message, /checkout \(also claimed by rival\)/);
  assert.equal(condition(checkout, 'Ready')?.reason, 'ServiceAccountConflict');
  const contested = await exchange('checkout');
  assert.equal(contested.status, 403);
  assert.equal(contested.body.code, 7);
  assert.ok(!JSON.stringify(contested.body).includes(seenTokens[0]!));

  await deleteFliptClient(cluster.clients, appNamespace, 'rival');
  await waitFor(async () => condition(await getFliptClient(cluster.clients, appNamespace, 'checkout'), 'ServiceAccountsBound')?.status === 'True', 'conflict cleared');
  await finishRollout(cluster.clients, 'flipt', 'flipt');
  await waitFor(async () => condition(await getFliptClient(cluster.clients, appNamespace, 'checkout'), 'Ready')?.status === 'True', 'Ready again');
  assert.equal((await exchange('checkout')).status, 200);
});

test('a rival claiming the service account that no target serves: the conflict shows on the served client and clears when the rival goes, though no target changes', async () => {
  await createFliptClient(cluster.clients, appNamespace, 'stray', { target: 'no-such-target', serviceAccounts: ['checkout'] });
  await waitFor(async () => condition(await getFliptClient(cluster.clients, appNamespace, 'checkout'), 'ServiceAccountsBound')?.reason === 'ServiceAccountConflict', 'checkout reports the conflict');
  assert.equal((await exchange('checkout')).status, 403);
  await deleteFliptClient(cluster.clients, appNamespace, 'stray');
  await waitFor(async () => condition(await getFliptClient(cluster.clients, appNamespace, 'checkout'), 'ServiceAccountsBound')?.status === 'True', 'conflict cleared');
  await waitFor(async () => condition(await getFliptClient(cluster.clients, appNamespace, 'checkout'), 'Ready')?.status === 'True', 'Ready again');
  assert.equal((await exchange('checkout')).status, 200);
});

test('a spec change updates the token metadata with one more restart, keeping the token', async () => {
  const writesBefore = configMaps.versions.length;
  const restartsBefore = restarts();
  await patchFliptClientSpec(cluster.clients, appNamespace, 'checkout', { metadata: { team: 'payments', tier: 'gold' } });
  await waitFor(async () => parse(await fliptConfig()).authentication.methods.token.storage.tokens['team-lifecycle_checkout'].metadata.tier === 'gold', 'metadata in config');
  await waitFor(() => restarts() === restartsBefore + 1, 'one more restart');
  await quietPeriod();
  assert.equal(restarts(), restartsBefore + 1, 'one more restart, and not two');
  assert.ok(configMaps.versions.length > writesBefore);
  const client = await getFliptClient(cluster.clients, appNamespace, 'checkout');
  assert.equal(client.status?.credentialFingerprint, fingerprint(seenTokens[0]!), 'token unchanged');
  await finishRollout(cluster.clients, 'flipt', 'flipt');
  await waitFor(async () => {
    const c = await getFliptClient(cluster.clients, appNamespace, 'checkout');
    return condition(c, 'Ready')?.status === 'True' && c.status?.observedGeneration === c.metadata.generation;
  }, 'Ready at the new generation');
});

test("the ConfigMap applied again with its text but without the operator's record (or with a broken one): the record comes back, with no conflict and no restart", async () => {
  await quietPeriod();
  const restartsBefore = restarts();
  const readyBefore = condition(await getFliptClient(cluster.clients, appNamespace, 'checkout'), 'Ready');
  assert.equal(readyBefore?.status, 'True');
  const configMap = await cluster.clients.core.readNamespacedConfigMap({ name: 'flipt', namespace: 'flipt' });
  const text = configMap.data!['default.yml']!;
  const record = configMap.metadata!.annotations![MANAGED_TOKENS];
  assert.deepEqual(JSON.parse(record!), ['team-lifecycle_checkout']);
  for (const lost of [undefined, 'team-lifecycle_checkout']) {
    const current = await cluster.clients.core.readNamespacedConfigMap({ name: 'flipt', namespace: 'flipt' });
    if (lost === undefined) delete current.metadata!.annotations![MANAGED_TOKENS];
    else current.metadata!.annotations![MANAGED_TOKENS] = lost;
    await cluster.clients.core.replaceNamespacedConfigMap({ name: 'flipt', namespace: 'flipt', body: current });
    await waitFor(async () => (await cluster.clients.core.readNamespacedConfigMap({ name: 'flipt', namespace: 'flipt' })).metadata?.annotations?.[MANAGED_TOKENS] === record, `the record written back over ${String(lost)}`);
  }
  await quietPeriod();
  assert.equal(await fliptConfig(), text, 'the text as it was');
  assert.equal(restarts(), restartsBefore, 'no restart');
  const checkout = await getFliptClient(cluster.clients, appNamespace, 'checkout');
  assert.deepEqual(condition(checkout, 'Ready'), readyBefore, 'Ready all along: its token was never taken for a hand-written one');
});

test('Events tell the story and never carry the token', async () => {
  const events = await cluster.clients.events.listNamespacedEvent({ namespace: appNamespace });
  const reasons = events.items.filter((e) => e.regarding?.name === 'checkout').map((e) => e.reason);
  // A first token is announced by Ready alone, not by an Event of its own as well.
  assert.ok(reasons.includes('Ready'), `reasons: ${reasons.join(', ')}`);
  assert.ok(!reasons.includes('TokenIssued'), `reasons: ${reasons.join(', ')}`);
  const all = JSON.stringify([events.items, (await cluster.clients.events.listNamespacedEvent({ namespace: 'flipt' })).items]);
  const tokens = allTokens();
  assert.ok(tokens.length >= 2, 'the tokens of both FliptClients are searched for');
  for (const token of tokens) assert.ok(!all.includes(token), 'token found in an Event');
});

test('deleting the FliptClient removes its token from config and credentials, then the finalizer', async () => {
  await quietPeriod();
  const restartsBefore = restarts();
  const restartedAtBefore = deployments.versions.at(-1)?.spec?.template?.metadata?.annotations?.[RESTARTED_AT];
  const client = await recordHistory<FliptClient>(cluster.kubeConfig, `/apis/flipt.io/v1alpha1/namespaces/${appNamespace}/fliptclients`, 'checkout');
  try {
    await deleteFliptClient(cluster.clients, appNamespace, 'checkout');
    await waitFor(async () => !(await fliptConfig()).includes('team-lifecycle_checkout'), 'token removed from config');
    assert.ok(parse(await fliptConfig()).authentication.methods.token.storage.tokens['ci-pipeline'], 'hand-written token survives');
    assertValidFliptConfig(await fliptConfig());
    await waitFor(() => restarts() === restartsBefore + 1, 'the revoking restart');
    await waitFor(() => client.deleted !== undefined, 'FliptClient gone (finalizer removed)');
    // The order, from the API server's own revisions: the restart without the token, then the deletion.
    const revoking = deployments.versions.find((d) => d.spec?.template?.metadata?.annotations?.[RESTARTED_AT] !== restartedAtBefore && revision(d) > revision(client.versions[0]!))!;
    assert.ok(revision(revoking) < revision(client.deleted!), `the finalizer went (revision ${revision(client.deleted!)}) only after the revoking restart (${revision(revoking)})`);
    assert.ok(client.versions.some((c) => c.metadata.deletionTimestamp), 'the FliptClient waited, marked for deletion');
  } finally {
    client.stop();
  }

  // The credential stays until Flipt has rolled out without it: old pods still hold the token.
  for (const until = Date.now() + 2000; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
    assert.ok('team-lifecycle_checkout' in (await credentials()), 'the credential is kept while the rollout is not finished');
  }
  const generation = await finishRollout(cluster.clients, 'flipt', 'flipt');
  await waitFor(async () => !('team-lifecycle_checkout' in (await credentials())), 'credential dropped after the rollout');
  await credentialSecrets.caughtUp();
  await deployments.caughtUp();
  const reported = deployments.versions.find((d) => (d.status?.observedGeneration ?? 0) >= generation && d.status?.updatedReplicas === d.spec?.replicas)!;
  const dropped = credentialSecrets.versions.find((s) => revision(s) > revision(reported) - 1 && !('team-lifecycle_checkout' in (s.data ?? {})))!;
  assert.ok(dropped, 'a credentials version without the token');
  const lastWith = credentialSecrets.versions.filter((s) => 'team-lifecycle_checkout' in (s.data ?? {})).at(-1)!;
  assert.ok(revision(lastWith) < revision(reported) && revision(reported) < revision(dropped), 'dropped only after the rollout was reported');
});

test('no token ever appears in the operator logs', async () => {
  const output = operator.output();
  assert.ok(output.includes('restarting Flipt'), 'logs were captured');
  for (const token of allTokens()) assert.ok(!output.includes(token), 'token found in logs');
  const denied = output
    .split('\n')
    .filter((l) => /cannot (get|list|watch|create|update|patch|delete) resource/.test(l) || (l.includes('watch failed') && l.includes('403')));
  assert.deepEqual(denied, [], 'the operator hit an RBAC denial under deploy/ RBAC');
});

test('every log line is one JSON object with no key written twice (parsers disagree on which wins)', () => {
  const lines = operator.output().split('\n').filter((l) => l.startsWith('{'));
  assert.ok(lines.length > 10, 'logs were captured');
  // Written without a repeated key, a line is exactly what JSON.stringify makes of its parse.
  const repeated = lines.filter((l) => JSON.stringify(JSON.parse(l)) !== l);
  assert.deepEqual(repeated, [], 'lines with a key written twice');
  const exchangeLines = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.component === 'exchange');
  assert.ok(exchangeLines.length > 0, 'the exchange logs with component "exchange"');
  assert.ok(exchangeLines.every((l) => l.name === 'flipt-client-operator'));
});
