// Out-of-band changes the operator must repair: the Flipt ConfigMap replaced wholesale (as Flipt's
// Helm chart does on every upgrade) or its text rewritten (kubectl apply, a GitOps sync), a client
// Secret deleted or edited.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment } from '@kubernetes/client-node';
import { encodeSecretData, secretValue } from '../../src/kube/secret-data.ts';
import { fingerprint } from '../../src/vocabulary/credentials.ts';
import type { FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { mergePatch } from '../../src/kube/client.ts';
import { DEPLOYMENT_UPDATES, refuseWrites } from '../support/admission-policy.ts';
import { recordHistory, revision } from '../support/api-watch.ts';
import { waitFor } from '../support/cluster.ts';
import { SAMPLE_FLIPT_CONFIG } from '../support/flipt-target.ts';
import { condition, createFliptClient, deleteFliptClient, getFliptClient } from '../support/fliptclients.ts';
import { assertConsistent } from '../support/invariants.ts';
import { Scenario } from '../support/scenario.ts';

let scenario: Scenario;
const APP = 'resilience-app';
const clients = [
  { namespace: APP, name: 'web' },
  { namespace: APP, name: 'worker' },
];

async function secretToken(name: string): Promise<string> {
  const secret = await scenario.cluster.clients.core.readNamespacedSecret({ name: `${name}-flipt`, namespace: APP });
  return secretValue(secret, 'token')!;
}

async function allReady(): Promise<boolean> {
  for (const c of clients) if (condition(await getFliptClient(scenario.cluster.clients, c.namespace, c.name), 'Ready')?.status !== 'True') return false;
  return true;
}

/** Creates a FliptClient in the app namespace and waits until it is Ready. */
async function createReady(name: string): Promise<void> {
  await createFliptClient(scenario.cluster.clients, APP, name);
  await waitFor(async () => condition(await getFliptClient(scenario.cluster.clients, APP, name), 'Ready')?.status === 'True', `${name} Ready`, 30_000);
}

/** Records every version of `clients` from now on; `seen` describes each client's versions once caught up. */
async function recordClients(): Promise<{ seen: (describe: (client: FliptClient) => string) => Promise<string[][]>; stop: () => void }> {
  const histories = await Promise.all(clients.map((c) => recordHistory<FliptClient>(scenario.cluster.kubeConfig, `/apis/flipt.io/v1alpha1/namespaces/${c.namespace}/fliptclients`, c.name)));
  return {
    seen: async (describe) => {
      await Promise.all(histories.map((h) => h.caughtUp()));
      return histories.map((h) => h.versions.map(describe));
    },
    stop: () => histories.forEach((h) => h.stop()),
  };
}

before(async () => {
  scenario = await Scenario.start({ minInterval: '2s' });
  await scenario.createAppNamespace(APP);
  for (const c of clients) await createFliptClient(scenario.cluster.clients, c.namespace, c.name);
  await waitFor(allReady, 'clients Ready', 60_000);
});

after(() => scenario?.stop());

test('a ConfigMap replaced wholesale (helm upgrade) is re-converged within seconds, with no extra restart', async () => {
  await scenario.quietPeriod();
  const restarts = scenario.restarts();
  const generation = scenario.generation();
  const expected = await scenario.fliptConfig();
  const { core } = scenario.cluster.clients;
  await core.deleteNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace });
  await core.createNamespacedConfigMap({ namespace: scenario.namespace, body: { metadata: { name: 'flipt' }, data: { 'default.yml': SAMPLE_FLIPT_CONFIG } } });
  const replacedAt = Date.now();
  await waitFor(async () => (await scenario.fliptConfig()) === expected, 'config re-converged', 20_000);
  process.stdout.write(`# re-converged ${Date.now() - replacedAt} ms after the replace\n`);
  // The restart would follow the config write in the same pass, or be held for minInterval: wait that out.
  await scenario.quietPeriod();
  assert.equal(scenario.restarts(), restarts, 'the same config as before needs no restart');
  assert.equal(scenario.generation(), generation, "the Deployment's pod template did not change");
  await assertConsistent(scenario, clients);
  assert.ok(await allReady());
});

