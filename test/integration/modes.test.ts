// The other ways a target can take credentials: `env` (Flipt reads ${env:VAR}, the credentials
// Secret is its envFrom) with Flipt as a StatefulSet, and the documented-insecure `inline`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { secretValue } from '../../src/kube/secret-data.ts';
import { envVarFor, tokenIdFor } from '../../src/vocabulary/credentials.ts';
import { installCrd, testCluster, waitFor } from '../support/cluster.ts';
import { SAMPLE_FLIPT_CONFIG, createFliptStatefulSet } from '../support/flipt-target.ts';
import { hidden } from '../support/hidden.ts';
import { assertValidFliptConfig } from '../support/flipt-schema.ts';
import { condition, createFliptClient, getFliptClient, removeFliptClients } from '../support/fliptclients.ts';
import { Scenario } from '../support/scenario.ts';
import { startOperator, writeOperatorConfig } from '../support/operator-process.ts';
import { parse } from 'yaml';

async function clientSecretToken(scenario: { cluster: Awaited<ReturnType<typeof testCluster>> }, namespace: string, name: string): Promise<string> {
  const secret = await scenario.cluster.clients.core.readNamespacedSecret({ name: `${name}-flipt`, namespace });
  return secretValue(secret, 'token')!;
}

test('env mode with Flipt as a StatefulSet: ${env:VAR} references, env-named credentials, Ready after the rollout', async () => {
  const cluster = await testCluster();
  await installCrd(cluster.kubeConfig);
  const namespace = `flipt-env-${randomBytes(3).toString('hex')}`;
  const apps = `env-apps-${randomBytes(3).toString('hex')}`;
  const { core } = cluster.clients;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespace({ body: { metadata: { name: apps } } });
  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'flipt' }, data: { 'default.yml': SAMPLE_FLIPT_CONFIG } } });
  const stopController = await createFliptStatefulSet(cluster.clients, namespace, 'flipt');
  const { path } = writeOperatorConfig({
    targets: [{ name: 'default', namespace, configMap: { name: 'flipt' }, workload: { kind: 'StatefulSet', name: 'flipt' }, credentialReference: 'env', restart: { minInterval: '1s' } }],
  });
  const operator = startOperator(path, cluster.kubeconfigPath);
  try {
    await createFliptClient(cluster.clients, apps, 'billing');
    await waitFor(async () => condition(await getFliptClient(cluster.clients, apps, 'billing'), 'Ready')?.status === 'True', 'Ready', 30_000);

    const id = tokenIdFor(apps, 'billing');
    const variable = envVarFor(id);
    const config = (await core.readNamespacedConfigMap({ name: 'flipt', namespace })).data!['default.yml']!;
    assertValidFliptConfig(config);
    const doc = parse(config);
    assert.equal(hidden(doc.authentication.methods.token.storage.tokens[id].credential), hidden(`\${env:${variable}}`), `the credential of ${id} is the reference \${env:${variable}}`);
    assert.equal(doc.secrets, undefined, 'env mode does not turn on the file secrets provider');
    const credentials = await core.readNamespacedSecret({ name: 'flipt-client-credentials', namespace });
    assert.deepEqual(Object.keys(credentials.data!), [variable]);
    assert.ok(secretValue(credentials, variable) === (await clientSecretToken({ cluster }, apps, 'billing')), "the credentials Secret holds the client's token");
    const statefulSet = await cluster.clients.apps.readNamespacedStatefulSet({ name: 'flipt', namespace });
    assert.ok(statefulSet.spec!.template.metadata!.annotations!['flipt.io/config-hash'], 'the StatefulSet was restarted');
    assert.ok(!operator.output().includes(await clientSecretToken({ cluster }, apps, 'billing')));
  } finally {
    stopController();
    await operator.stop();
    await removeFliptClients(cluster, apps);
  }
});

test('inline mode (documented as insecure): the token itself sits in the config', async () => {
  const scenario = await Scenario.start({ minInterval: '1s', credentialReference: 'inline' });
  try {
    const apps = await scenario.createAppNamespace(`inline-apps-${randomBytes(3).toString('hex')}`);
    await createFliptClient(scenario.cluster.clients, apps, 'legacy');
    await waitFor(async () => condition(await getFliptClient(scenario.cluster.clients, apps, 'legacy'), 'Ready')?.status === 'True', 'Ready', 30_000);
    const token = await clientSecretToken(scenario, apps, 'legacy');
    const config = await scenario.fliptConfig();
    assertValidFliptConfig(config);
    assert.equal(hidden((await scenario.managedTokens())[tokenIdFor(apps, 'legacy')]?.credential), hidden(token));
    assert.ok(!scenario.allLogs().includes(token), 'still never in the logs');
  } finally {
    await scenario.stop();
  }
});
