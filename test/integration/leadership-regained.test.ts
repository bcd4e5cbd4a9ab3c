// A replica that loses its Lease stops its controllers, and the work their queues held goes with
// them; when it leads again it must pick that work up. Here: the refresh of a client's JWT (queued
// for two thirds of its lifetime) when its replica was cut off from the API server for longer than
// renewDeadline and then led again. The client's JWT must still be replaced before it expires.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import { secretValue } from '../../src/kube/secret-data.ts';
import { readJwt, refreshAtOf } from '../../src/vocabulary/client-jwt.ts';
import { recordHistory, type ObjectHistory } from '../support/api-watch.ts';
import { waitFor } from '../support/cluster.ts';
import { condition, createFliptClient, getFliptClient } from '../support/fliptclients.ts';
import { Scenario } from '../support/scenario.ts';

const APP = `regained-${Date.now().toString(36)}`;
const LEASE = { leaseDuration: '4s', renewDeadline: '2500ms', retryPeriod: '500ms' };
let scenario: Scenario;
let secret: ObjectHistory<V1Secret>;

before(async () => {
  scenario = await Scenario.start({ credentialKind: 'jwt', jwt: { lifetime: '60s' }, minInterval: '1s', deployRbac: {}, apiProxy: true, leaderElection: LEASE });
  await scenario.createAppNamespace(APP);
  secret = await recordHistory<V1Secret>(scenario.cluster.kubeConfig, `/api/v1/namespaces/${APP}/secrets`, 'web-flipt');
});

after(async () => {
  secret?.stop();
  await scenario?.stop();
});

const jwtIn = (s: V1Secret) => secretValue(s, 'token');

test('a JWT whose refresh was queued when the replica lost its Lease is refreshed, once it leads again, before it expires', async () => {
  await createFliptClient(scenario.cluster.clients, APP, 'web', {});
  await waitFor(async () => condition(await getFliptClient(scenario.cluster.clients, APP, 'web'), 'Ready')?.status === 'True', 'web Ready', 60_000);
  await secret.caughtUp();
  const first = jwtIn(secret.versions.at(-1)!);
  const expiresAt = readJwt(first)!.expiresAt;

  const proxy = scenario.proxy!;
  const leads = () => scenario.operator.output().split('became leader').length - 1;
  const ledBefore = leads();
  proxy.partition();
  try {
    await waitFor(async () => scenario.operator.output().includes('lost leadership'), 'the replica to lose its Lease', 15_000, 100);
  } finally {
    proxy.heal();
  }
  await waitFor(async () => leads() > ledBefore, 'the replica to lead again', 15_000, 100);
  assert.ok(Date.now() < refreshAtOf(readJwt(first)!), 'led again before the refresh was due: it was still queued when the Lease was lost');

  // Watched until the old JWT expires, no longer.
  await waitFor(async () => jwtIn(secret.versions.at(-1)!) !== first, 'a new JWT in the client Secret before the old one expired', expiresAt - Date.now(), 200);
  assert.equal(condition(await getFliptClient(scenario.cluster.clients, APP, 'web'), 'Ready')?.status, 'True');
});