/**
 * With the operator down, `replaceConfig` replaces Flipt's config and Flipt rolls on it (a changed pod
 * template, `label`); the operator started again writes its config back and restarts Flipt once.
 */
async function rolledOnReplacedConfigWhileDown(replaceConfig: () => Promise<void>, label: Record<string, string>): Promise<void> {
  await scenario.operator.stop();
  await scenario.quietPeriod();
  const restarts = scenario.restarts();
  const generation = scenario.generation();
  const expected = await scenario.fliptConfig();
  await replaceConfig();
  await scenario.cluster.clients.apps.patchNamespacedDeployment({ name: 'flipt', namespace: scenario.namespace, body: { spec: { template: { metadata: { labels: label } } } } }, mergePatch);
  await scenario.restartOperator();
  await waitFor(async () => (await scenario.fliptConfig()) === expected, 'config re-converged', 20_000);
  await waitFor(() => scenario.restarts() === restarts + 1, 'one restart so the rolled pods read our config', 20_000);
  await waitFor(allReady, 'clients Ready again', 20_000);
  await scenario.quietPeriod();
  assert.equal(scenario.restarts(), restarts + 1, 'restarted once, not again after minInterval');
  assert.equal(scenario.generation(), generation + 2, 'the rollout on the replaced config and exactly one of ours');
  await assertConsistent(scenario, clients);
}

test('a helm upgrade that rolled Flipt while the operator was down: re-converged and restarted once', async () => {
  const { core } = scenario.cluster.clients;
  // The chart recreates the ConfigMap (our record goes) and changes the pod template.
  await rolledOnReplacedConfigWhileDown(async () => {
    await core.deleteNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace });
    await core.createNamespacedConfigMap({ namespace: scenario.namespace, body: { metadata: { name: 'flipt' }, data: { 'default.yml': SAMPLE_FLIPT_CONFIG } } });
  }, { 'helm.sh/chart': 'flipt-v2-1.1.0' });
});

test('a config rewritten with our record kept (kubectl apply, a GitOps sync) while Flipt rolled and the operator was down: re-converged and restarted once', async () => {
  const { core } = scenario.cluster.clients;
  // The applier replaces the text it owns and leaves the annotations it never applied: our record stays.
  await rolledOnReplacedConfigWhileDown(async () => {
    await core.patchNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace, body: { data: { 'default.yml': SAMPLE_FLIPT_CONFIG } } }, mergePatch);
    const kept = await core.readNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace });
    assert.ok(kept.metadata?.annotations?.['flipt.io/managed-tokens'], 'the record is still there');
  }, { 'app.kubernetes.io/version': 'synced' });
});

test('a deleted client Secret is restored with the same token', async () => {
  await scenario.quietPeriod();
  const token = await secretToken('web');
  const restarts = scenario.restarts();
  const generation = scenario.generation();
  await scenario.cluster.clients.core.deleteNamespacedSecret({ name: 'web-flipt', namespace: APP });
  await waitFor(async () => (await secretToken('web')) === token, 'Secret restored', 20_000);
  const client = await getFliptClient(scenario.cluster.clients, APP, 'web');
  assert.equal(client.status?.credentialFingerprint, fingerprint(token));
  await scenario.quietPeriod();
  assert.equal(scenario.restarts(), restarts, 'restoring needs no restart');
  assert.equal(scenario.generation(), generation, "the Deployment's pod template did not change");
  await assertConsistent(scenario, clients);
});

test('a client Secret edited out of band is put back', async () => {
  await scenario.quietPeriod();
  const token = await secretToken('worker');
  const generation = scenario.generation();
  const { core } = scenario.cluster.clients;
  const secret = await core.readNamespacedSecret({ name: 'worker-flipt', namespace: APP });
  secret.data = { ...secret.data, ...encodeSecretData({ token: '0'.repeat(64), extra: 'x' }) };
  await core.replaceNamespacedSecret({ name: 'worker-flipt', namespace: APP, body: secret });
  await waitFor(async () => (await secretToken('worker')) === token, 'Secret repaired', 20_000);
  const repaired = await core.readNamespacedSecret({ name: 'worker-flipt', namespace: APP });
  assert.deepEqual(Object.keys(repaired.data!).sort(), ['authorization', 'token', 'url']);
  await scenario.quietPeriod();
  assert.equal(scenario.generation(), generation, 'repairing needs no restart');
  await assertConsistent(scenario, clients);
});

