// 200 FliptClients applied at once converge with a handful of ConfigMap writes and at most two
// restarts, counted from the API server's watch, two status writes each (issued, Ready) across a
// rollout of a few seconds, and a few target reconciles rather than one per client; a target reconcile
// that finds nothing new wakes none of the clients; a restarted operator with nothing to do writes
// nothing; 100 of them rotating together cost at most four restarts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { secretValue } from '../../src/kube/secret-data.ts';
import { fingerprint, tokenIdFor } from '../../src/vocabulary/credentials.ts';
import { waitFor } from '../support/cluster.ts';
import { assertValidFliptConfig } from '../support/flipt-schema.ts';
import { condition, createFliptClient, listFliptClients } from '../support/fliptclients.ts';
import { Scenario } from '../support/scenario.ts';
import { requestCounts, writesBetween } from '../support/api-metrics.ts';
import { Watch } from '@kubernetes/client-node';
import type { FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { mergePatch } from '../../src/kube/client.ts';
import { assertConsistent } from '../support/invariants.ts';

const CLIENTS = 200;
const NAMESPACES = ['burst-a', 'burst-b', 'burst-c', 'burst-d'];
const CLIENT_NAMES = Array.from({ length: CLIENTS }, (_, i) => ({ namespace: NAMESPACES[i % NAMESPACES.length]!, name: `app-${i}` }));
let scenario: Scenario;

before(async () => {
  // A rollout of a few seconds, as a real Flipt's takes: long enough for every waiting client to be
  // reconciled while it runs, so that a status written for each step of it would be seen.
  scenario = await Scenario.start({ minInterval: '10s', rolloutMs: 3000 });
  for (const name of NAMESPACES) await scenario.createAppNamespace(name);
});

after(() => scenario?.stop());

/** The operator's reconciles so far of one controller ('target' or 'fliptclient'), from its metrics. */
const reconciles = (controller: string) => scenario.metric('flipt_operator_reconcile_total', { controller });

async function allReady(): Promise<boolean> {
  let ready = 0;
  for (const ns of NAMESPACES) {
    for (const c of await listFliptClients(scenario.cluster.clients, ns)) if (condition(c, 'Ready')?.status === 'True') ready++;
  }
  return ready === CLIENTS;
}

/** Distinct statuses each FliptClient of the burst's namespaces has had, from a watch started before any exists. */
async function watchStatuses(): Promise<{ counts(): Map<string, number>; stop(): void }> {
  const last = new Map<string, string>();
  const counts = new Map<string, number>();
  let failure: string | undefined;
  const controller = await new Watch(scenario.cluster.kubeConfig).watch(
    '/apis/flipt.io/v1alpha1/fliptclients',
    {},
    (type, client: FliptClient) => {
      if (type === 'ERROR') failure ??= JSON.stringify(client);
      if ((type !== 'ADDED' && type !== 'MODIFIED') || !NAMESPACES.includes(client.metadata.namespace)) return;
      const key = `${client.metadata.namespace}/${client.metadata.name}`;
      const status = JSON.stringify(client.status ?? null);
      if (last.get(key) === status) return;
      last.set(key, status);
      if (client.status) counts.set(key, (counts.get(key) ?? 0) + 1);
    },
    (err) => (failure ??= `the watch ended: ${String(err)}`),
  );
  return {
    counts() {
      if (failure) throw new Error(`status watch: ${failure}`);
      return counts;
    },
    stop: () => controller.abort(),
  };
}

test(`${CLIENTS} FliptClients applied at once: at most 10 ConfigMap writes and 2 restarts`, async () => {
  const names = CLIENT_NAMES;
  const statuses = await watchStatuses();
  let targetReconcilesBefore = NaN;
  await waitFor(async () => !Number.isNaN((targetReconcilesBefore = await reconciles('target').catch(() => NaN))), "the operator's metrics");
  const started = Date.now();
  for (let i = 0; i < names.length; i += 25) {
    await Promise.all(names.slice(i, i + 25).map((n) => createFliptClient(scenario.cluster.clients, n.namespace, n.name, { metadata: { index: n.name } })));
  }
  await waitFor(allReady, `all ${CLIENTS} FliptClients Ready`, 180_000, 500);
  const seconds = (Date.now() - started) / 1000;
  const targetReconciles = (await reconciles('target')) - targetReconcilesBefore;
  await scenario.quietPeriod();
  const statusWrites = statuses.counts();
  statuses.stop();

  const writes = scenario.configWrites();
  const restarts = scenario.restarts();
  const mostStatuses = Math.max(...statusWrites.values());
  process.stdout.write(`# burst of ${CLIENTS}: Ready in ${seconds.toFixed(1)} s, ${writes} ConfigMap writes, ${restarts} restarts, ${targetReconciles} target reconciles, at most ${mostStatuses} status writes per client\n`);
  assert.ok(writes >= 1 && writes <= 10, `ConfigMap writes: ${writes}`);
  assert.ok(restarts >= 1 && restarts <= 2, `restarts: ${restarts}`);
  // Issued, then Ready: not once more for the rollout in between (it takes 3 s, under the 10 s after which it is reported).
  assert.equal(statusWrites.size, CLIENTS, 'a status for every client');
  const more = [...statusWrites].filter(([, n]) => n > 2);
  assert.deepEqual(more, [], 'clients whose status was written more than twice');
  // A target reconcile reads every client: a burst shares a few of them, not one per client issued.
  assert.ok(targetReconciles < CLIENTS / 4, `target reconciles during the burst: ${targetReconciles}`);

  const tokens = await scenario.managedTokens();
  for (const n of names) assert.ok(tokens[tokenIdFor(n.namespace, n.name)], `token for ${n.namespace}/${n.name}`);
  assertValidFliptConfig(await scenario.fliptConfig());
  await assertConsistent(scenario, names);
});

test('each FliptClient of the burst has exactly one Ready Event (kubectl describe shows it once)', async () => {
  const readyEvents = async () => {
    const counts = new Map<string, number>();
    for (const ns of NAMESPACES) {
      for (const e of (await scenario.cluster.clients.events.listNamespacedEvent({ namespace: ns })).items) {
        if (e.reason !== 'Ready' || e.regarding?.kind !== 'FliptClient') continue;
        const key = `${ns}/${e.regarding.name}`;
        counts.set(key, (counts.get(key) ?? 0) + (e.series?.count ?? e.deprecatedCount ?? 1));
      }
    }
    return counts;
  };
  await waitFor(async () => (await readyEvents()).size === CLIENTS, 'a Ready Event for every client', 60_000, 500);
  await scenario.quietPeriod();
  const counts = await readyEvents();
  const repeated = [...counts].filter(([, count]) => count !== 1);
  assert.deepEqual(repeated, [], 'clients with more than one Ready Event');
});

test("a target reconcile that finds nothing new reconciles none of the target's clients", async () => {
  await scenario.quietPeriod();
  const [targetBefore, clientsBefore] = [await reconciles('target'), await reconciles('fliptclient')];
  // A label is no part of what the target step reads: the target is reconciled, and finds what it found before.
  await scenario.cluster.clients.core.patchNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace, body: { metadata: { labels: { 'example.com/touched': String(Date.now()) } } } }, mergePatch);
  await waitFor(async () => (await reconciles('target')) > targetBefore, 'a reconcile of the target', 30_000, 100);
  // Long enough for 200 enqueued client reconciles to have run (a few hundred milliseconds here).
  await new Promise((r) => setTimeout(r, 3_000));
  const clientReconciles = (await reconciles('fliptclient')) - clientsBefore;
  assert.ok(clientReconciles < 10, `client reconciles after a target reconcile that changed nothing: ${clientReconciles} (${CLIENTS} clients)`);
});

