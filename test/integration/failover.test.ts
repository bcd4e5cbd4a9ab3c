// Failover with real operator processes under deploy/'s RBAC and short lease timings: the leader
// SIGKILLed in the middle of a burst, the leader stopped with SIGTERM, the exchange answering
// throughout from whichever replica is up, and a leader cut off from the API server by a partition,
// which must stop writing before another replica may lead.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { Watch, type V1Lease, type V1Secret } from '@kubernetes/client-node';
import { MANAGED_BY, MANAGED_BY_LABEL } from '../../src/vocabulary/fliptclient.ts';
import { parseDuration } from '../../src/util/duration.ts';
import { ApiProxy } from '../support/api-proxy.ts';
import { recordHistory, revision } from '../support/api-watch.ts';
import { waitFor } from '../support/cluster.ts';
import { OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT, serviceAccountKubeconfig } from '../support/deploy-rbac.ts';
import { condition, createFliptClient, listFliptClients } from '../support/fliptclients.ts';
import { assertConsistent } from '../support/invariants.ts';
import type { OperatorProcess, WrittenConfig } from '../support/operator-process.ts';
import { Scenario } from '../support/scenario.ts';

const LEASE = { leaseDuration: '4s', renewDeadline: '2500ms', retryPeriod: '500ms' };
const LEASE_MS = parseDuration(LEASE.leaseDuration)!;
const RETRY_MS = parseDuration(LEASE.retryPeriod)!;
const LEASE_NAME = 'flipt-client-operator';
const CLIENTS = 200;
const EXCHANGERS = ['exchanger-0', 'exchanger-1', 'exchanger-2'];
const EXCHANGE_NAMESPACE = 'failover-exchange';

let scenario: Scenario;
let replicaB: { operator: OperatorProcess; ports: WrittenConfig['ports'] };
const saTokens = new Map<string, string>();

const identityOf = (operator: OperatorProcess) => `${hostname()}-${operator.child.pid}`;

async function holder(): Promise<string | undefined> {
  const lease = await scenario.cluster.clients.coordination.readNamespacedLease({ name: LEASE_NAME, namespace: OPERATOR_NAMESPACE });
  return lease.spec?.holderIdentity ?? undefined;
}

/** Polls the Lease every 20 ms until `operator` holds it; returns when that was first seen. */
async function ledBy(operator: OperatorProcess, timeoutMs = 30_000): Promise<number> {
  await waitFor(async () => (await holder()) === identityOf(operator), `pid ${operator.child.pid} to lead`, timeoutMs, 20);
  return Date.now();
}

async function ready(ports: WrittenConfig['ports']): Promise<void> {
  await waitFor(async () => (await fetch(`http://127.0.0.1:${ports.health}/readyz`).catch(() => undefined))?.status === 200, 'the replica to be ready', 30_000, 100);
}

async function allReady(namespaces: readonly string[], count: number): Promise<boolean> {
  let n = 0;
  for (const ns of namespaces) for (const c of await listFliptClients(scenario.cluster.clients, ns)) if (condition(c, 'Ready')?.status === 'True') n++;
  return n === count;
}

async function issued(namespaces: readonly string[]): Promise<number> {
  let n = 0;
  for (const ns of namespaces) for (const c of await listFliptClients(scenario.cluster.clients, ns)) if (c.status?.credentialFingerprint) n++;
  return n;
}

async function createBurst(namespaces: readonly string[], count: number): Promise<Array<{ namespace: string; name: string }>> {
  const names = Array.from({ length: count }, (_, i) => ({ namespace: namespaces[i % namespaces.length]!, name: `app-${i}` }));
  for (let i = 0; i < names.length; i += 25) {
    await Promise.all(names.slice(i, i + 25).map((n) => createFliptClient(scenario.cluster.clients, n.namespace, n.name)));
  }
  return names;
}

/** Every token value each client Secret of the namespace ever held, from a watch on the API server. */
async function watchTokens(namespace: string): Promise<{ tokens: Map<string, Set<string>>; stop: () => void }> {
  const tokens = new Map<string, Set<string>>();
  const controller = await new Watch(scenario.cluster.kubeConfig).watch(
    `/api/v1/namespaces/${namespace}/secrets`,
    { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}` },
    (_type, secret: V1Secret) => {
      const token = secret.data?.token;
      if (!token) return;
      const seen = tokens.get(secret.metadata!.name!) ?? new Set<string>();
      seen.add(token);
      tokens.set(secret.metadata!.name!, seen);
    },
    () => {},
  );
  return { tokens, stop: () => controller.abort() };
}

/** A pod's exchange with retry: each replica in turn until one answers 200. */
async function exchangeWithRetry(portsInOrder: number[], serviceAccount: string): Promise<'first' | 'retried' | 'failed'> {
  for (const [i, port] of portsInOrder.entries()) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/auth/v1/method/kubernetes/serviceaccount`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ service_account_token: saTokens.get(serviceAccount) }),
        signal: AbortSignal.timeout(2_000),
      });
      await res.arrayBuffer();
      if (res.status === 200) return i === 0 ? 'first' : 'retried';
    } catch {
      // connection refused or timed out: the next replica
    }
  }
  return 'failed';
}

