// A rotation survives the operator being SIGKILLed right after each of its steps, picked by progress
// seen on the API server (never by the clock): the new tokens issued, the config referring to them,
// Flipt restarted, the client Secrets switched, the old tokens retired. After each crash the rotation
// completes, each new token was issued exactly once, and at every recorded revision every client
// Secret held a token the running config accepts. The operator runs under deploy/'s RBAC.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import { mergePatch } from '../../src/kube/client.ts';
import { fingerprint, tokenIdFor } from '../../src/vocabulary/credentials.ts';
import { recordHistory, type ObjectHistory } from '../support/api-watch.ts';
import { waitFor } from '../support/cluster.ts';
import { assertSecretsAlwaysAccepted, latestRevision } from '../support/credential-invariant.ts';
import { condition, createFliptClient, getFliptClient } from '../support/fliptclients.ts';
import { Scenario } from '../support/scenario.ts';

const APP = `rotation-crash-${Date.now().toString(36)}`;
const NAMES = ['c1', 'c2', 'c3'];
let scenario: Scenario;
const clientSecrets: Array<ObjectHistory<V1Secret>> = [];
let from = 0;

const nextKey = (name: string) => `${tokenIdFor(APP, name)}_next`;
const secretToken = async (name: string) =>
  Buffer.from((await scenario.cluster.clients.core.readNamespacedSecret({ name: `${name}-flipt`, namespace: APP })).data!.token!, 'base64').toString();

before(async () => {
  scenario = await Scenario.start({ minInterval: '2s', deployRbac: {} });
  await scenario.createAppNamespace(APP);
  for (const name of NAMES) {
    clientSecrets.push(await recordHistory<V1Secret>(scenario.cluster.kubeConfig, `/api/v1/namespaces/${APP}/secrets`, `${name}-flipt`));
    await createFliptClient(scenario.cluster.clients, APP, name, { rotation: { every: '24h', overlap: '3s' } });
  }
  for (const name of NAMES) await waitFor(async () => condition(await getFliptClient(scenario.cluster.clients, APP, name), 'Ready')?.status === 'True', `${name} Ready`, 60_000);
  await scenario.quietPeriod();
  from = latestRevision([scenario.configMaps, scenario.credentialSecrets, scenario.deployments, ...clientSecrets]);
});

after(async () => {
  for (const h of clientSecrets) h.stop();
  await scenario?.stop();
});

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
    for (const name of NAMES) {
      await scenario.cluster.clients.custom.patchNamespacedCustomObject(
        { group: 'flipt.io', version: 'v1alpha1', plural: 'fliptclients', namespace: APP, name, body: { metadata: { annotations: { 'flipt.io/rotate': value } } } },
        mergePatch,
      );
    }
    await waitFor(() => reached(before, hashBefore), step, 60_000, 20);
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 100)));
    await scenario.restartOperator(true);

    await waitFor(async () => {
      for (const name of NAMES) {
        const client = await getFliptClient(scenario.cluster.clients, APP, name);
        if (client.status?.lastRotateRequest !== value || condition(client, 'Rotating')?.status !== 'False') return false;
      }
      return true;
    }, `the rotation ${value} to complete after the crash`, 90_000, 200);
    await scenario.quietPeriod();
    const credentials = await scenario.credentials();
    for (const name of NAMES) {
      const after = await secretToken(name);
      assert.notEqual(after, before.get(name), `${name} rotated`);
      assert.equal(credentials[tokenIdFor(APP, name)], after, `${name}'s new token is registered under its id`);
      assert.ok(!Object.values(credentials).includes(before.get(name)!), `${name}'s old token is gone`);
      const client = await getFliptClient(scenario.cluster.clients, APP, name);
      assert.equal(client.status?.credentialFingerprint, fingerprint(after));
      // Issued once: from its issue to its removal the _next key held one value, the one the client holds now.
      const issued = new Set(scenario.credentialSecrets.versions.slice(issuedBefore).map((s) => s.data?.[nextKey(name)]).filter(Boolean));
      assert.deepEqual([...issued].map((v) => Buffer.from(v!, 'base64').toString()), [after], `${name}'s new token was issued exactly once`);
    }
    assert.ok(assertSecretsAlwaysAccepted({ configMaps: scenario.configMaps, credentialSecrets: scenario.credentialSecrets, deployments: scenario.deployments, clientSecrets }, from) > 0);
  });
}