test('a restarted operator with nothing changed writes nothing and restarts nothing', async () => {
  const versions = { configMap: scenario.configMaps.versions.length, deployment: scenario.deployments.versions.length, credentials: scenario.credentialSecrets.versions.length };
  const fingerprints = new Map<string, string | undefined>();
  for (const ns of NAMESPACES) for (const c of await listFliptClients(scenario.cluster.clients, ns)) fingerprints.set(`${ns}/${c.metadata.name}`, c.status?.credentialFingerprint);

  const requestsBefore = await requestCounts(scenario.cluster.kubeConfig);
  await scenario.restartOperator();
  await waitFor(() => scenario.operator.output().includes('became leader'), 'the new operator to lead', 30_000);
  // It has looked at everything: every client and the target reconciled at least once...
  await waitFor(async () => (await reconciles('fliptclient')) >= CLIENTS, 'a reconcile of every client', 60_000, 250);
  await waitFor(async () => (await reconciles('target')) >= 1, 'a reconcile of the target', 60_000, 250);
  // ...and a restart it might have held back for minInterval would have happened by now.
  await scenario.quietPeriod();

  // Counted by the API server, so that a patch that changes nothing (invisible to a watch) counts too.
  assert.deepEqual(writesBetween(requestsBefore, await requestCounts(scenario.cluster.kubeConfig)), new Map(), 'requests that write, served while the new operator took over');
  assert.equal(scenario.configMaps.versions.length, versions.configMap, 'no ConfigMap write');
  assert.equal(scenario.deployments.versions.length, versions.deployment, 'no Deployment change, so no restart');
  assert.equal(scenario.credentialSecrets.versions.length, versions.credentials, 'no credentials write');
  for (const ns of NAMESPACES) {
    for (const c of await listFliptClients(scenario.cluster.clients, ns)) {
      assert.equal(c.status?.credentialFingerprint, fingerprints.get(`${ns}/${c.metadata.name}`), 'no token changed');
      assert.equal(condition(c, 'Ready')?.status, 'True');
    }
  }
  const logs = scenario.allLogs();
  for (const [key] of fingerprints) {
    const [ns, name] = key.split('/') as [string, string];
    const secret = await scenario.cluster.clients.core.readNamespacedSecret({ name: `${name}-flipt`, namespace: ns });
    const token = secretValue(secret, 'token')!;
    assert.equal(fingerprint(token), fingerprints.get(key));
    assert.ok(!logs.includes(token), 'token in logs');
  }
});

