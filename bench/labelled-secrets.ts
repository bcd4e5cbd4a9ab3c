// npm run bench:labelled-secrets -- [COUNT]     (default: 300)
// The operator's client-Secret watch selects on two labels anyone who may create a Secret can set.
// On a fresh control plane of the project's own, with the operator running as a process under the
// image's heap flags, this creates COUNT such Secrets (900 KiB of data and 200 KB of annotations each,
// none controlled by a FliptClient) in one namespace and prints the operator's RSS every 50, then its
// RSS and V8 heap once they have all reached it, or how it exited. FCO_OPERATOR_ENTRY runs another
// build (e.g. an older checkout's src/main.ts) for a before/after in the same session.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { clusterFor, installCrd } from '../test/support/cluster.ts';
import { startControlPlane } from '../test/support/controlplane.ts';
import { createFliptTarget } from '../test/support/flipt-target.ts';
import { startOperator, writeOperatorConfig } from '../test/support/operator-process.ts';
import { CLIENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL } from '../src/vocabulary/fliptclient.ts';

const COUNT = Number(process.argv[2] ?? 300);
process.env.FCO_OPERATOR_NODE_ARGS ??= '--max-old-space-size=256 --max-semi-space-size=4';

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const heapUsedMb = async (port: number) =>
  Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())![1]) / 1048576;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const controlPlane = await startControlPlane();
const { kubeConfig, clients } = clusterFor(controlPlane.kubeconfigPath);
try {
  await installCrd(kubeConfig);
  await createFliptTarget(clients, { namespace: 'flipt', configMap: 'flipt', deployment: 'flipt' });
  const written = writeOperatorConfig({ targets: [{ name: 'default', namespace: 'flipt', configMap: { name: 'flipt' }, workload: { kind: 'Deployment', name: 'flipt' } }] });
  const operator = startOperator(written.path, controlPlane.kubeconfigPath, { LOG_LEVEL: 'info' });
  const pid = operator.child.pid!;
  while (!operator.output().includes('became leader')) await sleep(100);
  await sleep(5000);
  console.log(`operator ${process.env.FCO_OPERATOR_ENTRY ?? 'src/main.ts'} (${process.env.FCO_OPERATOR_NODE_ARGS}), leading: RSS ${rssMb(pid).toFixed(0)} MiB, V8 heap used ${(await heapUsedMb(written.ports.metrics)).toFixed(0)} MiB`);
  let exit: string | undefined;
  void operator.exited.then((code) => (exit = `exited (${code ?? operator.child.signalCode})`));
  await clients.core.createNamespace({ body: { metadata: { name: 'tenant' } } });
  const data = { blob: randomBytes(900 * 1024).toString('base64') };
  const annotations = { note: 'n'.repeat(200_000) };
  for (let i = 1; i <= COUNT && exit === undefined; i++) {
    const labels = { [MANAGED_BY_LABEL]: MANAGED_BY, [CLIENT_LABEL]: `bait-${i}` };
    await clients.core.createNamespacedSecret({ namespace: 'tenant', body: { metadata: { name: `bait-${i}`, labels, annotations }, data } });
    if (i % 50 === 0) console.log(`  ${i} Secrets created: operator RSS ${exit ?? `${rssMb(pid).toFixed(0)} MiB`}`);
  }
  await sleep(10_000);
  if (exit !== undefined) {
    const why = operator.output().split('\n').filter((l) => /heap|FATAL/.test(l)).slice(0, 2).join(' | ');
    console.log(`operator ${exit}: ${why}`);
  } else {
    console.log(`all ${COUNT} Secrets seen: operator RSS ${rssMb(pid).toFixed(0)} MiB, V8 heap used ${(await heapUsedMb(written.ports.metrics)).toFixed(0)} MiB`);
    await operator.stop();
  }
} finally {
  await controlPlane.stop();
}
