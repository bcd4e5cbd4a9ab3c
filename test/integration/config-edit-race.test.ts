// Someone edits Flipt's ConfigMap (by hand, or helm upgrade) while the operator's write of it is on its
// way: the operator writes only on top of the version it read (the resourceVersion precondition), so
// the API server refuses the late write and the operator writes again on top of the edit. Nothing of
// the edit is lost. The operator reaches the API server through a proxy that delays its ConfigMap write.
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