test('a key added to a client Secret by hand is removed, and an annotation past what the cache keeps stays', async () => {
  await scenario.quietPeriod();
  const token = await secretToken('worker');
  const { core } = scenario.cluster.clients;
  const read = () => core.readNamespacedSecret({ name: 'worker-flipt', namespace: APP });
  const secret = await read();
  // The cached copy has neither the extra key nor this annotation: only the Secret itself shows both.
  const note = 'n'.repeat(20_000);
  secret.metadata!.annotations = { ...secret.metadata!.annotations, 'example.com/note': note };
  secret.data = { ...secret.data, ...encodeSecretData({ extra: 'x' }) };
  await core.replaceNamespacedSecret({ name: 'worker-flipt', namespace: APP, body: secret });
  await waitFor(async () => !Object.hasOwn((await read()).data ?? {}, 'extra'), 'extra key removed', 20_000);
  const repaired = await read();
  assert.deepEqual(Object.keys(repaired.data!).sort(), ['authorization', 'token', 'url']);
  assert.equal(repaired.metadata!.annotations?.['example.com/note'], note);
  assert.equal(await secretToken('worker'), token);
  await assertConsistent(scenario, clients);
});

test("a deletion whose revoking restart the API server refuses: the finalizer holds until Flipt restarted without the token", async () => {
  const { apps } = scenario.cluster.clients;
  await createReady('leaving');
  await scenario.quietPeriod();
  const probe = () => apps.patchNamespacedDeployment({ name: 'flipt', namespace: scenario.namespace, dryRun: 'All', body: { metadata: { labels: { probe: 'yes' } } } }, mergePatch).then(() => false, () => true);
  const lift = await refuseWrites(scenario.cluster, scenario.namespace, [DEPLOYMENT_UPDATES], 'no restarts now', probe);
  let lifted = false;
  try {
    const restarts = scenario.restarts();
    await deleteFliptClient(scenario.cluster.clients, APP, 'leaving');
    await waitFor(async () => !(await scenario.fliptConfig()).includes(`${APP}_leaving`), "the token out of Flipt's config", 30_000);
    // Flipt still runs the config with the token: the client stays, marked for deletion, until it does not.
    await new Promise((r) => setTimeout(r, 3_000));
    const waiting = await getFliptClient(scenario.cluster.clients, APP, 'leaving');
    assert.ok(waiting.metadata.deletionTimestamp, 'marked for deletion');
    assert.equal(scenario.restarts(), restarts, 'no restart got through');
    await lift();
    lifted = true;
    await waitFor(() => scenario.restarts() === restarts + 1, 'the revoking restart', 30_000);
    await waitFor(async () => (await getFliptClient(scenario.cluster.clients, APP, 'leaving').then(() => false, () => true)), 'the FliptClient gone', 30_000);
  } finally {
    if (!lifted) await lift();
  }
});

test("a deletion right after another client's restart (restart.minInterval not yet passed): Flipt restarts without the token before the finalizer goes", async () => {
  await createReady('gated');
  await scenario.quietPeriod();
  const history = await recordHistory<FliptClient>(scenario.cluster.kubeConfig, `/apis/flipt.io/v1alpha1/namespaces/${APP}/fliptclients`, 'gated');
  try {
    // Another client's restart closes the gate for minInterval (2s); the deletion comes right after it.
    const restarts = scenario.restarts();
    await createFliptClient(scenario.cluster.clients, APP, 'opener');
    await waitFor(() => scenario.restarts() === restarts + 1, "the opener's restart", 30_000, 20);
    const restartedAt = (d: V1Deployment) => d.spec?.template?.metadata?.annotations?.['flipt.io/restarted-at'];
    const openersRestart = restartedAt(scenario.deployments.versions.at(-1)!);
    await deleteFliptClient(scenario.cluster.clients, APP, 'gated');
    await waitFor(() => history.deleted !== undefined, 'gated gone', 30_000);
    await scenario.deployments.caughtUp();
    const configWithout = scenario.configMaps.versions.find((cm) => revision(cm) > revision(history.versions[0]!) && !cm.data?.['default.yml']?.includes(`${APP}_gated`))!;
    const revoking = scenario.deployments.versions.find((d) => revision(d) > revision(configWithout) && restartedAt(d) !== openersRestart)!;
    assert.ok(revoking, 'a restart after the config without the token');
    assert.ok(revision(revoking) < revision(history.deleted!), `the finalizer went (revision ${revision(history.deleted!)}) only after the revoking restart (${revision(revoking)})`);
  } finally {
    history.stop();
  }
});