before(async () => {
  scenario = await Scenario.start({ deployRbac: {}, exchange: true, minInterval: '2s', leaderElection: LEASE });
  await scenario.createAppNamespace(EXCHANGE_NAMESPACE);
  for (const sa of EXCHANGERS) {
    await scenario.cluster.clients.core.createNamespacedServiceAccount({ namespace: EXCHANGE_NAMESPACE, body: { metadata: { name: sa } } });
    await createFliptClient(scenario.cluster.clients, EXCHANGE_NAMESPACE, sa, { serviceAccounts: [sa] });
    const request = await scenario.cluster.clients.core.createNamespacedServiceAccountToken({
      name: sa,
      namespace: EXCHANGE_NAMESPACE,
      body: { spec: { audiences: ['flipt-client-operator'], expirationSeconds: 3600 } },
    });
    saTokens.set(sa, request.status!.token!);
  }
  await ledBy(scenario.operator, 60_000);
  await waitFor(() => allReady([EXCHANGE_NAMESPACE], EXCHANGERS.length), 'the exchangers Ready', 60_000, 200);
  replicaB = scenario.startReplica();
  await ready(replicaB.ports);
});

after(() => scenario?.stop());

let baselineRestarts = 0;

test(`baseline: a burst of ${CLIENTS} with two replicas and no failure`, async () => {
  const namespaces = ['fo-base-a', 'fo-base-b'];
  for (const ns of namespaces) await scenario.createAppNamespace(ns);
  await scenario.quietPeriod();
  const before = scenario.restarts();
  const names = await createBurst(namespaces, CLIENTS);
  await waitFor(() => allReady(namespaces, CLIENTS), `all ${CLIENTS} Ready`, 180_000, 500);
  await scenario.quietPeriod();
  baselineRestarts = scenario.restarts() - before;
  process.stdout.write(`# baseline burst of ${CLIENTS}: ${baselineRestarts} Flipt restart(s)\n`);
  await assertConsistent(scenario, names);
});

