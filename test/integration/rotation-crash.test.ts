// A rotation survives the operator being SIGKILLed right after each of its steps, picked by progress
// seen on the API server (never by the clock): the new tokens issued, the config referring to them,
// Flipt restarted, the client Secrets switched, the old tokens retired. After each crash the rotation
// completes, each new token was issued exactly once, and at every recorded revision every client
// Secret held a token the running config accepts. Then the narrowest window: the status names the new
// token, the Secret's write never arrives (stalled by a proxy), and the operator dies and stays down
// longer than the overlap; the restarted one's FliptClient watch lags behind its Secret watch. The
// operator runs under deploy/'s RBAC.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import { mergePatch } from '../../src/kube/client.ts';
import { decodeSecretData, secretValue } from '../../src/kube/secret-data.ts';
import { fingerprint, tokenIdFor } from '../../src/vocabulary/credentials.ts';
import { recordHistory, revision, type ObjectHistory } from '../support/api-watch.ts';
import { waitFor } from '../support/cluster.ts';
import { assertSecretsAlwaysAccepted, latestRevision } from '../support/credential-invariant.ts';
import { condition, createFliptClient, getFliptClient } from '../support/fliptclients.ts';
import { hidden } from '../support/hidden.ts';
import { Scenario } from '../support/scenario.ts';

const APP = `rotation-crash-${Date.now().toString(36)}`;
const NAMES = ['c1', 'c2', 'c3'];
const OVERLAP_MS = 3_000;
/** The operator's cluster-wide informer of FliptClients. */
const FLIPTCLIENTS_WATCH = /^\/apis\/flipt\.io\/v1alpha1\/fliptclients\?(.*&)?watch=true/;
/** How long that watch lags once the switch time is recorded: ample for a Secret switched meanwhile to retire the old token. */
const LAG_MS = 1_000;
/** Two watches of this test may see their events this much apart. */
const WATCH_SLACK_MS = 100;
let scenario: Scenario;
const clientSecrets: Array<ObjectHistory<V1Secret>> = [];
let from = 0;

const nextKey = (name: string) => `${tokenIdFor(APP, name)}_next`;
const secretToken = async (name: string) =>
  secretValue(await scenario.cluster.clients.core.readNamespacedSecret({ name: `${name}-flipt`, namespace: APP }), 'token')!;

before(async () => {
  scenario = await Scenario.start({ minInterval: '2s', deployRbac: {}, apiProxy: true });
  await scenario.createAppNamespace(APP);
  for (const name of NAMES) {
    clientSecrets.push(await recordHistory<V1Secret>(scenario.cluster.kubeConfig, `/api/v1/namespaces/${APP}/secrets`, `${name}-flipt`));
    await createFliptClient(scenario.cluster.clients, APP, name, { rotation: { every: '24h', overlap: `${OVERLAP_MS}ms` } });
  }
  for (const name of NAMES) await waitFor(async () => condition(await getFliptClient(scenario.cluster.clients, APP, name), 'Ready')?.status === 'True', `${name} Ready`, 60_000);
  await scenario.quietPeriod();
  from = latestRevision([scenario.configMaps, scenario.credentialSecrets, scenario.deployments, ...clientSecrets]);
});

after(async () => {
  for (const h of clientSecrets) h.stop();
  await scenario?.stop();
});

const rotate = (name: string, value: string) =>
  scenario.cluster.clients.custom.patchNamespacedCustomObject(
    { group: 'flipt.io', version: 'v1alpha1', plural: 'fliptclients', namespace: APP, name, body: { metadata: { annotations: { 'flipt.io/rotate': value } } } },
    mergePatch,
  );

const rotationDone = async (name: string, value: string) => {
  const client = await getFliptClient(scenario.cluster.clients, APP, name);
  return client.status?.lastRotateRequest === value && condition(client, 'Rotating')?.status === 'False';
};

const steps: Array<[string, (before: Map<string, string>, hashBefore: string | undefined) => Promise<boolean>]> = [
  ['the new tokens issued into the credentials Secret', async () => NAMES.some((n) => nextKey(n) in (scenario.credentialSecrets.versions.at(-1)?.data ?? {}))],
  ['the config referring to them', async () => NAMES.some((n) => (scenario.configMaps.versions.at(-1)?.data?.['default.yml'] ?? '').includes(nextKey(n)))],
  ['Flipt restarted with them', async (_b, hash) => scenario.deployments.versions.at(-1)?.spec?.template?.metadata?.annotations?.['flipt.io/config-hash'] !== hash],
  ['a client Secret switched', async (before) => (await Promise.all(NAMES.map(async (n) => (await secretToken(n)) !== before.get(n)))).some(Boolean)],
  ['the old tokens retired from the config', async (before) => {
    const config = scenario.configMaps.versions.at(-1)?.data?.['default.yml'] ?? '';
    return (await Promise.all(NAMES.map(async (n) => (await secretToken(n)) !== before.get(n)))).every(Boolean) && NAMES.every((n) => !config.includes(nextKey(n)));
  }],
];

