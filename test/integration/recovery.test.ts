// The operator keeps going through what stops a plain client-node informer for good: watches refused
// (its RBAC binding missing at start) and the API server going away and coming back. Uses a control
// plane of its own, so that restarting it disturbs no other test.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { KubeClients } from '../../src/kube/client.ts';
import { clusterFor, installCrd, waitFor, type TestCluster } from '../support/cluster.ts';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { applyObjects, deployManifest, operatorKubeconfig, OPERATOR_NAMESPACE } from '../support/deploy-rbac.ts';
import { createFliptTarget, simulateDeploymentController } from '../support/flipt-target.ts';
import { condition, createFliptClient, getFliptClient } from '../support/fliptclients.ts';
import { startOperator, writeOperatorConfig, type OperatorProcess } from '../support/operator-process.ts';

let controlPlane: ControlPlane;
let cluster: TestCluster;
let clients: KubeClients;
let operator: OperatorProcess;
let stopRollouts: () => void = () => {};

before(async () => {
  controlPlane = await startControlPlane();
  cluster = clusterFor(controlPlane.kubeconfigPath);
  clients = cluster.clients;
  await installCrd(cluster.kubeConfig);
  await createFliptTarget(clients, { namespace: 'flipt', configMap: 'flipt', deployment: 'flipt' });
  await clients.core.createNamespace({ body: { metadata: { name: 'apps' } } });
});

after(async () => {
  stopRollouts();
  await operator?.stop();
  await controlPlane?.stop();
});

async function ready(name: string): Promise<boolean> {
  return condition(await getFliptClient(clients, 'apps', name), 'Ready')?.status === 'True';
}

test('watches refused at start (RBAC binding missing) recover once the binding exists', async () => {
  const kubeconfig = await operatorKubeconfig(cluster);
  await clients.rbac.deleteClusterRoleBinding({ name: 'flipt-client-operator' });
  const example = parse(readFileSync(new URL('../../deploy/config.yaml', import.meta.url), 'utf8')) as { targets: Array<Record<string, unknown>> };
  const { path: configPath } = writeOperatorConfig({
    targets: [{ ...example.targets[0], restart: { minInterval: '1s' } }],
    leaderElection: { enabled: true, namespace: OPERATOR_NAMESPACE, leaseName: 'flipt-client-operator' },
  });
  operator = startOperator(configPath, kubeconfig);
  await waitFor(() => /watch failed; restarting.*403|403.*watch failed; restarting/.test(operator.output()), 'a refused watch to be retried', 20_000);
  assert.equal(operator.child.exitCode, null, 'still running');

  await applyObjects(cluster, deployManifest('rbac.yaml').filter((o) => o.kind === 'ClusterRoleBinding'));
  stopRollouts = simulateDeploymentController(clients, 'flipt', 'flipt');
  await createFliptClient(clients, 'apps', 'first');
  await waitFor(() => ready('first'), 'first client Ready after the binding appeared', 60_000, 250);
});

test('the API server restarting does not stop the operator: later changes are still reconciled', async () => {
  await controlPlane.restart(2000);
  await createFliptClient(clients, 'apps', 'second');
  await waitFor(() => ready('second'), 'second client Ready after the API server came back', 60_000, 250);
  assert.equal(operator.child.exitCode, null, 'the operator kept running');
  assert.ok(await ready('first'));
});

test('after a long outage a later short one is retried from the shortest delay again: the informers\' backoff starts over once they are back', async () => {
  const records = (from: number, msg: string) => operator.logRecords().slice(from).filter((r) => r.msg === msg);
  let from = operator.logRecords().length;
  await controlPlane.restart(20_000);
  await waitFor(async () => {
    const back = new Set(records(from, 'watch running again').map((r) => r.informer));
    const failed = records(from, 'watch failed; restarting');
    return failed.length > 0 && failed.every((r) => back.has(r.informer));
  }, 'every informer that failed watching again', 90_000, 250);

  from = operator.logRecords().length;
  await controlPlane.restart(0);
  await createFliptClient(clients, 'apps', 'fourth');
  await waitFor(() => ready('fourth'), 'fourth Ready after the short outage', 90_000, 250);
  const firstRetry = new Map<unknown, unknown>();
  for (const r of records(from, 'watch failed; restarting')) if (!firstRetry.has(r.informer)) firstRetry.set(r.informer, r.retryInMs);
  assert.ok(firstRetry.size > 0, 'the short outage failed the watches');
  // Kept from the long outage, the delay would be up to 30 s: that long without watching.
  for (const [informer, delay] of firstRetry) assert.equal(delay, 500, `${String(informer)}: first retry after the short outage`);
});
