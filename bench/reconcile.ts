// npm run bench:reconcile -- [--targets K] N [N ...] [jwt]     (default: 1000, static tokens)
// For each N, on a fresh control plane of the project's own: applies N FliptClients (spread over K
// targets) with the operator running as a process, as the image runs it (dist/ when built), and prints
//   - where the time goes: issuing, the burst hold, the restart, the rollout, the status writes;
//   - time to all Ready, against a floor measured in the same run on the same API server: a bare
//     client doing the writes the design cannot avoid (finalizer, Secret, one status write per
//     FliptClient, one ConfigMap write and one restart per target) at the operator's concurrency;
//   - ConfigMap writes and Flipt restarts, counted from the API server's watch;
//   - API requests per FliptClient by verb and resource, from the API server's own metrics;
//   - the operator's peak RSS, what its largest sample was made of (V8's heap, external memory, the
//     rest), and after a restart its peak RSS, its RSS 15 s after it led and once idle for a minute;
//   - a restart of the operator with every client Ready: time until it is ready and leading, and the
//     writes it makes (none expected).
// Readiness is followed with a watch, so the benchmark itself does not load the API server. With `jwt`
// the targets use JWTs: the clock starts once the operator has enabled Flipt's jwt method on every
// target (one ConfigMap write and one restart each, reported apart), the counts are those after it, and
// the floor leaves out the ConfigMap write and restart that JWT clients never cost.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Watch, type KubeConfig, type V1ConfigMap, type V1Deployment } from '@kubernetes/client-node';
import { mergePatch, type KubeClients } from '../src/kube/client.ts';
import type { FliptClient } from '../src/vocabulary/fliptclient.ts';
import { requestCounts, writesBetween } from '../test/support/api-metrics.ts';
import { changes, recordHistory, type ObjectHistory } from '../test/support/api-watch.ts';
import { clusterFor, installCrd } from '../test/support/cluster.ts';
import { startControlPlane } from '../test/support/controlplane.ts';
import { createFliptTarget, finishRollout, simulateDeploymentController } from '../test/support/flipt-target.ts';
import { startOperator, writeOperatorConfig } from '../test/support/operator-process.ts';

const args = process.argv.slice(2);
const jwtFlag = args.indexOf('jwt');
const JWT = jwtFlag >= 0;
if (JWT) args.splice(jwtFlag, 1);
const targetsFlag = args.indexOf('--targets');
const TARGETS = targetsFlag >= 0 ? Number(args.splice(targetsFlag, 2)[1]) : 1;
const SIZES = (args.length > 0 ? args : ['1000']).map(Number);
if (!SIZES.every((n) => Number.isInteger(n) && n >= 1 && n <= 20_000) || !(TARGETS >= 1 && TARGETS <= 20)) {
  process.stderr.write('usage: npm run bench:reconcile -- [--targets K] N [N ...] [jwt]   (N in 1..20000, K in 1..20)\n');
  process.exit(2);
}
const CREATE_CONCURRENCY = 25;
const OPERATOR_CONCURRENCY = 16;
const NAMESPACES = 10;
const log = (line: string) => process.stdout.write(`${line}\n`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// As the image runs: the compiled build when there is one, Node's heap capped at 256 MiB, and the
// image's malloc settings (the Dockerfile's ENV; the operator inherits this process's environment).
const dist = fileURLToPath(new URL('../dist/main.js', import.meta.url));
process.env.FCO_OPERATOR_ENTRY ??= existsSync(dist) ? dist : '';
if (!process.env.FCO_OPERATOR_ENTRY) delete process.env.FCO_OPERATOR_ENTRY;
process.env.FCO_OPERATOR_NODE_ARGS ??= '--max-old-space-size=256 --max-semi-space-size=4';
process.env.MALLOC_MMAP_THRESHOLD_ ??= '131072';
process.env.MALLOC_TRIM_THRESHOLD_ ??= '131072';

async function inBatches<T>(items: T[], concurrency: number, run: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += concurrency) await Promise.all(items.slice(i, i + concurrency).map(run));
}

