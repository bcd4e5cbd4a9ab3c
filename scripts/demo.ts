// The operator's main job on a machine with no cluster: start the project's own control plane,
// install the CRD, create a Flipt target like the Helm chart's (config ConfigMap + Deployment), run
// the operator as a real process with deploy/config.yaml, apply examples/fliptclients.yaml, show the
// Secrets, Flipt's config and the statuses, then trade a service account's token for its credential
// at the exchange, as a pod would. With --keep it stays up for kubectl.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadAllYaml } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import type { FliptClient } from '../src/vocabulary/fliptclient.ts';
import { startControlPlane } from '../test/support/controlplane.ts';
import { clusterFor, installCrd, waitFor } from '../test/support/cluster.ts';
import { createFliptTarget, simulateDeploymentController } from '../test/support/flipt-target.ts';
import { listFliptClients } from '../test/support/fliptclients.ts';
import { startOperator, writeOperatorConfig } from '../test/support/operator-process.ts';

const { values } = parseArgs({ options: { keep: { type: 'boolean' } } });
const say = (line = '') => process.stdout.write(`${line}\n`);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;

say('flipt-client-operator demo: a real kube-apiserver, a sample Flipt target, the operator as a process');
const controlPlane = await startControlPlane();
say(`[${elapsed()}] control plane ready at ${controlPlane.server} (kubeconfig ${controlPlane.kubeconfigPath})`);
const { kubeConfig, clients } = clusterFor(controlPlane.kubeconfigPath);
let stopRollouts = () => {};
let operator: ReturnType<typeof startOperator> | undefined;