for (const [index, [step, reached]] of steps.entries()) {
  test(`SIGKILL right after ${step}: the rotation completes, each new token issued once`, async () => {
    const value = `crash-${index}`;
    const before = new Map<string, string>();
    for (const name of NAMES) before.set(name, await secretToken(name));
    const hashBefore = scenario.deployments.versions.at(-1)?.spec?.template?.metadata?.annotations?.['flipt.io/config-hash'];
    const issuedBefore = scenario.credentialSecrets.versions.length;
    for (const name of NAMES) await rotate(name, value);
    await waitFor(() => reached(before, hashBefore), step, 60_000, 20);
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 100)));
    await scenario.restartOperator(true);

    await waitFor(async () => (await Promise.all(NAMES.map((n) => rotationDone(n, value)))).every(Boolean), `the rotation ${value} to complete after the crash`, 90_000, 200);
    await scenario.quietPeriod();
    const credentials = await scenario.credentials();
    for (const name of NAMES) {
      const after = await secretToken(name);
      assert.notEqual(hidden(after), hidden(before.get(name)), `${name} rotated`);
      assert.equal(hidden(credentials[tokenIdFor(APP, name)]), hidden(after), `${name}'s new token is registered under its id`);
      assert.ok(!Object.values(credentials).includes(before.get(name)!), `${name}'s old token is gone`);
      const client = await getFliptClient(scenario.cluster.clients, APP, name);
      assert.equal(client.status?.credentialFingerprint, fingerprint(after));
      // Issued once: from its issue to its removal the _next key held one value, the one the client holds now.
      const issued = new Set(scenario.credentialSecrets.versions.slice(issuedBefore).map((s) => secretValue(s, nextKey(name))).filter(Boolean));
      assert.deepEqual([...issued].map((t) => fingerprint(t!)), [fingerprint(after)], `${name}'s new token was issued exactly once`);
    }
    assert.ok(assertSecretsAlwaysAccepted({ configMaps: scenario.configMaps, credentialSecrets: scenario.credentialSecrets, deployments: scenario.deployments, clientSecrets }, from) > 0);
  });
}

test('SIGKILL after the status names the new token, before the Secret follows, down longer than the overlap: the old token stays until the Secret switches, and for the overlap after', async () => {
  const [name] = NAMES as [string];
  const value = 'stalled-switch';
  const before = await secretToken(name);
  const start = latestRevision([scenario.credentialSecrets, ...clientSecrets]);
  scenario.proxy!.stall(new RegExp(`^PUT /api/v1/namespaces/${APP}/secrets/${name}-flipt(\\?|$)`));
  await rotate(name, value);
  await waitFor(async () => scenario.proxy!.stalled.length > 0, `the switch of Secret ${name}-flipt to be sent`, 60_000, 20);
  const recorded = await getFliptClient(scenario.cluster.clients, APP, name);
  assert.notEqual(recorded.status?.credentialFingerprint, fingerprint(before), 'the status names the new token');
  const killedAt = Date.now();
  await scenario.restartOperator(true, async () => {
    await new Promise((r) => setTimeout(r, OVERLAP_MS + 1_000));
    // The restarted operator's FliptClient watch lags behind its Secret watch: the switch time it
    // records reaches its own cache last, after a Secret switched at once would reach the target.
    scenario.proxy!.lag(FLIPTCLIENTS_WATCH);
    scenario.proxy!.stopStalling();
  });
  await waitFor(async () => Date.parse((await getFliptClient(scenario.cluster.clients, APP, name)).status?.issuedAt ?? '') > killedAt + OVERLAP_MS, 'the switch time recorded', 60_000, 50);
  await new Promise((r) => setTimeout(r, LAG_MS));
  scenario.proxy!.catchUp();

  await waitFor(() => rotationDone(name, value), `the rotation ${value} to complete after the crash`, 90_000, 200);
  await scenario.quietPeriod();
  const after = await secretToken(name);
  assert.notEqual(hidden(after), hidden(before), `${name} rotated`);
  const credentials = await scenario.credentials();
  assert.equal(hidden(credentials[tokenIdFor(APP, name)]), hidden(after));
  assert.ok(!Object.values(credentials).includes(before), 'the old token is gone');
  const switchedAt = Date.parse((await getFliptClient(scenario.cluster.clients, APP, name)).status!.issuedAt!);
  assert.ok(switchedAt > killedAt + OVERLAP_MS, 'status.issuedAt says when the Secret switched, after the crash');
  const events = await scenario.cluster.clients.events.listNamespacedEvent({ namespace: APP });
  const rotated = events.items.filter((e) => e.regarding?.name === name && e.reason === 'Rotated' && e.note?.includes(fingerprint(after)));
  assert.equal(rotated.length, 1, 'one Rotated Event announces the switch the restarted operator completed');
  assert.match(rotated[0]!.note!, /after an operator restart/);
  assert.equal(await scenario.metric('flipt_operator_rotations_total', { trigger: 'resumed' }), 1, 'the restarted operator counts the switch it completed');

  // From the recorded watches: the old token left the credentials Secret after the Secret switched, and the overlap after that.
  const decoded = (secret: V1Secret) => Object.values(decodeSecretData(secret.data));
  const switched = clientSecrets[0]!.versions.find((s) => revision(s) > start && decoded(s).includes(after));
  const retired = scenario.credentialSecrets.versions.find((s) => revision(s) > start && !decoded(s).includes(before));
  assert.ok(switched && retired);
  assert.ok(revision(retired) > revision(switched), 'the old token left after the Secret switched');
  // Counted from when this test saw the Secret switch: the overlap is what pods get, whenever the status was written.
  const retiredAfter = scenario.credentialSecrets.receivedAt(retired) - clientSecrets[0]!.receivedAt(switched);
  assert.ok(retiredAfter >= OVERLAP_MS - WATCH_SLACK_MS, `the old token left ${retiredAfter} ms after the Secret switched, within the overlap`);
  assert.ok(assertSecretsAlwaysAccepted({ configMaps: scenario.configMaps, credentialSecrets: scenario.credentialSecrets, deployments: scenario.deployments, clientSecrets }, from) > 0);
});
