// A client Secret's watch that lags behind its FliptClient's, against a real API server with the
// operator as a real process reaching it through a proxy (deploy/'s RBAC) that holds back every client
// Secret's watch event for a while, for a JWT client (a first JWT, then a rotate request) and a static
// one (a rotation): the operator reads the Secret before it takes it for lost or stale, so it issues no
// credential nobody asked for, fails no reconcile over it, the status never names a credential the
// Secret no longer holds, and Ready, once True, never drops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import { mergePatch } from '../../src/kube/client.ts';
import { secretValue } from '../../src/kube/secret-data.ts';
import { fingerprint } from '../../src/vocabulary/credentials.ts';
import { GROUP, PLURAL, VERSION, type FliptClient, type FliptClientSpec } from '../../src/vocabulary/fliptclient.ts';
import { ROTATE_ANNOTATION } from '../../src/vocabulary/rotation.ts';
import { recordHistory } from '../support/api-watch.ts';
import { waitFor } from '../support/cluster.ts';
import { condition, createFliptClient, getFliptClient } from '../support/fliptclients.ts';
import { Scenario, type ScenarioOptions } from '../support/scenario.ts';

/** The operator's cluster-wide informer of client Secrets. */
const CLIENT_SECRETS_WATCH = /^\/api\/v1\/secrets\?(.*&)?watch=true/;
/** Long enough for every reconcile that a status write brings to run while the Secret watch is held. */
const LAG_MS = 3_000;
const NAME = 'lagged';

/** The values in order, each repeat of the one before dropped. */
const runs = (values: Array<string | undefined>) => values.filter((v): v is string => v !== undefined).filter((v, i, all) => i === 0 || v !== all[i - 1]);

/**
 * Starts a scenario behind the proxy, creates one client while the client Secrets' watch lags (until
 * its credential is issued, and a while after), then requests a rotation while it lags again (until the
 * request is answered, and a while after); returns what the Secret held and the status named, in order.
 */
async function lagThroughIssueAndRotation(options: ScenarioOptions, spec: Partial<FliptClientSpec>, rotated: (client: FliptClient) => boolean) {
  const scenario = await Scenario.start({ ...options, minInterval: '1s', deployRbac: {}, apiProxy: true });
  const app = await scenario.createAppNamespace(`lag-${Date.now().toString(36)}`);
  const secrets = await recordHistory<V1Secret>(scenario.cluster.kubeConfig, `/api/v1/namespaces/${app}/secrets`, `${NAME}-flipt`);
  const statuses = await recordHistory<FliptClient>(scenario.cluster.kubeConfig, `/apis/${GROUP}/${VERSION}/namespaces/${app}/${PLURAL}`, NAME);
  const proxy = scenario.proxy!;
  const get = () => getFliptClient(scenario.cluster.clients, app, NAME);
  try {
    await waitFor(() => scenario.restarts() >= (options.credentialKind === 'jwt' ? 1 : 0), "Flipt's config in place", 30_000);
    await scenario.quietPeriod();
    proxy.lag(CLIENT_SECRETS_WATCH);
    await createFliptClient(scenario.cluster.clients, app, NAME, spec);
    await waitFor(async () => (await get()).status?.credentialFingerprint !== undefined, 'issued while the Secret watch lags', 60_000);
    await new Promise((r) => setTimeout(r, LAG_MS));
    proxy.catchUp();
    await waitFor(async () => condition(await get(), 'Ready')?.status === 'True', 'Ready', 60_000);
    await scenario.quietPeriod();

    const logFrom = scenario.operator.output().length;
    proxy.lag(CLIENT_SECRETS_WATCH);
    await scenario.cluster.clients.custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace: app, name: NAME, body: { metadata: { annotations: { [ROTATE_ANNOTATION]: 'lag-1' } } } },
      mergePatch,
    );
    await waitFor(async () => (await get()).status?.lastRotateRequest === 'lag-1', 'the rotate request answered while the Secret watch lags', 60_000);
    await new Promise((r) => setTimeout(r, LAG_MS));
    proxy.catchUp();
    await waitFor(async () => rotated(await get()), 'the rotation over', 60_000);
    await scenario.quietPeriod();
    await secrets.caughtUp();
    await statuses.caughtUp();
    const client = await get();
    const events = (await scenario.cluster.clients.events.listNamespacedEvent({ namespace: app })).items.map((e) => e.reason ?? '');
    return {
      held: runs(secrets.versions.map((s) => (s.data?.token ? fingerprint(secretValue(s, 'token')!) : undefined))),
      named: runs(statuses.versions.map((c) => c.status?.credentialFingerprint)),
      readyAfterFirst: runs(statuses.versions.map((c) => condition(c, 'Ready')?.status).slice(statuses.versions.findIndex((c) => condition(c, 'Ready')?.status === 'True'))),
      ready: condition(client, 'Ready')?.status,
      events,
      failures: scenario.operator.output().slice(logFrom).split('\n').filter((l) => l.includes('reconcile failed')),
    };
  } finally {
    secrets.stop();
    statuses.stop();
    await scenario.stop();
  }
}

/** One credential for the first issue and one for the rotate request, named in order by the status, Ready throughout, nothing failed or restored. */
function assertUnharmed(seen: Awaited<ReturnType<typeof lagThroughIssueAndRotation>>, credentials: string): void {
  assert.equal(seen.held.length, 2, `the Secret held ${seen.held.length} ${credentials}: one, then one for the rotate request`);
  assert.deepEqual(seen.named, seen.held, `the status named the Secret's ${credentials} in the same order, none twice`);
  assert.equal(seen.ready, 'True');
  assert.deepEqual(seen.readyAfterFirst, ['True'], 'Ready, once True, stayed True in every version of the status');
  assert.ok(!seen.events.includes('SecretRestored'), `no Secret was taken for lost: ${seen.events.join(', ')}`);
  assert.deepEqual(seen.failures, [], 'no reconcile failed over the lag');
}

test('JWT: a first JWT and a rotate request while the Secret watch lags: exactly one JWT each, and the status names only the JWT the Secret holds', async () => {
  assertUnharmed(await lagThroughIssueAndRotation({ credentialKind: 'jwt' }, {}, () => true), 'JWTs');
});

test('static token: a first token and a rotation while the Secret watch lags: one token each, no reconcile fails over it, and the status names only the token the Secret holds', async () => {
  const rotated = (client: FliptClient) => condition(client, 'Rotating')?.status === 'False';
  assertUnharmed(await lagThroughIssueAndRotation({}, { rotation: { every: '24h', overlap: '2s' } }, rotated), 'tokens');
});
