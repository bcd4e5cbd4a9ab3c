// The operator watches client Secrets by two labels anyone who may create a Secret can set. A tenant
// who creates many large Secrets with those labels (none controlled by a FliptClient) must not run the
// operator out of memory: here under a heap cap of 96 MiB (the operator uses about 50 MiB), against
// 80 such Secrets of 1.2 MB each, the previous cache (every labelled Secret kept whole) ran out of heap.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MANAGED_BY, MANAGED_BY_LABEL, CLIENT_LABEL } from '../../src/vocabulary/fliptclient.ts';
import { waitFor } from '../support/cluster.ts';
import { condition, createFliptClient, getFliptClient } from '../support/fliptclients.ts';
import { Scenario } from '../support/scenario.ts';

const TENANT = 'labelled-tenant';
const OTHER = 'labelled-other';
const BAIT = 80;
let scenario: Scenario;

before(async () => {
  process.env.FCO_OPERATOR_NODE_ARGS = '--max-old-space-size=96';
  scenario = await Scenario.start({ minInterval: '1s' });
  await scenario.createAppNamespace(TENANT);
  await scenario.createAppNamespace(OTHER);
});

after(() => scenario?.stop());

test('80 labelled Secrets of 1.2 MB that no FliptClient controls: the operator keeps running and serves clients, and one at a client\'s name is still a conflict', { timeout: 240_000 }, async () => {
  const { core } = scenario.cluster.clients;
  const blob = randomBytes(900 * 1024).toString('base64');
  const labels = (client: string) => ({ [MANAGED_BY_LABEL]: MANAGED_BY, [CLIENT_LABEL]: client });
  // One of them where a client's Secret will go.
  await core.createNamespacedSecret({ namespace: TENANT, body: { metadata: { name: 'taken-flipt', labels: labels('taken') }, data: { token: Buffer.from('f'.repeat(64)).toString('base64'), blob } } });
  for (let i = 1; i < BAIT; i++) {
    await core.createNamespacedSecret({ namespace: TENANT, body: { metadata: { name: `bait-${i}`, labels: labels(`bait-${i}`), annotations: { note: 'n'.repeat(200_000) } }, data: { blob } } });
  }
  await createFliptClient(scenario.cluster.clients, TENANT, 'taken', {});
  await createFliptClient(scenario.cluster.clients, OTHER, 'served', {});
  const readyReason = async (namespace: string, name: string) => {
    const { exitCode, signalCode } = scenario.operator.child;
    assert.ok(exitCode === null && signalCode === null, `the operator exited (${exitCode ?? signalCode}): ${scenario.operator.output().split('\n').filter((l) => /heap|FATAL/.test(l)).join(' | ')}`);
    return condition(await getFliptClient(scenario.cluster.clients, namespace, name), 'Ready')?.reason;
  };
  await waitFor(async () => (await readyReason(OTHER, 'served')) === 'Ready', "the other namespace's client Ready", 90_000);
  await waitFor(async () => (await readyReason(TENANT, 'taken')) === 'SecretConflict', 'the client whose Secret name is taken refused', 30_000);
  const taken = await core.readNamespacedSecret({ name: 'taken-flipt', namespace: TENANT });
  assert.equal(Buffer.from(taken.data!.token!, 'base64').toString(), 'f'.repeat(64), 'a Secret the operator does not own is never overwritten');
  assert.doesNotMatch(scenario.operator.output(), /heap out of memory/);
});
