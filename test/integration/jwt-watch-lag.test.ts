// A JWT client whose Secret's watch lags behind its own, against a real API server with the operator as a
// real process reaching it through a proxy (deploy/'s RBAC) that holds back every client Secret's watch
// event for a while: the operator reads the Secret before it takes it for lost or stale, so it issues no
// JWT nobody asked for, and the status never names a JWT the Secret no longer holds.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import { mergePatch } from '../../src/kube/client.ts';
import { fingerprint } from '../../src/vocabulary/credentials.ts';
import { GROUP, PLURAL, VERSION, type FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { ROTATE_ANNOTATION } from '../../src/vocabulary/rotation.ts';
import { recordHistory } from '../support/api-watch.ts';
import { waitFor } from '../support/cluster.ts';
import { condition, createFliptClient, getFliptClient } from '../support/fliptclients.ts';
import { Scenario } from '../support/scenario.ts';

const APP = `jwt-lag-${Date.now().toString(36)}`;
const NAME = 'lagged';
/** The operator's cluster-wide informer of client Secrets. */
const CLIENT_SECRETS_WATCH = /^\/api\/v1\/secrets\?(.*&)?watch=true/;
/** Long enough for every reconcile that a status write brings to run while the Secret watch is held. */
const LAG_MS = 3_000;
let scenario: Scenario;

before(async () => {
  scenario = await Scenario.start({ credentialKind: 'jwt', minInterval: '2s', deployRbac: {}, apiProxy: true });
  await scenario.createAppNamespace(APP);
  await waitFor(() => scenario.restarts() === 1, 'the restart that enables the jwt method', 30_000);
  await scenario.quietPeriod();
});

after(async () => {
  await scenario?.stop();
});

/** The values in order, each repeat of the one before dropped. */
const runs = (values: Array<string | undefined>) => values.filter((v): v is string => v !== undefined).filter((v, i, all) => i === 0 || v !== all[i - 1]);

test('a first JWT and a rotate request while the Secret watch lags: exactly one JWT each, and the status names only the JWT the Secret holds', async () => {
  const secrets = await recordHistory<V1Secret>(scenario.cluster.kubeConfig, `/api/v1/namespaces/${APP}/secrets`, `${NAME}-flipt`);
  const statuses = await recordHistory<FliptClient>(scenario.cluster.kubeConfig, `/apis/${GROUP}/${VERSION}/namespaces/${APP}/${PLURAL}`, NAME);
  const proxy = scenario.proxy!;
  const get = () => getFliptClient(scenario.cluster.clients, APP, NAME);
  try {
    proxy.lag(CLIENT_SECRETS_WATCH);
    await createFliptClient(scenario.cluster.clients, APP, NAME, {});
    await waitFor(async () => condition(await get(), 'Ready')?.status === 'True', 'Ready while the Secret watch lags', 30_000);
    await new Promise((r) => setTimeout(r, LAG_MS));
    proxy.catchUp();
    await new Promise((r) => setTimeout(r, 1_000));

    proxy.lag(CLIENT_SECRETS_WATCH);
    await scenario.cluster.clients.custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace: APP, name: NAME, body: { metadata: { annotations: { [ROTATE_ANNOTATION]: 'lag-1' } } } },
      mergePatch,
    );
    await waitFor(async () => (await get()).status?.lastRotateRequest === 'lag-1', 'the rotate request answered while the Secret watch lags', 30_000);
    await new Promise((r) => setTimeout(r, LAG_MS));
    proxy.catchUp();
    await scenario.quietPeriod();
    await secrets.caughtUp();
    await statuses.caughtUp();

    const held = runs(secrets.versions.map((s) => (s.data?.token ? fingerprint(Buffer.from(s.data.token, 'base64').toString()) : undefined)));
    const named = runs(statuses.versions.map((c) => c.status?.credentialFingerprint));
    assert.equal(held.length, 2, `the Secret held ${held.length} JWTs: one, then one for the rotate request`);
    assert.deepEqual(named, held, 'the status named the Secret\'s JWTs in the same order, none twice');
    const client = await get();
    assert.equal(condition(client, 'Ready')?.status, 'True');
    const events = (await scenario.cluster.clients.events.listNamespacedEvent({ namespace: APP })).items.map((e) => e.reason);
    assert.ok(!events.includes('SecretRestored'), `no Secret was taken for lost: ${events.join(', ')}`);
  } finally {
    secrets.stop();
    statuses.stop();
  }
});