try {
  await installCrd(kubeConfig);
  say(`[${elapsed()}] installed crds/flipt.io_fliptclients.yaml`);

  const example = parse(readFileSync(new URL('../deploy/config.yaml', import.meta.url), 'utf8')) as { targets: Array<{ namespace: string; configMap: { name: string }; workload: { name: string } }> };
  const target = example.targets[0]!;
  await createFliptTarget(clients, { namespace: target.namespace, configMap: target.configMap.name, deployment: target.workload.name });
  say(`[${elapsed()}] created a Flipt target like the Helm chart's: ConfigMap ${target.namespace}/${target.configMap.name}, Deployment ${target.namespace}/${target.workload.name}`);
  stopRollouts = simulateDeploymentController(clients, target.namespace, target.workload.name);
  say(`[${elapsed()}] (no kube-controller-manager here: the demo reports each Flipt rollout finished, as the Deployment controller would)`);

  const { path: configPath, ports } = writeOperatorConfig({
    targets: example.targets,
    leaderElection: { enabled: true, namespace: 'default', leaseName: 'flipt-client-operator' },
    exchange: { enabled: true },
  });
  const logDir = mkdtempSync(join(tmpdir(), 'fco-demo-'));
  operator = startOperator(configPath, controlPlane.kubeconfigPath, { LOG_LEVEL: 'info' });
  say(`[${elapsed()}] started the operator (pid ${operator.child.pid}) with deploy/config.yaml's targets, the exchange on port ${ports.exchange} (plain HTTP here; set exchange.tls on a cluster)`);

  const samples = loadAllYaml(readFileSync(new URL('../examples/fliptclients.yaml', import.meta.url), 'utf8')) as FliptClient[];
  const namespaces = [...new Set(samples.map((s) => s.metadata.namespace))];
  for (const name of namespaces) await clients.core.createNamespace({ body: { metadata: { name } } });
  for (const sample of samples) {
    await clients.custom.createNamespacedCustomObject({ group: 'flipt.io', version: 'v1alpha1', plural: 'fliptclients', namespace: sample.metadata.namespace, body: sample });
  }
  say(`[${elapsed()}] applied examples/fliptclients.yaml: ${samples.map((s) => `${s.metadata.namespace}/${s.metadata.name}`).join(', ')}`);

  const all = async () => (await Promise.all(namespaces.map((ns) => listFliptClients(clients, ns)))).flat();
  const ready = (c: FliptClient) => c.status?.conditions?.find((x) => x.type === 'Ready')?.status === 'True';
  await waitFor(async () => (await all()).every(ready), 'every sample FliptClient to become Ready', 60_000, 200);
  say(`[${elapsed()}] all ${samples.length} FliptClients Ready`);

  say('\n$ kubectl get fliptclients -A');
  const rows = (await all()).map((c) => [c.metadata.namespace, c.metadata.name, c.status?.conditions?.find((x) => x.type === 'Ready')?.status ?? '', c.spec.target ?? 'default', c.status?.secretName ?? '']);
  const table = [['NAMESPACE', 'NAME', 'READY', 'TARGET', 'SECRET'], ...rows];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  for (const row of table) say(row.map((cell, i) => cell.padEnd(widths[i]! + 2)).join('').trimEnd());

  const first = (await all())[0]!;
  const secret = await clients.core.readNamespacedSecret({ name: first.status!.secretName!, namespace: first.metadata.namespace });
  say(`\nSecret ${first.metadata.namespace}/${secret.metadata!.name}: keys ${Object.keys(secret.data!).sort().join(', ')}; token = 64 hex characters, fingerprint ${first.status!.credentialFingerprint} (the value itself is not printed)`);
  say(`\nStatus of FliptClient ${first.metadata.namespace}/${first.metadata.name}:`);
  say(stringify({ status: first.status }).trimEnd());

  const cm = await clients.core.readNamespacedConfigMap({ name: target.configMap.name, namespace: target.namespace });
  say(`\nFlipt config, ConfigMap ${target.namespace}/${target.configMap.name} key default.yml (credentials are references, not tokens):`);
  say(cm.data!['default.yml']!.trimEnd());
  const credentials = await clients.core.readNamespacedSecret({ name: 'flipt-client-credentials', namespace: target.namespace });
  say(`\nCredentials Secret ${target.namespace}/flipt-client-credentials (mount it at Flipt's secrets base path): keys ${Object.keys(credentials.data!).sort().join(', ')}`);
  const deployment = await clients.apps.readNamespacedDeployment({ name: target.workload.name, namespace: target.namespace });
  say(`Deployment ${target.namespace}/${target.workload.name} pod template annotations: ${JSON.stringify(deployment.spec!.template.metadata!.annotations)}`);

  const bound = samples.find((s) => s.spec.serviceAccounts?.length)!;
  const serviceAccount = bound.spec.serviceAccounts![0]!;
  const namespace = bound.metadata.namespace;
  await clients.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } });
  say(`\n[${elapsed()}] the exchange: a pod of ServiceAccount ${namespace}/${serviceAccount} (listed in FliptClient ${bound.metadata.name}'s spec.serviceAccounts) trades its token for the credential`);
  const projected = await clients.core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: ['flipt-client-operator'], expirationSeconds: 600 } },
  });
  say(`$ curl -s -X POST http://127.0.0.1:${ports.exchange}/auth/v1/method/kubernetes/serviceaccount -d '{"service_account_token":"<projected token, audience flipt-client-operator>"}'`);
  const exchanged = await fetch(`http://127.0.0.1:${ports.exchange}/auth/v1/method/kubernetes/serviceaccount`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ service_account_token: projected.status!.token }),
  });
  const answer = (await exchanged.json()) as Record<string, unknown>;
  if (typeof answer.clientToken === 'string') answer.clientToken = `<${answer.clientToken.length} characters, redacted>`;
  say(`HTTP ${exchanged.status}`);
  say(JSON.stringify(answer, null, 2));

  const logFile = join(logDir, 'operator.log');
  writeFileSync(logFile, operator.output());
  say(`\n[${elapsed()}] operator logs (JSON, no credentials): ${logFile}`);
  if (values.keep) {
    say(`\nStill running. Try: KUBECONFIG=${controlPlane.kubeconfigPath} kubectl get fc -A   (Ctrl-C to stop)`);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
} finally {
  stopRollouts();
  await operator?.stop();
  await controlPlane.stop();
}
