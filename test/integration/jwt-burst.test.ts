// 1,000 FliptClients of a JWT target, applied at once against a real API server with the operator as a
// real process: all Ready with a JWT Flipt's check accepts, with no ConfigMap write and no Flipt restart
// after the one that enabled the jwt method (counted from the API server's watch).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../support/cluster.ts';
import { fetchJwks, verifyAsFlipt } from '../support/flipt-jwt.ts';
import { condition, createFliptClient, listFliptClients } from '../support/fliptclients.ts';
import { Scenario } from '../support/scenario.ts';

const CLIENTS = 1000;
const NAMESPACES = Array.from({ length: 10 }, (_, i) => `jwt-burst-${i}`);
let scenario: Scenario;
let enablement = { writes: 0, restarts: 0 };

before(async () => {
  scenario = await Scenario.start({ credentialKind: 'jwt', minInterval: '10s' });
  for (const name of NAMESPACES) await scenario.createAppNamespace(name);
  await waitFor(() => scenario.restarts() === 1, 'the restart that enables the jwt method', 30_000);
  await scenario.quietPeriod();
  enablement = { writes: scenario.configWrites(), restarts: scenario.restarts() };
});

after(() => scenario?.stop());

async function ready(): Promise<number> {
  let count = 0;
  for (const ns of NAMESPACES) for (const c of await listFliptClients(scenario.cluster.clients, ns)) if (condition(c, 'Ready')?.status === 'True') count++;
  return count;
}

test(`${CLIENTS} FliptClients of a JWT target: all Ready, no ConfigMap write and no restart after enablement`, async () => {
  assert.deepEqual(enablement, { writes: 1, restarts: 1 });
  const started = Date.now();
  const names = Array.from({ length: CLIENTS }, (_, i) => ({ namespace: NAMESPACES[i % NAMESPACES.length]!, name: `app-${i}` }));
  for (let i = 0; i < names.length; i += 25) {
    await Promise.all(names.slice(i, i + 25).map((n) => createFliptClient(scenario.cluster.clients, n.namespace, n.name, { metadata: { index: String(i) } })));
  }
  await waitFor(async () => (await ready()) === CLIENTS, `all ${CLIENTS} FliptClients Ready`, 300_000, 1000);
  const seconds = (Date.now() - started) / 1000;
  await scenario.quietPeriod();
  const after = { writes: scenario.configWrites(), restarts: scenario.restarts() };
  process.stdout.write(`# ${CLIENTS} JWT clients: Ready in ${seconds.toFixed(1)} s; after enablement ${after.writes - enablement.writes} ConfigMap writes, ${after.restarts - enablement.restarts} restarts\n`);
  assert.deepEqual(after, enablement, 'not one ConfigMap write or restart for 1,000 clients');
  // A sample of the Secrets, each checked as Flipt would against the JWKS the operator serves.
  const { jwks } = await fetchJwks(scenario.jwksUrl());
  for (const n of names.filter((_, i) => i % 50 === 0)) {
    const secret = await scenario.cluster.clients.core.readNamespacedSecret({ name: `${n.name}-flipt`, namespace: n.namespace });
    const payload = await verifyAsFlipt(Buffer.from(secret.data!.token!, 'base64').toString(), jwks, { issuer: 'flipt-client-operator', audience: 'flipt:default' });
    assert.equal(payload['io.flipt.auth.fliptclient.name'], n.name);
  }
});
