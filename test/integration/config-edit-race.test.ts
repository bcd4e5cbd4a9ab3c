// Someone edits Flipt's ConfigMap (by hand, or helm upgrade) while the operator's write of it is on its
// way: the operator writes only on top of the version it read (the resourceVersion precondition), so
// the API server refuses the late write and the operator writes again on top of the edit. Nothing of
// the edit is lost. The same holds for its restart of Flipt's Deployment, whose record of the generation
// it produced must stay exact. The operator reaches the API server through a proxy that delays its writes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { tokenIdFor } from '../../src/vocabulary/credentials.ts';
import { waitFor } from '../support/cluster.ts';
import { condition, createFliptClient, getFliptClient } from '../support/fliptclients.ts';
import { Scenario } from '../support/scenario.ts';

let scenario: Scenario;

before(async () => {
  scenario = await Scenario.start({ minInterval: '1s', deployRbac: {}, apiProxy: true });
});

after(() => scenario?.stop());

test("a hand edit that lands while the operator's ConfigMap write is on its way is kept, and the client is registered on top of it", async () => {
  const app = await scenario.createAppNamespace(`race-${Date.now().toString(36)}`);
  const { core } = scenario.cluster.clients;
  const proxy = scenario.proxy!;
  await scenario.quietPeriod();
  proxy.delay(new RegExp(`^PUT /api/v1/namespaces/${scenario.namespace}/configmaps/flipt\\b`));
  await createFliptClient(scenario.cluster.clients, app, 'racer');
  await waitFor(() => proxy.delayedWrites === 1, "the operator's ConfigMap write on its way", 30_000, 100);

  const configMap = await core.readNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace });
  assert.doesNotMatch(configMap.data!['default.yml']!, /racer/, 'the write on its way is the only one with the client');
  configMap.data!['default.yml'] = configMap.data!['default.yml']!.replace('level: INFO', 'level: DEBUG');
  await core.replaceNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace, body: configMap });
  proxy.deliverDelayed();

  await waitFor(async () => condition(await getFliptClient(scenario.cluster.clients, app, 'racer'), 'Ready')?.status === 'True', 'racer Ready', 60_000);
  const config = parse(await scenario.fliptConfig());
  assert.equal(config.log.level, 'DEBUG', 'the hand edit is kept');
  assert.ok(config.authentication.methods.token.storage.tokens[tokenIdFor(app, 'racer')], 'and the client registered on top of it');
  assert.ok(config.authentication.methods.token.storage.tokens['ci-pipeline'], 'the hand-written token too');
});

test("a pod template edit that lands while the operator's restart is on its way: the restart is made on top of it, and a later replaced ConfigMap restarts nothing", async () => {
  const app = await scenario.createAppNamespace(`roll-${Date.now().toString(36)}`);
  const { apps, core } = scenario.cluster.clients;
  const proxy = scenario.proxy!;
  const ref = { name: 'flipt', namespace: scenario.namespace };
  await scenario.quietPeriod();
  proxy.delay(new RegExp(`^PATCH /apis/apps/v1/namespaces/${scenario.namespace}/deployments/flipt\\b`));
  await createFliptClient(scenario.cluster.clients, app, 'restarter');
  await waitFor(() => proxy.delayedWrites === 1, "the operator's restart on its way", 30_000, 100);

  // helm upgrade, say: a pod template change the operator's restart has not seen.
  const deployment = await apps.readNamespacedDeployment(ref);
  deployment.spec!.template.metadata = { ...deployment.spec!.template.metadata, annotations: { ...deployment.spec!.template.metadata?.annotations, 'example.com/rolled-by': 'hand' } };
  await apps.replaceNamespacedDeployment({ ...ref, body: deployment });
  proxy.deliverDelayed();

  await waitFor(async () => condition(await getFliptClient(scenario.cluster.clients, app, 'restarter'), 'Ready')?.status === 'True', 'restarter Ready', 60_000);
  const restarted = await apps.readNamespacedDeployment(ref);
  assert.equal(restarted.spec!.template.metadata!.annotations!['example.com/rolled-by'], 'hand', 'the hand edit is kept');
  // The operator's record of its restart names the generation its own patch produced: nobody rolled Flipt after it.
  assert.equal(restarted.metadata!.annotations!['flipt.io/restart-generation'], String(restarted.metadata!.generation));

  // The ConfigMap recreated with the same text and without the operator's record (as a chart that
  // recreates it would), and Flipt not rolled: its pods run that config already, so the record written
  // back is enough. A restart record one generation short would read as Flipt rolled on a foreign config.
  await scenario.quietPeriod();
  const configMap = await core.readNamespacedConfigMap(ref);
  const { 'flipt.io/managed-tokens': _record, ...annotations } = configMap.metadata!.annotations ?? {};
  await core.replaceNamespacedConfigMap({ ...ref, body: { ...configMap, metadata: { ...configMap.metadata, annotations } } });
  await waitFor(async () => (await core.readNamespacedConfigMap(ref)).metadata?.annotations?.['flipt.io/managed-tokens'] !== undefined, 'the record written back', 30_000, 100);
  await scenario.quietPeriod();
  assert.equal((await apps.readNamespacedDeployment(ref)).metadata!.generation, restarted.metadata!.generation, 'no restart');
});
