// What keeps a JWT target from working says so, against a real API server with the operator as a real
// process: Flipt's kubernetes method (Flipt cannot run it beside the jwt method) and an operator config
// that does not say where Flipt fetches the JWKS. Flipt's config is left alone meanwhile, the client's
// conditions and a Warning Event say what to do, and fixing the cause is all it takes. And what must
// not stop JWTs from being refreshed: an operator started while Flipt's rollout is stuck.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { secretValue } from '../../src/kube/secret-data.ts';
import { readJwt } from '../../src/vocabulary/client-jwt.ts';
import { SECRET_CREATES, refusingNamespace } from '../support/admission-policy.ts';
import { recordHistory, type ObjectHistory } from '../support/api-watch.ts';
import { waitFor } from '../support/cluster.ts';
import { finishRollout, SAMPLE_FLIPT_CONFIG } from '../support/flipt-target.ts';
import { hidden } from '../support/hidden.ts';
import { assertValidFliptConfig } from '../support/flipt-schema.ts';
import { condition, createFliptClient, getFliptClient } from '../support/fliptclients.ts';
import { Scenario, withoutCredential } from '../support/scenario.ts';

const WITH_KUBERNETES = SAMPLE_FLIPT_CONFIG.replace('    token:\n', '    kubernetes:\n      enabled: true\n    token:\n');

async function refusedWith(scenario: Scenario, app: string, reason: string): Promise<string> {
  await scenario.createAppNamespace(app);
  await createFliptClient(scenario.cluster.clients, app, 'web', {});
  await waitFor(async () => condition(await getFliptClient(scenario.cluster.clients, app, 'web'), 'Ready')?.reason === reason, `Ready reason ${reason}`, 30_000);
  const client = await getFliptClient(scenario.cluster.clients, app, 'web');
  assert.equal(condition(client, 'Ready')?.status, 'False');
  assert.equal(condition(client, 'ConfigApplied')?.reason, reason);
  await waitFor(async () => (await scenario.cluster.clients.events.listNamespacedEvent({ namespace: app })).items.some((e) => e.reason === reason && e.type === 'Warning'), `a Warning Event ${reason}`, 10_000);
  await scenario.quietPeriod();
  assert.equal(scenario.configWrites(), 0, "Flipt's config is left as it is");
  assert.equal(scenario.restarts(), 0);
  const secret = await scenario.cluster.clients.core.readNamespacedSecret({ name: 'web-flipt', namespace: app }).catch(() => undefined);
  assert.equal(secret && hidden(secret.data ?? {}), undefined, 'no credential Flipt would refuse');
  return condition(client, 'Ready')!.message;
}

test("a Flipt config with the kubernetes method: KubernetesMethodEnabled, saying how to fix it; once it is off, the jwt method goes in and the client is Ready", async () => {
  const scenario = await Scenario.start({ credentialKind: 'jwt', minInterval: '1s', fliptConfig: WITH_KUBERNETES });
  try {
    assertValidFliptConfig(WITH_KUBERNETES);
    const app = `jwt-k8s-${Date.now().toString(36)}`;
    const message = await refusedWith(scenario, app, 'KubernetesMethodEnabled');
    assert.match(message, /enables the kubernetes method, and Flipt cannot enable the jwt method beside it: set authentication\.methods\.kubernetes\.enabled: false/);
    // The exchange gives a client that is not Ready nothing, not even a fresh JWT of its own (Flipt would refuse it).
    await scenario.cluster.clients.core.createNamespacedServiceAccount({ namespace: app, body: { metadata: { name: 'caller' } } });
    await createFliptClient(scenario.cluster.clients, app, 'called', { serviceAccounts: ['caller'] });
    await waitFor(async () => condition(await getFliptClient(scenario.cluster.clients, app, 'called'), 'Ready')?.reason === 'KubernetesMethodEnabled', 'called Ready reason KubernetesMethodEnabled', 30_000);
    // The exchange's own caches may lag: 403 until they hold the binding, 503 with another reason until they hold the status.
    const answer = await scenario.exchangeUntil(app, 'caller', (status, body) => status === 200 || body.includes('KubernetesMethodEnabled'), 'the exchange to say why', 15_000);
    assert.equal(answer.status, 503, withoutCredential(answer.body));
    assert.match(answer.body, /is not Ready \(KubernetesMethodEnabled: /);
    const configMap = await scenario.cluster.clients.core.readNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace });
    configMap.data!['default.yml'] = SAMPLE_FLIPT_CONFIG;
    await scenario.cluster.clients.core.replaceNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace, body: configMap });
    await waitFor(async () => condition(await getFliptClient(scenario.cluster.clients, app, 'web'), 'Ready')?.status === 'True', 'web Ready', 30_000);
    const config = await scenario.fliptConfig();
    assertValidFliptConfig(config);
    assert.equal(parse(config).authentication.methods.jwt.enabled, true);
    assert.equal(scenario.restarts(), 1, 'one restart, once the cause is gone');
    const logged = scenario.operator
      .logRecords()
      .filter((line) => /^target can(not)? use JWTs/.test(line.msg))
      .map((line) => `${line.level} ${line.msg} ${String(line.reason)}`);
    assert.deepEqual(logged, ['warn target cannot use JWTs KubernetesMethodEnabled', 'info target can use JWTs again KubernetesMethodEnabled'], 'one line when it is blocked, one when it is not');
  } finally {
    await scenario.stop();
  }
});

