// Rotation against a real API server, the operator as a real process under deploy/'s RBAC: on
// request (once per annotation value; one there before the first token is answered by it), on
// schedule, in an emergency (overlap 0s), with Ready True throughout and, at every revision the API
// server recorded, every client Secret's token accepted by the config Flipt's pod template carries.
// spec.rolloutRestartTargets restart once per credential, once the opt-in RBAC is there; without it,
// or for a missing workload, a condition says so.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { KubernetesObjectApi, type KubernetesObject, type V1Deployment, type V1Secret } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { mergePatch } from '../../src/kube/client.ts';
import { decodeSecretData, secretValue } from '../../src/kube/secret-data.ts';
import { fingerprint, tokenIdFor } from '../../src/vocabulary/credentials.ts';
import type { FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { requestCounts } from '../support/api-metrics.ts';
import { recordHistory, changes, type ObjectHistory } from '../support/api-watch.ts';
import { waitFor } from '../support/cluster.ts';
import { assertSecretsAlwaysAccepted, latestRevision } from '../support/credential-invariant.ts';
import { applyObjects } from '../support/deploy-rbac.ts';
import { fliptDeployment } from '../support/flipt-target.ts';
import { condition, createFliptClient, getFliptClient } from '../support/fliptclients.ts';
import { hidden } from '../support/hidden.ts';
import { kustomizeBuild } from '../support/kustomize.ts';
import { Scenario } from '../support/scenario.ts';

const APP = `rotation-${Date.now().toString(36)}`;
const ref = { group: 'flipt.io', version: 'v1alpha1', plural: 'fliptclients', namespace: APP };
let scenario: Scenario;
const clientSecrets: Array<ObjectHistory<V1Secret>> = [];
let rotB: ObjectHistory<FliptClient>;
let appDeployment: ObjectHistory<V1Deployment>;
let from = 0;
let removeComponent = async () => {};

const get = (name: string) => getFliptClient(scenario.cluster.clients, APP, name);
const secretToken = async (name: string) =>
  secretValue(await scenario.cluster.clients.core.readNamespacedSecret({ name: `${name}-flipt`, namespace: APP }), 'token')!;
const annotate = (name: string, value: string, spec?: Partial<FliptClient['spec']>) =>
  scenario.cluster.clients.custom.patchNamespacedCustomObject({ ...ref, name, body: { metadata: { annotations: { 'flipt.io/rotate': value } }, ...(spec ? { spec } : {}) } }, mergePatch);

before(async () => {
  scenario = await Scenario.start({ minInterval: '2s', deployRbac: {}, exchange: true });
  await scenario.createAppNamespace(APP);
  await scenario.cluster.clients.core.createNamespacedServiceAccount({ namespace: APP, body: { metadata: { name: 'rot-sa' } } });
  await scenario.cluster.clients.apps.createNamespacedDeployment({ namespace: APP, body: fliptDeployment({ namespace: APP, configMap: 'unused', deployment: 'app' }) });
  appDeployment = await recordHistory<V1Deployment>(scenario.cluster.kubeConfig, `/apis/apps/v1/namespaces/${APP}/deployments`, 'app');
  for (const name of ['rot-a', 'rot-b']) clientSecrets.push(await recordHistory<V1Secret>(scenario.cluster.kubeConfig, `/api/v1/namespaces/${APP}/secrets`, `${name}-flipt`));
  rotB = await recordHistory<FliptClient>(scenario.cluster.kubeConfig, `/apis/flipt.io/v1alpha1/namespaces/${APP}/fliptclients`, 'rot-b');
  const rotation = { every: '24h', overlap: '4s' };
  await createFliptClient(scenario.cluster.clients, APP, 'rot-a', { rotation, rolloutRestartTargets: [{ kind: 'Deployment', name: 'app' }] });
  await createFliptClient(scenario.cluster.clients, APP, 'rot-b', { rotation, serviceAccounts: ['rot-sa'] });
  for (const name of ['rot-a', 'rot-b']) await waitFor(async () => condition(await get(name), 'Ready')?.status === 'True', `${name} Ready`, 60_000);
  await scenario.quietPeriod();
  from = latestRevision([scenario.configMaps, scenario.credentialSecrets, scenario.deployments, ...clientSecrets]);
});

after(async () => {
  await removeComponent();
  appDeployment?.stop();
  rotB?.stop();
  for (const h of clientSecrets) h.stop();
  await scenario?.stop();
});

/** Rotates by annotation and waits for the rotation to end, asserting Ready never drops meanwhile. */
async function rotate(names: string[], value: string, spec?: Partial<FliptClient['spec']>): Promise<Map<string, { before: string; after: string }>> {
  const before = new Map<string, string>();
  for (const name of names) before.set(name, await secretToken(name));
  for (const name of names) await annotate(name, value, spec);
  await waitFor(async () => {
    for (const name of names) {
      const client = await get(name);
      assert.equal(condition(client, 'Ready')?.status, 'True', `${name} stays Ready throughout the rotation (${condition(client, 'Ready')?.reason})`);
      if (client.status?.lastRotateRequest !== value || condition(client, 'Rotating')?.status !== 'False') return false;
    }
    return true;
  }, `the rotation ${value} of ${names.join(', ')}`, 90_000, 100);
  const result = new Map<string, { before: string; after: string }>();
  for (const name of names) result.set(name, { before: before.get(name)!, after: await secretToken(name) });
  return result;
}

test('rotation on request: the new token beside the old, the Secret switched, the old removed after the overlap; two restarts; Ready throughout', async () => {
  const restarts = scenario.restarts();
  const rotated = await rotate(['rot-a', 'rot-b'], 'r1');
  await scenario.quietPeriod();
  assert.equal(scenario.restarts() - restarts, 2, 'one restart to add the new tokens, one to remove the old ones');
  const config = await scenario.fliptConfig();
  const credentials = await scenario.credentials();
  for (const [name, { before, after }] of rotated) {
    assert.notEqual(hidden(after), hidden(before), `${name} holds a new token`);
    const client = await get(name);
    assert.equal(client.status?.credentialFingerprint, fingerprint(after));
    assert.equal(hidden(credentials[tokenIdFor(APP, name)]), hidden(after), 'registered under its id again');
    assert.ok(!Object.values(credentials).includes(before), 'the old token left the credentials Secret');
    assert.ok(!(`${tokenIdFor(APP, name)}_next` in parse(config).authentication.methods.token.storage.tokens), 'one id per client again');
    assert.equal(condition(client, 'Rotating')?.reason, 'Scheduled');
    assert.ok(Date.parse(client.status!.rotateAt!) - Date.parse(client.status!.issuedAt!) === 24 * 3_600_000, 'rotateAt = issuedAt + every');
  }
  // Each new token was issued once: its _next key held one value from issue to removal.
  for (const name of ['rot-a', 'rot-b']) {
    const key = `${tokenIdFor(APP, name)}_next`;
    const values = new Set(scenario.credentialSecrets.versions.map((s) => s.data?.[key]).filter(Boolean));
    assert.equal(values.size, 1, `${key} was issued once`);
  }
  assert.ok(assertSecretsAlwaysAccepted({ configMaps: scenario.configMaps, credentialSecrets: scenario.credentialSecrets, deployments: scenario.deployments, clientSecrets }, from) > 10);
  const events = await scenario.cluster.clients.events.listNamespacedEvent({ namespace: APP });
  // The Rotated Event says until when the old token stays valid: the overlap after the switch the status records.
  for (const name of ['rot-a', 'rot-b']) {
    const rotatedEvent = events.items.find((e) => e.regarding?.name === name && e.reason === 'Rotated');
    const until = rotatedEvent?.note?.match(/stays valid until (\S+)$/)?.[1];
    assert.equal(until, new Date(Date.parse((await get(name)).status!.issuedAt!) + 4_000).toISOString(), `${name}: ${rotatedEvent?.note}`);
  }
  // Every status of rot-b the API server recorded, the switch's own write included, names rotateAt with issuedAt.
  await rotB.caughtUp();
  const issued = rotB.versions.filter((v) => v.status?.issuedAt);
  assert.ok(issued.length > 2, `${issued.length} statuses`);
  for (const version of issued) {
    assert.equal(version.status!.rotateAt, new Date(Date.parse(version.status!.issuedAt!) + 24 * 3_600_000).toISOString(), `revision ${version.metadata.resourceVersion}`);
  }
  await waitFor(async () => (await scenario.metric('flipt_operator_rotations_total', { trigger: 'request' })) === 2, 'both rotations counted', 10_000);
  // The exchange hands out the new token, and says when to come back: the next rotation plus the overlap.
  const { answer } = await scenario.exchange<{ clientToken: string; authentication: { expiresAt: string } }>(APP, 'rot-sa', 48 * 3600, 10_000);
  assert.equal(hidden(answer.clientToken), hidden(rotated.get('rot-b')!.after));
  const client = await get('rot-b');
  assert.equal(Date.parse(answer.authentication.expiresAt), Date.parse(client.status!.rotateAt!) + 4_000);
});

test('the same annotation value again does nothing', async () => {
  const restarts = scenario.restarts();
  const token = await secretToken('rot-b');
  await annotate('rot-b', 'r1');
  await scenario.quietPeriod();
  assert.equal(scenario.restarts(), restarts);
  assert.equal(hidden(await secretToken('rot-b')), hidden(token));
});

test('a rotate annotation already there when the client is created: the first token answers it, no rotation follows', async () => {
  const name = 'rot-c';
  const nextKey = `${tokenIdFor(APP, name)}_next`;
  await scenario.cluster.clients.custom.createNamespacedCustomObject({
    ...ref,
    body: { apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { name, namespace: APP, annotations: { 'flipt.io/rotate': 'before-the-first-token' } }, spec: { rotation: { every: '24h', overlap: '4s' } } },
  });
  await waitFor(async () => condition(await get(name), 'Ready')?.status === 'True', `${name} Ready`, 60_000);
  const first = await secretToken(name);
  await scenario.quietPeriod();
  const client = await get(name);
  assert.equal(client.status?.lastRotateRequest, 'before-the-first-token');
  assert.notEqual(condition(client, 'Rotating')?.status, 'True');
  assert.equal(hidden(await secretToken(name)), hidden(first), 'the first token kept');
  assert.ok(!scenario.configMaps.versions.some((cm) => Object.values(cm.data ?? {}).some((text) => text.includes(nextKey))), 'no second token registered');
});

test('rolloutRestartTargets without the opt-in RBAC: a condition with the exact permission, Ready unaffected', async () => {
  const client = await get('rot-a');
  const restarted = condition(client, 'WorkloadsRestarted');
  assert.equal(restarted?.status, 'False');
  assert.equal(restarted?.reason, 'RestartForbidden');
  assert.match(restarted!.message, /"patch" on apps deployments/);
  assert.match(restarted!.message, /deploy\/components\/rollout-restart/);
  assert.equal(condition(client, 'Ready')?.status, 'True');
  assert.equal(changes(appDeployment, (d) => d.metadata?.generation), 0, 'the workload was not touched');
  const events = await scenario.cluster.clients.events.listNamespacedEvent({ namespace: APP });
  assert.ok(events.items.some((e) => e.regarding?.name === 'rot-a' && e.reason === 'RestartForbidden' && e.type === 'Warning'));
});

test('with the opt-in RBAC, a rotation restarts the workloads exactly once; a missing workload says so without a failure loop', async () => {
  const component = (await kustomizeBuild('examples/with-rollout-restart')).filter((o: KubernetesObject) => o.metadata?.name === 'flipt-client-operator-rollout-restart');
  assert.equal(component.length, 2, 'the ClusterRole and its binding');
  await applyObjects(scenario.cluster, component);
  const api = KubernetesObjectApi.makeApiClient(scenario.cluster.kubeConfig);
  removeComponent = async () => {
    for (const obj of component) await api.delete({ apiVersion: obj.apiVersion!, kind: obj.kind!, metadata: { name: obj.metadata!.name! } }).catch(() => {});
  };
  // The restart owed for the current credential happens at the client's next reconcile.
  await scenario.cluster.clients.custom.patchNamespacedCustomObject({ ...ref, name: 'rot-a', body: { metadata: { labels: { nudge: '1' } } } }, mergePatch);
  await waitFor(async () => condition(await get('rot-a'), 'WorkloadsRestarted')?.status === 'True', 'the owed restart', 20_000);
  await appDeployment.caughtUp();
  assert.equal(appDeployment.versions.at(-1)!.spec!.template.metadata!.annotations!['rot-a.fliptclient.flipt.io/credential'], fingerprint(await secretToken('rot-a')));
  const generation = appDeployment.versions.at(-1)!.metadata!.generation!;
  const rotated = await rotate(['rot-a'], 'r2');
  await waitFor(async () => condition(await get('rot-a'), 'WorkloadsRestarted')?.status === 'True', 'the workload restarted', 20_000);
  await scenario.quietPeriod();
  await appDeployment.caughtUp();
  assert.equal(appDeployment.versions.at(-1)!.metadata!.generation, generation + 1, 'restarted exactly once');
  assert.equal(appDeployment.versions.at(-1)!.spec!.template.metadata!.annotations!['rot-a.fliptclient.flipt.io/credential'], fingerprint(rotated.get('rot-a')!.after));
  assert.equal((await get('rot-a')).status?.workloadsRestartedFor, fingerprint(rotated.get('rot-a')!.after));
  // Restarted for this credential: a later reconcile patches the workload no more. A patch that changes
  // nothing reaches no watch, so the API server's own count says.
  const patches = async () => (await requestCounts(scenario.cluster.kubeConfig)).get('PATCH deployments') ?? 0;
  const patchesBefore = await patches();
  await scenario.cluster.clients.custom.patchNamespacedCustomObject({ ...ref, name: 'rot-a', body: { metadata: { labels: { nudge: '2' } } } }, mergePatch);
  await scenario.quietPeriod();
  assert.equal((await patches()) - patchesBefore, 0, 'no workload patched again');

  await scenario.cluster.clients.custom.patchNamespacedCustomObject({ ...ref, name: 'rot-b', body: { spec: { rolloutRestartTargets: [{ kind: 'Deployment', name: 'missing' }] } } }, mergePatch);
  await waitFor(async () => condition(await get('rot-b'), 'WorkloadsRestarted')?.reason === 'RestartTargetMissing', 'RestartTargetMissing', 20_000);
  assert.match(condition(await get('rot-b'), 'WorkloadsRestarted')!.message, /Deployment missing not found/);
  await scenario.quietPeriod();
  const failures = scenario.operator.output().split('\n').filter((l) => l.includes('reconcile failed') && l.includes('rot-b'));
  assert.deepEqual(failures, [], 'no failure loop');
  assert.equal(condition(await get('rot-b'), 'Ready')?.status, 'True');
});

test('a scheduled rotation happens when it falls due, with no event to wake it', async () => {
  // A token issued 24h minus a few seconds ago: its rotation falls due in a few seconds.
  const issuedAt = new Date(Date.now() - 24 * 3_600_000 + 3_000).toISOString();
  await scenario.cluster.clients.custom.patchNamespacedCustomObjectStatus({ ...ref, name: 'rot-b', body: { status: { issuedAt } } }, mergePatch);
  const before = await secretToken('rot-b');
  await waitFor(async () => (await get('rot-b')).status?.rotateAt === new Date(Date.parse(issuedAt) + 24 * 3_600_000).toISOString(), 'rotateAt from the new issuedAt', 10_000);
  await waitFor(async () => (await secretToken('rot-b')) !== before, 'the scheduled rotation', 60_000, 200);
  await waitFor(async () => (await scenario.metric('flipt_operator_rotations_total', { trigger: 'schedule' })) === 1, 'the rotation counted as scheduled', 10_000);
  await waitFor(async () => condition(await get('rot-b'), 'Rotating')?.status === 'False', 'the old token retired', 30_000);
  await scenario.quietPeriod();
});

test('emergency rotation (overlap 0s): the leaked token leaves Flipt with the very next restart after the switch', async () => {
  const leaked = await secretToken('rot-a');
  const restarts = scenario.restarts();
  const requestedAt = Date.now();
  await rotate(['rot-a'], 'leak', { rotation: { every: '24h', overlap: '0s' } });
  await waitFor(async () => !Object.values(await scenario.credentials()).includes(leaked), 'the leaked token gone from the credentials Secret', 30_000);
  const refusedAfterMs = Date.now() - requestedAt;
  await scenario.quietPeriod();
  assert.equal(scenario.restarts() - restarts, 2, 'the restart that adds the new token and the very next one');
  const running = scenario.deployments.versions.at(-1)!.spec!.template.metadata!.annotations!['flipt.io/config-hash'];
  const config = await scenario.fliptConfig();
  assert.ok(!config.includes(`${tokenIdFor(APP, 'rot-a')}_next`));
  process.stdout.write(`# emergency rotation: the leaked token left Flipt's config ${refusedAfterMs} ms after the request (restart key ${running?.slice(0, 12)})\n`);
});

test('at every recorded revision, every client Secret held a token the running config accepts', () => {
  const checked = assertSecretsAlwaysAccepted({ configMaps: scenario.configMaps, credentialSecrets: scenario.credentialSecrets, deployments: scenario.deployments, clientSecrets }, from);
  assert.ok(checked > 30, `${checked} states checked`);
  const logs = scenario.allLogs();
  for (const version of [...scenario.credentialSecrets.versions]) {
    for (const value of Object.values(decodeSecretData(version.data))) assert.ok(!logs.includes(value), 'a token in the logs');
  }
});