/** VmHWM (the process's peak resident set) or VmRSS (its resident set now), from /proc. */
function rssMb(pid: number, field: 'VmHWM' | 'VmRSS' = 'VmHWM'): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** CPU seconds (user + system) a process has used so far, from /proc (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds this process has used since `before`. */
function cpuSecondsSince(before: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(before);
  return (user + system) / 1e6;
}

/** What the operator's /metrics says now (Prometheus text). */
async function operatorMetrics(metricsPort: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
}

/** The operator's V8 heap and the memory outside it that V8 knows of (buffers, external strings), from the Node process metrics. */
function heapMb(metrics: string): { used: number; total: number; external: number } {
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN) / 1048576;
  return { used: value('nodejs_heap_size_used_bytes'), total: value('nodejs_heap_size_total_bytes'), external: value('nodejs_external_memory_bytes') };
}

/** Reconciles the operator ran, and the seconds they took, by controller. */
function reconciles(metrics: string): Map<string, { count: number; seconds: number }> {
  const byController = new Map<string, { count: number; seconds: number }>();
  for (const [, kind, controller, value] of metrics.matchAll(/^flipt_operator_reconcile_duration_seconds_(count|sum)\{controller="([^"]+)"\} (\S+)$/gm)) {
    const entry = byController.get(controller!) ?? { count: 0, seconds: 0 };
    if (kind === 'count') entry.count = Number(value);
    else entry.seconds = Number(value);
    byController.set(controller!, entry);
  }
  return byController;
}

/** Follows every FliptClient with a watch: when it was first issued a token, and first Ready. */
class Progress {
  readonly issuedAt = new Map<string, number>();
  readonly readyAt = new Map<string, number>();
  /** Updates of FliptClients seen (finalizers, status). */
  readonly statusWrites = { count: 0 };
  private controller: AbortController | undefined;
  private stopped = false;
  private resourceVersion: string | undefined;

  async start(kubeConfig: KubeConfig): Promise<void> {
    const watch = async () => {
      this.controller = await new Watch(kubeConfig).watch(
        '/apis/flipt.io/v1alpha1/fliptclients',
        { allowWatchBookmarks: true, ...(this.resourceVersion ? { resourceVersion: this.resourceVersion } : {}) },
        (type, obj: FliptClient) => {
          this.resourceVersion = obj.metadata?.resourceVersion ?? this.resourceVersion;
          if (type !== 'ADDED' && type !== 'MODIFIED') return;
          const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
          if (type === 'MODIFIED') this.statusWrites.count++;
          if (obj.status?.credentialFingerprint && !this.issuedAt.has(key)) this.issuedAt.set(key, performance.now());
          if (obj.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && !this.readyAt.has(key)) this.readyAt.set(key, performance.now());
        },
        () => {
          if (!this.stopped) setTimeout(() => void watch(), 100);
        },
      );
    };
    await watch();
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
  }
}

interface Target {
  name: string;
  namespace: string;
  configMaps: ObjectHistory<V1ConfigMap>;
  deployments: ObjectHistory<V1Deployment>;
  stopRollouts: () => void;
}

/** Ends the benchmark, with the operator's last output, once the operator has exited: a wait for it would never end. */
function assertRunning(operator: ReturnType<typeof startOperator>, during: string): void {
  const { exitCode, signalCode } = operator.child;
  if (exitCode !== null || signalCode !== null) throw new Error(`operator exited ${during} (${exitCode ?? signalCode}):\n${operator.output().slice(-2000)}`);
}