test('100 clients rotating together share restarts: at most 4, counted from the API server', async () => {
  const rotating = Array.from({ length: 100 }, (_, i) => ({ namespace: NAMESPACES[i % NAMESPACES.length]!, name: `app-${i}` }));
  const before = new Map<string, string | undefined>();
  for (const ns of NAMESPACES) for (const c of await listFliptClients(scenario.cluster.clients, ns)) before.set(`${ns}/${c.metadata.name}`, c.status?.credentialFingerprint);
  await scenario.quietPeriod();
  const restarts = scenario.restarts();
  // One patch each, 25 at a time, as `kubectl annotate` over a list would: a request and a short overlap.
  for (let i = 0; i < rotating.length; i += 25) {
    await Promise.all(
      rotating.slice(i, i + 25).map((c) =>
        scenario.cluster.clients.custom.patchNamespacedCustomObject(
          {
            group: 'flipt.io',
            version: 'v1alpha1',
            plural: 'fliptclients',
            namespace: c.namespace,
            name: c.name,
            body: { metadata: { annotations: { 'flipt.io/rotate': 'all' } }, spec: { rotation: { every: '24h', overlap: '5s' } } },
          },
          mergePatch,
        ),
      ),
    );
  }
  const started = Date.now();
  await waitFor(async () => {
    let done = 0;
    for (const ns of NAMESPACES) {
      for (const c of await listFliptClients(scenario.cluster.clients, ns)) {
        if (c.status?.lastRotateRequest === 'all' && condition(c, 'Rotating')?.status === 'False') done++;
      }
    }
    return done === rotating.length;
  }, 'all 100 rotations to complete', 180_000, 1000);
  await scenario.quietPeriod();
  const cost = scenario.restarts() - restarts;
  process.stdout.write(`# 100 rotations together: ${cost} Flipt restarts, complete in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  assert.ok(cost <= 4, `${cost} restarts`);
  for (const c of rotating) {
    const now = (await listFliptClients(scenario.cluster.clients, c.namespace)).find((x) => x.metadata.name === c.name)!;
    assert.notEqual(now.status?.credentialFingerprint, before.get(`${c.namespace}/${c.name}`), `${c.namespace}/${c.name} rotated`);
    assert.equal(condition(now, 'Ready')?.status, 'True');
  }
  const untouched = (await listFliptClients(scenario.cluster.clients, NAMESPACES[0]!)).filter((c) => !rotating.some((r) => r.name === c.metadata.name && r.namespace === NAMESPACES[0]));
  for (const c of untouched) assert.equal(c.status?.credentialFingerprint, before.get(`${NAMESPACES[0]}/${c.metadata.name}`), 'clients not asked to rotate keep their token');
  await assertConsistent(scenario, CLIENT_NAMES);
});
