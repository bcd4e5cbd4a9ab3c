// npm run bench:reconcile -- N [jwt]   (default 1000, static tokens)
// Applies N FliptClients to the project's own control plane with the operator running as a process,
// and prints: time until all are Ready, ConfigMap writes and restarts (counted from the API server's
// watch), the operator's peak RSS; and, as a baseline measured in the same run against the same API
// server with the same client, the time to create N plain Secrets. With `jwt` the target uses JWTs:
// the clock starts once the operator has enabled Flipt's jwt method, and the counts are those after it.
import { readFileSync } from 'node:fs';
import type { KubeClients } from '../src/kube/client.ts';
import type { FliptClient } from '../src/vocabulary/fliptclient.ts';
import { changes, recordHistory } from '../test/support/api-watch.ts';
import { clusterFor, installCrd } from '../test/support/cluster.ts';
import { startControlPlane } from '../test/support/controlplane.ts';
import { createFliptTarget, simulateDeploymentController } from '../test/support/flipt-target.ts';
import { startOperator, writeOperatorConfig } from '../test/support/operator-process.ts';
import type { V1ConfigMap, V1Deployment } from '@kubernetes/client-node';

const N = Number(process.argv[2] ?? 1000);
if (!Number.isInteger(N) || N < 1 || N > 20_000) {
  process.stderr.write('usage: npm run bench:reconcile -- N   (1..20000)\n');
  process.exit(2);
}
const JWT = process.argv[3] === 'jwt';
const CONCURRENCY = 25;
const NAMESPACES = 10;
const log = (line: string) => process.stdout.write(`${line}\n`);

async function inBatches<T>(items: T[], run: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += CONCURRENCY) await Promise.all(items.slice(i, i + CONCURRENCY).map(run));
}

async function countReady(clients: KubeClients): Promise<number> {
  const list = (await clients.custom.listClusterCustomObject({ group: 'flipt.io', version: 'v1alpha1', plural: 'fliptclients' })) as { items: FliptClient[] };
  return list.items.filter((c) => c.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')).length;
}

function peakRssMb(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

const controlPlane = await startControlPlane();
const { kubeConfig, clients } = clusterFor(controlPlane.kubeconfigPath);
let stopRollouts = () => {};
let operator: ReturnType<typeof startOperator> | undefined;
try {
  await installCrd(kubeConfig);
  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `bench-${i}`);
  for (const name of [...namespaces, 'baseline']) await clients.core.createNamespace({ body: { metadata: { name } } });

  log(`baseline: creating ${N} plain Secrets (${CONCURRENCY} at a time)...`);
  const baselineStart = performance.now();
  await inBatches(Array.from({ length: N }, (_, i) => i), (i) =>
    clients.core.createNamespacedSecret({ namespace: 'baseline', body: { metadata: { name: `plain-${i}` }, stringData: { token: 'x'.repeat(64) } } }),
  );
  const baselineSeconds = (performance.now() - baselineStart) / 1000;

  await createFliptTarget(clients, { namespace: 'flipt', configMap: 'flipt', deployment: 'flipt' });
  const configMaps = await recordHistory<V1ConfigMap>(kubeConfig, '/api/v1/namespaces/flipt/configmaps', 'flipt');
  const deployments = await recordHistory<V1Deployment>(kubeConfig, '/apis/apps/v1/namespaces/flipt/deployments', 'flipt');
  stopRollouts = simulateDeploymentController(clients, 'flipt', 'flipt');
  const { path } = writeOperatorConfig({
    targets: [{ name: 'default', namespace: 'flipt', configMap: { name: 'flipt' }, workload: { kind: 'Deployment', name: 'flipt' }, ...(JWT ? { credentialKind: 'jwt' } : {}) }],
    ...(JWT ? { exchange: { enabled: true }, jwt: { jwksUrl: 'http://flipt-client-operator.flipt-client-operator.svc:8443/.well-known/jwks.json', signingKeys: { namespace: 'flipt', publishAhead: '2s' } } } : {}),
  });
  operator = startOperator(path, controlPlane.kubeconfigPath, { LOG_LEVEL: 'info' });
  while (!operator.output().includes('became leader')) await new Promise((r) => setTimeout(r, 100));
  const restartsOf = () => changes(deployments, (d) => d.spec?.template?.metadata?.annotations?.['flipt.io/restarted-at'] ?? null);
  if (JWT) {
    log('operator: waiting for it to enable the jwt method in Flipt (one write, one restart)...');
    while (restartsOf() < 1) await new Promise((r) => setTimeout(r, 100));
  }
  const enablement = { writes: configMaps.versions.length - 1, restarts: restartsOf() };

  log(`operator: applying ${N} FliptClients (${CONCURRENCY} at a time, ${NAMESPACES} namespaces)...`);
  const started = performance.now();
  await inBatches(Array.from({ length: N }, (_, i) => i), (i) =>
    clients.custom.createNamespacedCustomObject({
      group: 'flipt.io',
      version: 'v1alpha1',
      plural: 'fliptclients',
      namespace: namespaces[i % NAMESPACES]!,
      body: { apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { name: `app-${i}` }, spec: { metadata: { index: String(i) } } },
    }),
  );
  const appliedSeconds = (performance.now() - started) / 1000;
  let ready = 0;
  let lastReport = performance.now();
  while (ready < N) {
    await new Promise((r) => setTimeout(r, 500));
    ready = await countReady(clients);
    if (performance.now() - lastReport > 10_000) {
      log(`  ${ready}/${N} Ready after ${((performance.now() - started) / 1000).toFixed(0)} s`);
      lastReport = performance.now();
    }
    if (operator.child.exitCode !== null) throw new Error(`operator exited:\n${operator.output().slice(-2000)}`);
  }
  const readySeconds = (performance.now() - started) / 1000;
  const writes = configMaps.versions.length - 1 - enablement.writes;
  const restarts = restartsOf() - enablement.restarts;
  const rss = peakRssMb(operator.child.pid!);
  configMaps.stop();
  deployments.stop();

  log('');
  log(`N = ${N}, ${JWT ? `JWTs (enabling the jwt method cost ${enablement.writes} ConfigMap write and ${enablement.restarts} restart before the clock started)` : 'static tokens'}`);
  log(`  FliptClients applied in           ${appliedSeconds.toFixed(1)} s`);
  log(`  all Ready after                   ${readySeconds.toFixed(1)} s`);
  log(`  ConfigMap writes                  ${writes}`);
  log(`  Flipt restarts                    ${restarts}`);
  log(`  operator peak RSS                 ${rss.toFixed(0)} MiB`);
  log(`  baseline: ${N} plain Secrets       ${baselineSeconds.toFixed(1)} s`);
  log(`  all Ready / baseline              ${(readySeconds / baselineSeconds).toFixed(1)}x`);
} finally {
  stopRollouts();
  await operator?.stop();
  await controlPlane.stop();
}