/** Waits for the operator's log to say it leads (a build that cannot start ends the benchmark). */
async function ledBy(operator: ReturnType<typeof startOperator>): Promise<void> {
  while (!operator.output().includes('became leader')) {
    assertRunning(operator, 'before it led');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function createTargets(kubeConfig: KubeConfig, clients: KubeClients, count: number): Promise<Target[]> {
  const targets: Target[] = [];
  for (let t = 0; t < count; t++) {
    const namespace = `flipt-${t}`;
    await createFliptTarget(clients, { namespace, configMap: 'flipt', deployment: 'flipt' });
    targets.push({
      name: t === 0 ? 'default' : `target-${t}`,
      namespace,
      configMaps: await recordHistory<V1ConfigMap>(kubeConfig, `/api/v1/namespaces/${namespace}/configmaps`, 'flipt'),
      deployments: await recordHistory<V1Deployment>(kubeConfig, `/apis/apps/v1/namespaces/${namespace}/deployments`, 'flipt'),
      stopRollouts: simulateDeploymentController(clients, namespace, 'flipt'),
    });
  }
  return targets;
}

const fliptClient = (namespace: string, name: string, target: string) => ({
  group: 'flipt.io',
  version: 'v1alpha1',
  plural: 'fliptclients',
  namespace,
  body: { apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { name }, spec: { target, metadata: { index: name } } },
});

/** The writes the design cannot avoid, done by a bare client at the operator's concurrency. */
async function floor(clients: KubeClients, n: number, apiServerPid: number): Promise<{ ms: number; cpu: { apiServer: number; client: number } }> {
  const namespace = 'floor';
  await clients.core.createNamespace({ body: { metadata: { name: namespace } } });
  await createFliptTarget(clients, { namespace: 'floor-flipt', configMap: 'flipt', deployment: 'flipt' });
  const started = performance.now();
  const cpuBefore = { apiServer: cpuSeconds(apiServerPid), client: process.cpuUsage() };
  const names = Array.from({ length: n }, (_, i) => `floor-${i}`);
  await inBatches(names, CREATE_CONCURRENCY, (name) => clients.custom.createNamespacedCustomObject(fliptClient(namespace, name, 'floor')));
  const ref = { group: 'flipt.io', version: 'v1alpha1', plural: 'fliptclients', namespace };
  await inBatches(names, OPERATOR_CONCURRENCY, async (name) => {
    await clients.custom.patchNamespacedCustomObject({ ...ref, name, body: { metadata: { finalizers: ['flipt.io/revoke-token'] } } }, mergePatch);
    await clients.core.createNamespacedSecret({ namespace, body: { metadata: { name: `${name}-flipt` }, stringData: { token: 'x'.repeat(64), authorization: `Bearer ${'x'.repeat(64)}` } } });
    await clients.custom.patchNamespacedCustomObjectStatus({ ...ref, name, body: { status: { credentialFingerprint: 'f'.repeat(16), conditions: [] } } }, mergePatch);
  });
  // A JWT client costs Flipt's config nothing: no ConfigMap write, no restart.
  if (!JWT) {
    const config = names.map((name) => `  ${name}: {credential: "\${secret:file:${name}}"}`).join('\n');
    await clients.core.replaceNamespacedConfigMap({ name: 'flipt', namespace: 'floor-flipt', body: { metadata: { name: 'flipt' }, data: { 'default.yml': `tokens:\n${config}\n` } } });
    await clients.apps.patchNamespacedDeployment(
      { name: 'flipt', namespace: 'floor-flipt', body: { spec: { template: { metadata: { annotations: { 'flipt.io/config-hash': 'floor' } } } } } },
      mergePatch,
    );
    await new Promise((r) => setTimeout(r, 200)); // the simulated rollout's delay
    await finishRollout(clients, 'floor-flipt', 'flipt');
  }
  const ms = performance.now() - started;
  const cpu = { apiServer: cpuSeconds(apiServerPid) - cpuBefore.apiServer, client: cpuSecondsSince(cpuBefore.client) };
  // Out of the way of the operator, which watches every namespace.
  await inBatches(names, CREATE_CONCURRENCY, async (name) => {
    await clients.custom.patchNamespacedCustomObject({ ...ref, name, body: { metadata: { finalizers: null } } }, mergePatch);
    await clients.custom.deleteNamespacedCustomObject({ ...ref, name });
  });
  return { ms, cpu };
}

async function run(n: number): Promise<void> {
  const controlPlane = await startControlPlane();
  const { kubeConfig, clients } = clusterFor(controlPlane.kubeconfigPath);
  let operator: ReturnType<typeof startOperator> | undefined;
  let targets: Target[] = [];
  const progress = new Progress();
  try {
    await installCrd(kubeConfig);
    log(`N = ${n}: floor (a bare client doing the unavoidable writes)...`);
    const { ms: floorMs, cpu: floorCpu } = await floor(clients, n, controlPlane.pid);

    const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `bench-${i}`);
    for (const name of namespaces) await clients.core.createNamespace({ body: { metadata: { name } } });
    targets = await createTargets(kubeConfig, clients, TARGETS);
    const written = writeOperatorConfig({
      targets: targets.map((t) => ({ name: t.name, namespace: t.namespace, configMap: { name: 'flipt' }, workload: { kind: 'Deployment', name: 'flipt' }, ...(JWT ? { credentialKind: 'jwt' } : {}) })),
      exchange: { enabled: true },
      ...(JWT ? { jwt: { jwksUrl: 'http://flipt-client-operator.flipt-client-operator.svc:8443/.well-known/jwks.json', signingKeys: { namespace: targets[0]!.namespace, publishAhead: '2s' } } } : {}),
    });
    operator = startOperator(written.path, controlPlane.kubeconfigPath, { LOG_LEVEL: 'info' });
    await ledBy(operator);
    await progress.start(kubeConfig);
    const restartsOf = (t: Target) => changes(t.deployments, (d) => d.spec?.template?.metadata?.annotations?.['flipt.io/restarted-at'] ?? null);
    if (JWT) {
      log(`N = ${n}: waiting for the operator to enable the jwt method in Flipt (one write and one restart per target)...`);
      while (!targets.every((t) => restartsOf(t) >= 1)) await new Promise((r) => setTimeout(r, 100));
    }
    const enablement = { writes: targets.reduce((sum, t) => sum + t.configMaps.versions.length - 1, 0), restarts: targets.reduce((sum, t) => sum + restartsOf(t), 0) };

    log(`N = ${n}: applying ${n} FliptClients (${CREATE_CONCURRENCY} at a time, ${NAMESPACES} namespaces, ${TARGETS} target(s))...`);
    const before = await requestCounts(kubeConfig);
    const cpuBefore = { apiServer: cpuSeconds(controlPlane.pid), operator: cpuSeconds(operator.child.pid!), bench: process.cpuUsage() };
    const started = performance.now();
    await inBatches(Array.from({ length: n }, (_, i) => i), CREATE_CONCURRENCY, (i) =>
      clients.custom.createNamespacedCustomObject(fliptClient(namespaces[i % NAMESPACES]!, `app-${i}`, targets[i % TARGETS]!.name)),
    );
    const appliedMs = performance.now() - started;
    let lastReport = performance.now();
    // What the resident set is made of at its largest: sampled with it, each time it grows by a MiB.
    let largest: { rss: number; atMs: number; heap: ReturnType<typeof heapMb> } | undefined;
    while (progress.readyAt.size < n) {
      await new Promise((r) => setTimeout(r, 200));
      const now = rssMb(operator.child.pid!, 'VmRSS');
      if (now > (largest?.rss ?? 0) + 1) largest = { rss: now, atMs: performance.now() - started, heap: heapMb(await operatorMetrics(written.ports.metrics)) };
      if (performance.now() - lastReport > 10_000) {
        log(`  ${progress.readyAt.size}/${n} Ready, ${progress.issuedAt.size} issued, after ${seconds(performance.now() - started)}`);
        lastReport = performance.now();
      }
      assertRunning(operator, 'before every client was Ready');
    }
    const readyMs = performance.now() - started;
    const cpu = {
      apiServer: cpuSeconds(controlPlane.pid) - cpuBefore.apiServer,
      operator: cpuSeconds(operator.child.pid!) - cpuBefore.operator,
      bench: cpuSecondsSince(cpuBefore.bench),
    };
    const after = await requestCounts(kubeConfig);
    const rss = rssMb(operator.child.pid!);
    const reconciled = reconciles(await operatorMetrics(written.ports.metrics));

    // Where the time went (the first target's timeline).
    const lastIssued = Math.max(...progress.issuedAt.values()) - started;
    const firstTarget = targets[0]!;
    const writes = targets.reduce((sum, t) => sum + t.configMaps.versions.length - 1, 0) - enablement.writes;
    const restarts = targets.reduce((sum, t) => sum + restartsOf(t), 0) - enablement.restarts;
    const restartedAt = Date.parse(firstTarget.deployments.versions.at(-1)?.spec?.template?.metadata?.annotations?.['flipt.io/restarted-at'] ?? '') || NaN;
    const wallStart = Date.now() - (performance.now() - started);
    const restartMs = restartedAt - wallStart;
    const firstReady = Math.min(...progress.readyAt.values()) - started;

    log('');
    // What the operator's process was started with (its Node flags and entry file), as it ran.
    const command = operator.child.spawnargs.slice(1, -4).map((arg) => (isAbsolute(arg) ? relative(process.cwd(), arg) : arg));
    log(`N = ${n} (${TARGETS} target(s)), operator ${command.join(' ')}, MALLOC_MMAP_THRESHOLD_=${process.env.MALLOC_MMAP_THRESHOLD_} MALLOC_TRIM_THRESHOLD_=${process.env.MALLOC_TRIM_THRESHOLD_}`);
    if (JWT) log(`  JWTs: enabling the jwt method cost ${enablement.writes} ConfigMap write(s) and ${enablement.restarts} restart(s) before the clock started`);
    log(`  FliptClients applied in            ${seconds(appliedMs)}`);
    log(`  all issued after                   ${seconds(lastIssued)}`);
    if (!JWT) log(`  Flipt restarted after              ${seconds(restartMs)}   (the burst hold ends when issuing stops making progress)`);
    log(`  first Ready after                  ${seconds(firstReady)}`);
    log(`  all Ready after                    ${seconds(readyMs)}   (status writes after the rollout: ${seconds(readyMs - firstReady)})`);
    log(`  floor, same API server             ${seconds(floorMs)}   (CPU: API server + etcd ${floorCpu.apiServer.toFixed(1)} s, the bare client ${floorCpu.client.toFixed(1)} s)`);
    log(`  all Ready / floor                  ${(readyMs / floorMs).toFixed(2)}x`);
    log(`  ConfigMap writes                   ${writes}`);
    log(`  Flipt restarts                     ${restarts}`);
    log(`  operator peak RSS                  ${rss.toFixed(0)} MiB`);
    if (largest) {
      const { heap } = largest;
      log(`    largest sample ${largest.rss.toFixed(0)} MiB after ${seconds(largest.atMs)}: V8's heap ${heap.used.toFixed(0)} MiB used of ${heap.total.toFixed(0)} MiB held, external ${heap.external.toFixed(0)} MiB, the rest ${(largest.rss - heap.total - heap.external).toFixed(0)} MiB`);
    }
    log(`  CPU until all Ready (2 cores x ${seconds(readyMs)}): API server + etcd ${cpu.apiServer.toFixed(1)} s, operator ${cpu.operator.toFixed(1)} s, this benchmark ${cpu.bench.toFixed(1)} s`);
    log(`  reconciles since it started        ${[...reconciled].map(([c, r]) => `${c} ${r.count} (${r.seconds.toFixed(1)} s in all)`).join(', ')}`);
    log('  API requests per FliptClient (the benchmark\'s own creates and watches excluded):');
    const rows = [...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([k, v]) => v > 0 && !/^(WATCH|LIST) /.test(k));
    for (const [k, v] of rows.sort((a, b) => b[1] - a[1])) {
      const own = k === 'POST fliptclients' ? n : 0;
      if (v - own > 0) log(`    ${k.padEnd(34)} ${((v - own) / n).toFixed(2)}`);
    }

    // A restart with every client Ready: how soon it leads and serves, and that it writes nothing.
    const writesBefore = { statuses: progress.statusWrites.count, configMaps: writes + enablement.writes, restarts: restarts + enablement.restarts };
    const stopping = performance.now();
    const stoppedWith = await operator.stop();
    const stopMs = performance.now() - stopping;
    const stoppedLog = operator.output();
    const abort = stoppedLog.split('\n').find((line) => /terminate called|FATAL ERROR|bad_alloc|out of memory/i.test(line));
    log(`  operator stopped (SIGTERM) after   ${seconds(stopMs)}: exit code ${stoppedWith}${stoppedLog.includes('"msg":"stopped"') ? ', Lease handed back' : ', never logged "stopped"'}${abort ? `; ${abort.trim()}` : ''}`);
    // Counted from here: the stopped operator may still have been sending the Events it had queued.
    const requestsBeforeRestart = await requestCounts(kubeConfig);
    const restarted = performance.now();
    operator = startOperator(written.path, controlPlane.kubeconfigPath, { LOG_LEVEL: 'info' });
    const readyz = async () => (await fetch(`http://127.0.0.1:${written.ports.health}/readyz`).catch(() => undefined))?.status === 200;
    let readyzMs: number | undefined;
    let leaderSeenMs: number | undefined;
    while (readyzMs === undefined || leaderSeenMs === undefined) {
      assertRunning(operator, 'after its restart, before it was ready and leading');
      if (readyzMs === undefined && (await readyz())) readyzMs = performance.now() - restarted;
      if (leaderSeenMs === undefined && operator.output().includes('became leader')) leaderSeenMs = performance.now() - restarted;
      await new Promise((r) => setTimeout(r, 50));
    }
    const leadingMs = Math.max(readyzMs, leaderSeenMs);
    // Where the restart's time went, from the operator's own log (milliseconds after it was spawned).
    const spawnedAt = Date.now() - leadingMs;
    const milestones = operator
      .output()
      .split('\n')
      .flatMap((line) => {
        try {
          const { msg, time } = JSON.parse(line) as { msg: string; time: string };
          return ['starting', 'caches synced', 'waiting to become leader', 'became leader'].includes(msg) ? [`${msg} +${((Date.parse(time) - spawnedAt) / 1000).toFixed(1)} s`] : [];
        } catch {
          return [];
        }
      });
    await new Promise((r) => setTimeout(r, 15_000));
    const newWrites = {
      statuses: progress.statusWrites.count - writesBefore.statuses,
      configMaps: targets.reduce((sum, t) => sum + t.configMaps.versions.length - 1, 0) - writesBefore.configMaps,
      restarts: targets.reduce((sum, t) => sum + restartsOf(t), 0) - writesBefore.restarts,
    };
    const writeRequests = [...writesBetween(requestsBeforeRestart, await requestCounts(kubeConfig))].map(([k, v]) => `${v} ${k}`);
    log(`  operator restarted: ready and leading after ${seconds(leadingMs)}; in the next 15 s: ${newWrites.statuses} FliptClient writes, ${newWrites.configMaps} ConfigMap writes, ${newWrites.restarts} restarts; write requests served (patches that change nothing included): ${writeRequests.length > 0 ? writeRequests.join(', ') : 'none'}`);
    log(`    (its log: ${milestones.join(', ')}; seen here: /readyz 200 after ${seconds(readyzMs)}, leading after ${seconds(leaderSeenMs)})`);
    log(`  operator RSS after the restart      peak ${rssMb(operator.child.pid!).toFixed(0)} MiB, settled (15 s later, caches full) ${rssMb(operator.child.pid!, 'VmRSS').toFixed(0)} MiB`);
    const heap = heapMb(await operatorMetrics(written.ports.metrics));
    log(`  of which V8's heap                  ${heap.used.toFixed(0)} MiB used (live and not yet collected) of ${heap.total.toFixed(0)} MiB it holds`);
    // V8's memory reducer runs only once the operator has been quiet for a while (8 s ticks).
    await new Promise((r) => setTimeout(r, 45_000));
    const idleHeap = heapMb(await operatorMetrics(written.ports.metrics));
    log(`  operator RSS idle, 60 s after it led ${rssMb(operator.child.pid!, 'VmRSS').toFixed(0)} MiB, of which V8's heap ${idleHeap.used.toFixed(0)} MiB used of ${idleHeap.total.toFixed(0)} MiB held`);
    log('');
  } finally {
    progress.stop();
    for (const t of targets) {
      t.stopRollouts();
      t.configMaps.stop();
      t.deployments.stop();
    }
    await operator?.stop();
    await controlPlane.stop();
  }
}

for (const n of SIZES) await run(n);