test(`SIGKILL the leader in the middle of a burst of ${CLIENTS}: the other replica leads within leaseDuration + retryPeriod, nothing lost or issued twice, no extra restart, and the exchange never fails a client that retries`, async () => {
  const namespaces = ['fo-kill-a', 'fo-kill-b'];
  for (const ns of namespaces) await scenario.createAppNamespace(ns);
  const watches = await Promise.all(namespaces.map((ns) => watchTokens(ns)));
  await scenario.quietPeriod();
  const restartsBefore = scenario.restarts();
  const leader = scenario.operator;

  // A pod exchanging every 50 ms, trying the first replica, then the other.
  const outcomes = { first: 0, retried: 0, failed: 0 };
  let exchanging = true;
  const exchanges = (async () => {
    for (let i = 0; exchanging; i++) {
      outcomes[await exchangeWithRetry([scenario.ports.exchange, replicaB.ports.exchange], EXCHANGERS[i % EXCHANGERS.length]!)]++;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();

  try {
    const names = await createBurst(namespaces, CLIENTS);
    await waitFor(async () => (await issued(namespaces)) >= CLIENTS / 4, 'a quarter of the burst issued', 120_000, 100);
    const issuedAtKill = await issued(namespaces);
    const killedAt = Date.now();
    await leader.kill();
    const ledAt = await ledBy(replicaB.operator);
    const failover = ledAt - killedAt;
    process.stdout.write(`# SIGKILL with ${issuedAtKill}/${CLIENTS} issued: the other replica led after ${failover} ms (leaseDuration ${LEASE_MS} ms + retryPeriod ${RETRY_MS} ms)\n`);
    // leaseDuration after the last renewal it saw, which it sees at most a retryPeriod late; the slack
    // is for the API requests and this test's own polling on a loaded machine.
    assert.ok(failover <= LEASE_MS + RETRY_MS + 500, `led after ${failover} ms`);

    await waitFor(() => allReady(namespaces, CLIENTS), `all ${CLIENTS} Ready after the failover`, 180_000, 500);
    await scenario.quietPeriod();
    const restarts = scenario.restarts() - restartsBefore;
    process.stdout.write(`# burst with a SIGKILLed leader: ${restarts} Flipt restart(s), baseline ${baselineRestarts}\n`);
    assert.ok(restarts <= baselineRestarts, `${restarts} restarts, ${baselineRestarts} without the kill`);

    // Nothing issued twice: every client Secret only ever held one token; nothing lost: each is registered.
    const twice = watches.flatMap((w) => [...w.tokens].filter(([, seen]) => seen.size !== 1).map(([name]) => name));
    assert.deepEqual(twice, [], 'client Secrets that held more than one token');
    assert.equal(watches.reduce((n, w) => n + w.tokens.size, 0), CLIENTS);
    await assertConsistent(scenario, names);
  } finally {
    exchanging = false;
    await exchanges;
    for (const w of watches) w.stop();
  }
  process.stdout.write(`# exchanges during the failover: ${outcomes.first} answered first, ${outcomes.retried} after a retry on the other replica, ${outcomes.failed} failed\n`);
  assert.equal(outcomes.failed, 0, 'an exchange failed on both replicas');
  assert.ok(outcomes.retried > 0, 'no exchange needed the other replica: the kill was not exercised');
  assert.ok(outcomes.first + outcomes.retried > 100);
});

test('SIGTERM the leader: it hands the Lease back and another replica leads within a second', async () => {
  const replicaC = scenario.startReplica();
  await ready(replicaC.ports);
  const stoppedAt = Date.now();
  const exit = replicaB.operator.stop();
  const ledAt = await ledBy(replicaC.operator, 10_000);
  process.stdout.write(`# SIGTERM: the other replica led after ${ledAt - stoppedAt} ms\n`);
  assert.equal(await exit, 0);
  assert.ok(ledAt - stoppedAt < 1_000 + RETRY_MS, `led after ${ledAt - stoppedAt} ms`);
  replicaB = replicaC;
});

test('a leader cut off from the API server stops writing before another replica may lead: none of its writes lands after the successor took the Lease', async () => {
  const proxy = await ApiProxy.start(scenario.cluster.kubeConfig.getCurrentCluster()!.server);
  const leases = await recordHistory<V1Lease>(scenario.cluster.kubeConfig, `/apis/coordination.k8s.io/v1/namespaces/${OPERATOR_NAMESPACE}/leases`, LEASE_NAME);
  try {
    // The leader-to-be reaches the API server only through the proxy.
    const behindProxy = scenario.startReplica(await serviceAccountKubeconfig(scenario.cluster, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT, proxy.url));
    await ready(behindProxy.ports);
    for (const operator of [scenario.operator, replicaB.operator]) await operator.stop();
    await ledBy(behindProxy.operator);
    const successor = scenario.startReplica();
    await ready(successor.ports);

    const namespaces = ['fo-part-a', 'fo-part-b'];
    for (const ns of namespaces) await scenario.createAppNamespace(ns);
    const names = await createBurst(namespaces, 100);
    await waitFor(async () => (await issued(namespaces)) >= 20, 'part of the burst issued', 120_000, 50);
    const partitionedAt = Date.now();
    proxy.partition();
    const ledAt = await ledBy(successor.operator);
    await new Promise((r) => setTimeout(r, 2_000));
    proxy.heal();
    process.stdout.write(
      `# partition: the successor led after ${ledAt - partitionedAt} ms; at the heal ${proxy.abandoned} held request(s) had been abandoned by the old leader, ${proxy.deliveredWrites} write(s) delivered late\n`,
    );

    await waitFor(() => allReady(namespaces, 100), 'all 100 Ready under the successor', 180_000, 500);
    await leases.caughtUp();
    const taken = leases.versions.find((l) => l.spec?.holderIdentity === identityOf(successor.operator))!;
    const oldLeaderWrites = proxy.writes.filter((w) => w.resourceVersion !== undefined);
    assert.ok(oldLeaderWrites.length > 10, 'the old leader wrote through the proxy before the partition');
    const late = oldLeaderWrites.filter((w) => w.resourceVersion! > revision(taken));
    assert.deepEqual(late, [], `writes of the old leader after the successor took the Lease (resourceVersion ${revision(taken)})`);
    assert.equal(proxy.deliveredWrites, 0, 'a write held by the partition was still wanted when it healed');
    assert.ok(proxy.abandoned > 0, 'the old leader had requests in flight when cut off');
    assert.match(behindProxy.operator.output(), /lost leadership/);
    await assertConsistent(scenario, names);
  } finally {
    leases.stop();
    await proxy.stop();
  }
});
