// The gauges read from the operator's cache at scrape time: per target, the earliest scheduled
// rotation and the earliest JWT expiry, absent where no client has one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../src/metrics.ts';
import type { FliptClient, FliptClientStatus } from '../../src/vocabulary/fliptclient.ts';

function client(name: string, target: string | undefined, status: FliptClientStatus): FliptClient {
  return { apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { namespace: 'apps', name }, spec: target ? { target } : {}, status };
}

/** The gauge's samples as label set -> value, e.g. `target="main"` -> 1700000000. */
async function samples(metrics: Metrics, name: string): Promise<Record<string, number>> {
  const values = (await metrics.registry.getSingleMetric(name)!.get()).values;
  return Object.fromEntries(values.map((v) => [Object.entries(v.labels).map(([k, l]) => `${k}="${l}"`).join(','), v.value]));
}

test('next JWT expiry: the earliest expiresAt per target, in seconds; a target whose clients hold no JWT has no sample', async () => {
  const metrics = new Metrics();
  const clients = [
    client('a', 'jwt-main', { credentialKind: 'jwt', expiresAt: '2030-01-01T01:00:00.000Z' }),
    client('b', 'jwt-main', { credentialKind: 'jwt', expiresAt: '2030-01-01T00:40:00.000Z' }),
    client('c', 'jwt-main', { credentialKind: 'jwt' }),
    client('d', 'jwt-edge', { credentialKind: 'jwt', expiresAt: '2030-01-02T00:00:00.000Z' }),
    client('e', undefined, { credentialKind: 'staticToken', issuedAt: '2030-01-01T00:00:00.000Z' }),
    client('f', 'jwt-edge', { credentialKind: 'jwt', expiresAt: 'not a time' }),
  ];
  metrics.trackFliptClients(() => clients, ['jwt-main', 'jwt-edge', 'default']);
  assert.deepEqual(await samples(metrics, 'flipt_operator_next_jwt_expiry_timestamp_seconds'), {
    'target="jwt-main"': Date.parse('2030-01-01T00:40:00Z') / 1000,
    'target="jwt-edge"': Date.parse('2030-01-02T00:00:00Z') / 1000,
  });
  // Read again at every scrape: a refreshed JWT moves it, a deleted client takes its sample away.
  clients.splice(0, 2, client('b', 'jwt-main', { credentialKind: 'jwt', expiresAt: '2030-01-01T01:40:00.000Z' }));
  clients.splice(clients.findIndex((c) => c.metadata.name === 'd'), 1);
  assert.deepEqual(await samples(metrics, 'flipt_operator_next_jwt_expiry_timestamp_seconds'), { 'target="jwt-main"': Date.parse('2030-01-01T01:40:00Z') / 1000 });
});

test('next scheduled rotation: the earliest rotateAt per target; none scheduled, no sample', async () => {
  const metrics = new Metrics();
  const clients = [
    client('a', undefined, { rotateAt: '2030-03-01T00:00:00.000Z' }),
    client('b', undefined, { rotateAt: '2030-02-01T00:00:00.000Z' }),
    client('c', 'edge', {}),
  ];
  metrics.trackFliptClients(() => clients, ['default', 'edge']);
  assert.deepEqual(await samples(metrics, 'flipt_operator_next_rotation_timestamp_seconds'), { 'target="default"': Date.parse('2030-02-01T00:00:00Z') / 1000 });
});

test('before the caches are tracked, neither gauge has a sample', async () => {
  const metrics = new Metrics();
  assert.deepEqual(await samples(metrics, 'flipt_operator_next_jwt_expiry_timestamp_seconds'), {});
  assert.deepEqual(await samples(metrics, 'flipt_operator_next_rotation_timestamp_seconds'), {});
});
