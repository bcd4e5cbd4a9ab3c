// What the operator refuses, with a clear condition and a Warning Event and nothing half-written;
// and the warning when the target's Flipt does not require authentication at all.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/cluster.ts';
import { SAMPLE_FLIPT_CONFIG, createFliptTarget, simulateDeploymentController } from '../support/flipt-target.ts';
import { condition, createFliptClient, deleteFliptClient, getFliptClient, listFliptClients } from '../support/fliptclients.ts';
import { hidden } from '../support/hidden.ts';
import { printedRows } from '../support/printed-columns.ts';
import { Scenario } from '../support/scenario.ts';
import type { FliptClient } from '../../src/vocabulary/fliptclient.ts';

const APP = 'refusals-app';
let scenario: Scenario;
let lateNamespace: string;

before(async () => {
  lateNamespace = `flipt-late-${Date.now().toString(36)}`;
  scenario = await Scenario.start({
    minInterval: '1s',
    extraTargets: [
      { name: 'restricted', namespace: 'flipt-restricted', configMap: { name: 'flipt' }, workload: { kind: 'Deployment', name: 'flipt' }, allowedNamespaces: ['somewhere-else'] },
      { name: 'late', namespace: lateNamespace, configMap: { name: 'flipt' }, workload: { kind: 'Deployment', name: 'flipt' }, restart: { minInterval: '1s' } },
    ],
  });
  await scenario.createAppNamespace(APP);
});

after(() => scenario?.stop());

async function settled(name: string, reason: string): Promise<FliptClient> {
  let client: FliptClient | undefined;
  await waitFor(async () => {
    client = await getFliptClient(scenario.cluster.clients, APP, name);
    return condition(client, 'Ready')?.reason === reason;
  }, `${name} Ready reason ${reason}`, 20_000);
  return client!;
}

async function secretExists(name: string): Promise<boolean> {
  try {
    await scenario.cluster.clients.core.readNamespacedSecret({ name, namespace: APP });
    return true;
  } catch {
    return false;
  }
}

async function warningEvent(name: string, reason: string): Promise<void> {
  await waitFor(async () => {
    const events = await scenario.cluster.clients.events.listNamespacedEvent({ namespace: APP });
    return events.items.some((e) => e.regarding?.name === name && e.reason === reason && e.type === 'Warning');
  }, `Warning Event ${reason} on ${name}`, 10_000);
}

test('an unknown target is refused: condition, Warning Event, no Secret, no finalizer', async () => {
  await createFliptClient(scenario.cluster.clients, APP, 'lost', { target: 'nope' });
  const client = await settled('lost', 'UnknownTarget');
  const ready = condition(client, 'Ready')!;
  assert.equal(ready.status, 'False');
  assert.match(ready.message, /"nope".*known: default, restricted, late/);
  assert.equal(condition(client, 'CredentialIssued')?.status, 'False');
  assert.equal(await secretExists('lost-flipt'), false);
  assert.equal(client.metadata.finalizers, undefined);
  await warningEvent('lost', 'UnknownTarget');
});

test('a namespace the target does not allow is refused', async () => {
  await createFliptClient(scenario.cluster.clients, APP, 'outsider', { target: 'restricted' });
  const client = await settled('outsider', 'NamespaceNotAllowed');
  assert.match(condition(client, 'Ready')!.message, /allowedNamespaces/);
  assert.equal(await secretExists('outsider-flipt'), false);
  await warningEvent('outsider', 'NamespaceNotAllowed');
});

test('kubectl get fc -o wide says what is wrong with each client: reason and message columns', async () => {
  await settled('lost', 'UnknownTarget');
  await settled('outsider', 'NamespaceNotAllowed');
  const rows = new Map((await printedRows(scenario.cluster.kubeConfig, APP)).map((row) => [row.Name, row]));
  assert.equal(rows.get('lost')?.Ready, 'False');
  assert.equal(rows.get('lost')?.Reason, 'UnknownTarget');
  assert.match(rows.get('lost')?.Message ?? '', /"nope".*known: default/);
  assert.equal(rows.get('outsider')?.Reason, 'NamespaceNotAllowed');
  assert.match(rows.get('outsider')?.Message ?? '', /allowedNamespaces/);
  assert.equal(rows.get('outsider')?.Installation, 'default');
});

test('a pre-existing Secret the operator does not own is never overwritten', async () => {
  const { core } = scenario.cluster.clients;
  const original = { 'token': Buffer.from('mine').toString('base64') };
  await core.createNamespacedSecret({ namespace: APP, body: { metadata: { name: 'taken-flipt' }, data: original } });
  await createFliptClient(scenario.cluster.clients, APP, 'taken');
  const client = await settled('taken', 'SecretConflict');
  assert.match(condition(client, 'Ready')!.message, /not owned by this FliptClient.*spec\.secret\.name/);
  const secret = await core.readNamespacedSecret({ name: 'taken-flipt', namespace: APP });
  assert.deepEqual(hidden(secret.data), hidden(original));
  assert.equal(secret.metadata?.ownerReferences, undefined);
  await warningEvent('taken', 'SecretConflict');
  // Nothing was issued, so nothing reached the target, and no finalizer holds the client back.
  await scenario.quietPeriod();
  const id = `${APP}_taken`;
  assert.equal((await scenario.managedTokens())[id], undefined, 'not in the config');
  assert.ok(!scenario.configMaps.versions.some((cm) => cm.data?.['default.yml']?.includes(id)), 'in no version of the config');
  assert.ok(!scenario.credentialSecrets.versions.some((s) => id in (s.data ?? {})), 'in no version of the credentials Secret');
  const after = await getFliptClient(scenario.cluster.clients, APP, 'taken');
  assert.equal(after.status?.credentialFingerprint, undefined);
  assert.equal(after.metadata.finalizers, undefined, 'no finalizer for a client that was never issued a token');
});