test('a client deleted while the operator was down: the revoking restart, its first step, leaves the other clients Ready', async () => {
  await createReady('shortlived');
  await scenario.quietPeriod();
  const others = await recordClients();
  try {
    const restarts = scenario.restarts();
    await scenario.operator.stop();
    await deleteFliptClient(scenario.cluster.clients, APP, 'shortlived');
    await scenario.restartOperator();
    await waitFor(async () => (await getFliptClient(scenario.cluster.clients, APP, 'shortlived').then(() => false, () => true)), 'shortlived gone', 30_000);
    await scenario.quietPeriod();
    assert.equal(scenario.restarts(), restarts + 1, 'the revoking restart');
    for (const seen of await others.seen((v) => `${condition(v, 'Ready')?.status} ${condition(v, 'Ready')?.reason}`)) {
      assert.ok(seen.length > 0 && seen.every((s) => s === 'True Ready'), `Ready all along: ${seen.join(', ')}`);
    }
  } finally {
    others.stop();
  }
  await assertConsistent(scenario, clients);
});

test("the ConfigMap applied again with a broken record while the operator was down, and a client deleted meanwhile: the deleted client's entry goes, the others stay registered and Ready", async () => {
  await createReady('departed');
  await scenario.quietPeriod();
  const others = await recordClients();
  try {
    const restarts = scenario.restarts();
    await scenario.operator.stop();
    const { core } = scenario.cluster.clients;
    const configMap = await core.readNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace });
    const text = configMap.data!['default.yml']!;
    assert.ok(text.includes(`${APP}_departed`));
    // Not a list: no record at all, like a missing annotation (lifecycle.test covers that one).
    configMap.metadata!.annotations!['flipt.io/managed-tokens'] = '{"edited":"by hand"}';
    await core.replaceNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace, body: configMap });
    await deleteFliptClient(scenario.cluster.clients, APP, 'departed');
    await scenario.restartOperator();

    await waitFor(async () => (await getFliptClient(scenario.cluster.clients, APP, 'departed').then(() => false, () => true)), 'departed gone', 30_000);
    await waitFor(async () => !(await scenario.credentials())[`${APP}_departed`], 'its credential dropped once Flipt restarted without it', 30_000);
    await scenario.quietPeriod();
    const config = await core.readNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace });
    assert.ok(!config.data!['default.yml']!.includes(`${APP}_departed`), "its entry left Flipt's config: no reference to a credential that is gone");
    const record = JSON.parse(config.metadata!.annotations!['flipt.io/managed-tokens']!) as string[];
    assert.ok(clients.every((c) => record.includes(`${c.namespace}_${c.name}`)) && !record.includes(`${APP}_departed`), `the record written back: ${record.join(', ')}`);
    assert.equal(scenario.restarts(), restarts + 1, 'one restart, the revoking one');
    for (const seen of await others.seen((v) => `${condition(v, 'ConfigApplied')?.reason} / ${condition(v, 'Ready')?.status} ${condition(v, 'Ready')?.reason}`)) {
      assert.ok(seen.length > 0 && !seen.some((s) => s.includes('TokenIdConflict')), `never taken for a hand-written token: ${seen.join(', ')}`);
      // The config without the record is what Flipt runs: its entries that refer to held credentials say which.
      assert.ok(seen.every((s) => s.endsWith(' / True Ready')), `Ready all along, through the revoking restart: ${seen.join(', ')}`);
    }
  } finally {
    others.stop();
  }
  await waitFor(allReady, 'the others Ready', 20_000);
  await assertConsistent(scenario, clients);
});

test('the operator logs never carry a token', async () => {
  const logs = scenario.allLogs();
  for (const c of clients) assert.ok(!logs.includes(await secretToken(c.name)));
});
