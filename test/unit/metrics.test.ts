// The gauges read from the operator's cache at scrape time: per target, the earliest scheduled
// rotation and the earliest JWT expiry, absent where no client has one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../src/metrics.ts';
import type { FliptClient, FliptClientStatus } from '../../src/vocabulary/fliptclient.ts';
import type { TargetState } from '../../src/vocabulary/registration.ts';

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

test('the earliest time per target whatever order the clients are listed in', async () => {
  const metrics = new Metrics();
  const clients = [client('a', undefined, { rotateAt: '2030-02-01T00:00:00.000Z' }), client('b', undefined, { rotateAt: '2030-03-01T00:00:00.000Z' })];
  metrics.trackFliptClients(() => clients, ['default']);
  assert.deepEqual(await samples(metrics, 'flipt_operator_next_rotation_timestamp_seconds'), { 'target="default"': Date.parse('2030-02-01T00:00:00Z') / 1000 });
});

test('FliptClients per target and readiness: every known target has both samples, Ready only when its condition is True', async () => {
  const metrics = new Metrics();
  const ready = (status: 'True' | 'False' | 'Unknown') => ({ conditions: [{ type: 'Ready' as const, status, reason: 'r', message: '', lastTransitionTime: '' }] });
  const clients = [client('a', undefined, ready('True')), client('b', undefined, ready('Unknown')), client('c', undefined, {}), client('d', 'edge', ready('False'))];
  metrics.trackFliptClients(() => clients, ['default', 'edge', 'idle']);
  assert.deepEqual(await samples(metrics, 'flipt_operator_fliptclients'), {
    'target="default",ready="true"': 1,
    'target="default",ready="false"': 2,
    'target="edge",ready="true"': 0,
    'target="edge",ready="false"': 1,
    'target="idle",ready="true"': 0,
    'target="idle",ready="false"': 0,
  });
});

test("each target's fill, what blocks it, and how long its rollout has run, from its last state", async () => {
  const metrics = new Metrics();
  const base: TargetState = { registered: new Map(), accepted: new Set(), refused: new Map(), conflicts: new Set(), rollout: { done: true, detail: '' }, authenticationRequired: true, jwtConfigured: false, jwtAccepted: false };
  const now = 1_000_000;
  const states = new Map<string, TargetState>([
    ['full', { ...base, fill: { configMap: 0.97, secret: 0.25 }, refused: new Map([['a/x', { reason: 'TargetFull', message: '' }], ['b/y', { reason: 'NamespaceLimitReached', message: '' }]]), rolloutSince: now - 30_000 }],
    ['broken', { ...base, problem: { reason: 'ConfigMapMissing', message: '' }, jwtProblem: { reason: 'KubernetesMethodEnabled', message: '' }, writeFailure: 'API 403', rolloutSince: now + 5_000 }],
    ['warned', { ...base, envOverride: { reason: 'FliptEnvOverride', blocking: false, message: '' } }],
    ['overridden', { ...base, envOverride: { reason: 'FliptEnvOverride', blocking: true, message: '' } }],
  ]);
  metrics.trackTargets(() => states, () => now);
  assert.deepEqual(await samples(metrics, 'flipt_operator_target_fill_ratio'), { 'target="full",object="configmap"': 0.97, 'target="full",object="secret"': 0.25 });
  assert.deepEqual(await samples(metrics, 'flipt_operator_target_blocked'), {
    'target="full",reason="TargetFull"': 1,
    'target="full",reason="NamespaceLimitReached"': 1,
    'target="broken",reason="ConfigMapMissing"': 1,
    'target="broken",reason="KubernetesMethodEnabled"': 1,
    'target="broken",reason="WriteFailed"': 1,
    'target="overridden",reason="FliptEnvOverride"': 1,
  });
  assert.deepEqual(await samples(metrics, 'flipt_operator_target_rollout_pending_seconds'), {
    'target="full"': 30,
    'target="broken"': 0,
    'target="warned"': 0,
    'target="overridden"': 0,
  }, 'a restart stamped by a clock ahead of this one counts as just begun');
});

test('the metrics port answers GET /metrics (a query string allowed) and nothing else', async () => {
  const server = await new Metrics().serve(0);
  try {
    const { port } = server.address() as { port: number };
    const status = async (path: string, method = 'GET') => (await fetch(`http://127.0.0.1:${port}${path}`, { method })).status;
    assert.deepEqual([await status('/metrics'), await status('/metrics?x=1'), await status('/metrics', 'POST'), await status('/')], [200, 200, 404, 404]);
  } finally {
    server.close();
  }
});