test('a target whose ConfigMap and workload do not exist yet: refused until they appear, then served', async () => {
  await createFliptClient(scenario.cluster.clients, APP, 'early', { target: 'late' });
  const client = await settled('early', 'ConfigMapMissing');
  assert.match(condition(client, 'Ready')!.message, new RegExp(`ConfigMap ${lateNamespace}/flipt not found`));
  assert.equal(await secretExists('early-flipt'), false, 'nothing issued for a target that cannot take it');
  await warningEvent('early', 'ConfigMapMissing');

  const { core } = scenario.cluster.clients;
  await core.createNamespace({ body: { metadata: { name: lateNamespace } } });
  await core.createNamespacedConfigMap({ namespace: lateNamespace, body: { metadata: { name: 'flipt' }, data: { 'default.yml': SAMPLE_FLIPT_CONFIG } } });
  await settled('early', 'WorkloadMissing');
  await core.deleteNamespacedConfigMap({ name: 'flipt', namespace: lateNamespace });
  await createFliptTarget(scenario.cluster.clients, { namespace: lateNamespace, configMap: 'flipt', deployment: 'flipt' });
  await settled('early', 'RolloutInProgress');
  assert.equal(await secretExists('early-flipt'), true);
  const stopRollouts = simulateDeploymentController(scenario.cluster.clients, lateNamespace, 'flipt');
  try {
    const ready = await settled('early', 'Ready');
    assert.equal(condition(ready, 'Ready')?.status, 'True');
    const config = (await core.readNamespacedConfigMap({ name: 'flipt', namespace: lateNamespace })).data!['default.yml']!;
    assert.match(config, new RegExp(`${APP}_early:`), 'registered with the late target');
    // The log says so once per change of what blocks the target, however often it was reconciled meanwhile.
    // (whether it saw the ConfigMap deleted and recreated in passing depends on timing).
    const logged = scenario.operator
      .logRecords()
      .filter((line) => line.target === 'late' && /^target (no longer )?blocked$/.test(line.msg))
      .map((line) => `${line.level} ${line.msg} ${String(line.reason)}`);
    assert.deepEqual(logged.slice(0, 2), ['warn target blocked ConfigMapMissing', 'warn target blocked WorkloadMissing'], logged.join('\n'));
    assert.match(logged.at(-1)!, /^info target no longer blocked /, logged.join('\n'));
    assert.equal(logged.filter((line) => line.includes('no longer')).length, 1, logged.join('\n'));
    assert.ok(logged.every((line, i) => i === 0 || line !== logged[i - 1]), `no line repeated:\n${logged.join('\n')}`);
  } finally {
    stopRollouts();
  }
});

test('a client deleted while its target cannot be written is not held; a Warning Event says its token leaves the config once the target can be written', async () => {
  const { core } = scenario.cluster.clients;
  await core.deleteNamespacedConfigMap({ name: 'flipt', namespace: lateNamespace });
  await settled('early', 'ConfigMapMissing');
  await deleteFliptClient(scenario.cluster.clients, APP, 'early');
  await waitFor(async () => !(await listFliptClients(scenario.cluster.clients, APP)).some((c) => c.metadata.name === 'early'), 'the FliptClient gone', 20_000);
  await warningEvent('early', 'RevocationDeferred');
  const events = (await scenario.cluster.clients.events.listNamespacedEvent({ namespace: APP })).items.filter((e) => e.regarding?.name === 'early');
  assert.ok(!events.some((e) => e.reason === 'TokenRevoked'), 'no claim that it was revoked');
  assert.ok(events.some((e) => e.reason === 'RevocationDeferred' && e.note === 'Target "late" cannot be changed now (ConfigMapMissing); the token leaves Flipt\'s config once it can'));
});

test('authentication.required false: registered, but a warning condition and Event say tokens protect nothing', async () => {
  // One operator per cluster: every operator reconciles every FliptClient, so stop the first one.
  await scenario.stop();
  const open = SAMPLE_FLIPT_CONFIG.replace('required: true', 'required: false');
  const openScenario = await Scenario.start({ minInterval: '1s', fliptConfig: open });
  try {
    const ns = await openScenario.createAppNamespace(`open-${Date.now().toString(36)}`);
    await createFliptClient(openScenario.cluster.clients, ns, 'app');
    let client: FliptClient | undefined;
    await waitFor(async () => {
      client = await getFliptClient(openScenario.cluster.clients, ns, 'app');
      return condition(client, 'Ready')?.status === 'True';
    }, 'Ready', 20_000);
    const applied = condition(client!, 'ConfigApplied')!;
    assert.equal(applied.reason, 'AuthenticationNotRequired');
    assert.match(applied.message, /authentication\.required: true/);
    assert.match(await openScenario.fliptConfig(), /required: false/, 'the operator never changes authentication.required');
    await waitFor(async () => {
      const events = await openScenario.cluster.clients.events.listNamespacedEvent({ namespace: ns });
      return events.items.some((e) => e.reason === 'AuthenticationNotRequired' && e.type === 'Warning');
    }, 'Warning Event', 10_000);
  } finally {
    await openScenario.stop();
  }
});