test('an operator config without jwt.jwksUrl: JwksUrlMissing, naming the setting; nothing is written', async () => {
  const scenario = await Scenario.start({ credentialKind: 'jwt', minInterval: '1s', jwt: { jwksUrl: false } });
  try {
    const message = await refusedWith(scenario, `jwt-nourl-${Date.now().toString(36)}`, 'JwksUrlMissing');
    assert.match(message, /set jwt\.jwksUrl to the operator Service's exchange port/);
    assert.equal(parse(await scenario.fliptConfig()).authentication.methods.jwt, undefined);
  } finally {
    await scenario.stop();
  }
});

test('a JWT the API server refuses to store in the client Secret: SecretWriteFailed with its reason, then Ready once it may', async () => {
  const scenario = await Scenario.start({ credentialKind: 'jwt', minInterval: '1s' });
  try {
    await waitFor(() => scenario.restarts() === 1, 'the restart that enables the jwt method', 30_000);
    const { namespace, lift } = await refusingNamespace(scenario, 'jwt-refused', [SECRET_CREATES], 'no Secrets in this namespace');
    await createFliptClient(scenario.cluster.clients, namespace, 'web', {});
    await waitFor(async () => condition(await getFliptClient(scenario.cluster.clients, namespace, 'web'), 'Ready')?.reason === 'SecretWriteFailed', 'Ready reason SecretWriteFailed', 30_000);
    const client = await getFliptClient(scenario.cluster.clients, namespace, 'web');
    assert.match(condition(client, 'Ready')!.message, /^Writing Secret .*\/web-flipt failed \(.*no Secrets in this namespace.*\); the operator retries with backoff$/);
    assert.equal(client.status?.credentialFingerprint, undefined, 'no JWT recorded that no Secret holds');
    await lift();
    await waitFor(async () => condition(await getFliptClient(scenario.cluster.clients, namespace, 'web'), 'Ready')?.status === 'True', 'Ready once Secrets may be created', 60_000);
  } finally {
    await scenario.stop();
  }
});

test("an operator started while Flipt's rollout is stuck still refreshes JWTs: none expires in the Secret; Ready follows the rollout", async () => {
  const scenario = await Scenario.start({ credentialKind: 'jwt', minInterval: '1s', jwt: { lifetime: '10s' } });
  let secret: ObjectHistory<V1Secret> | undefined;
  try {
    const app = await scenario.createAppNamespace(`jwt-stuck-${Date.now().toString(36)}`);
    const { clients } = scenario.cluster;
    await createFliptClient(clients, app, 'web', {});
    await waitFor(async () => condition(await getFliptClient(clients, app, 'web'), 'Ready')?.status === 'True', 'Ready', 30_000);
    const history = await recordHistory<V1Secret>(scenario.cluster.kubeConfig, `/api/v1/namespaces/${app}/secrets`, 'web-flipt');
    secret = history;
    // Flipt's one replica becomes unavailable (its node gone, say): the rollout is not done, though the
    // pods that do run validate JWTs. The operator started now never saw a rollout of this config finish.
    const deployment = await clients.apps.readNamespacedDeployment({ name: 'flipt', namespace: scenario.namespace });
    await clients.apps.replaceNamespacedDeploymentStatus({ name: 'flipt', namespace: scenario.namespace, body: { ...deployment, status: { ...deployment.status, availableReplicas: 0 } } });
    await scenario.restartOperator();
    const watchedUntil = Date.now() + 25_000;
    await waitFor(async () => condition(await getFliptClient(clients, app, 'web'), 'Ready')?.status === 'False', 'Ready False while the rollout is stuck', 20_000);
    await new Promise((r) => setTimeout(r, watchedUntil - Date.now()));
    await history.caughtUp();
    const held = history.versions.map((v) => ({ expiresAt: readJwt(secretValue(v, 'token'))!.expiresAt, seenAt: history.receivedAt(v) }));
    for (const [i, jwt] of held.entries()) {
      const replacedAt = held[i + 1]?.seenAt ?? Date.now();
      assert.ok(replacedAt < jwt.expiresAt, `JWT ${i} of ${held.length} stayed in the Secret ${(replacedAt - jwt.expiresAt) / 1000}s past its expiry`);
    }
    assert.ok(held.length >= 3, `${held.length} JWTs over 25 s of 10 s JWTs`);
    const client = await getFliptClient(clients, app, 'web');
    assert.equal(condition(client, 'Ready')?.status, 'False', 'not Ready while it is unknown whether every pod validates JWTs');
    assert.equal(condition(client, 'CredentialIssued')?.reason, 'JwtIssued');
    await finishRollout(clients, scenario.namespace, 'flipt');
    await waitFor(async () => condition(await getFliptClient(clients, app, 'web'), 'Ready')?.status === 'True', 'Ready once the rollout is done', 20_000);
  } finally {
    secret?.stop();
    await scenario.stop();
  }
});
