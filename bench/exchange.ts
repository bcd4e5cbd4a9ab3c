// npm run bench:exchange — throughput and latency of the exchange endpoint against a real API server
// (its own control plane, loopback only), next to the raw TokenReview round trip it costs:
//   baseline  TokenReview sent straight to the API server, one distinct token each: with client-node's
//             typed call (what a TypeScript caller writes), and as plain JSON over undici (the least a
//             caller can pay, and how the exchange sends its own)
//   floor     the same POST, with a distinct token each, to a bare node:http server that only parses
//             the body, sends the plain JSON TokenReview and writes an answer of the exchange's size:
//             the least any exchange can cost (an HTTP hop in front of a TokenReview), no Express, no checks
//   uncached  POST to the exchange with a distinct token each: one TokenReview behind every request
//   cached    POST to the exchange with one token over and over: served from the review cache
// Every scenario is bounded in requests and in time. Tokens are requested up front so TokenRequest
// never runs during a measurement, and distinct tokens keep the API server's own token cache out of it.
// The baselines, the floor and uncached alternate over several rounds (a few hundred requests each last well under
// a second on two shared cores, where one run's noise is larger than the difference measured); the
// ratios are reported per round and as the median.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { pino } from 'pino';
import { Agent, request } from 'undici';
import type { CredentialSource } from '../src/exchange/credentials.ts';
import { ExchangeServer } from '../src/exchange/server.ts';
import { EXCHANGE_PATH } from '../src/exchange/wire.ts';
import { ServiceAccountIndex } from '../src/exchange/service-account-index.ts';
import { generateToken } from '../src/vocabulary/credentials.ts';
import { loadKubeConfig, makeClients, postJson, type KubeClients } from '../src/kube/client.ts';
import { startControlPlane } from '../test/support/controlplane.ts';
import { AUDIENCE, exchangeConfig } from '../test/support/exchange-config.ts';

const NAMESPACE = 'bench';
const DISTINCT_PER_RUN = Number(process.env.BENCH_DISTINCT ?? 300); // tokens per uncached/baseline run
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CACHED_REQUESTS = Number(process.env.BENCH_CACHED ?? 5000);
const MAX_SECONDS_PER_RUN = Number(process.env.BENCH_SECONDS ?? 15);
const CONCURRENCY = [1, 16];

interface Result {
  scenario: string;
  concurrency: number;
  requests: number;
  seconds: number;
  latenciesMs: number[];
  failures: number;
}

/** Runs `job(i)` for i in [0, count) with `concurrency` workers, stopping early after maxSeconds. */
async function run(scenario: string, concurrency: number, count: number, job: (i: number) => Promise<boolean>): Promise<Result> {
  const latenciesMs: number[] = [];
  let next = 0;
  let failures = 0;
  const deadline = performance.now() + MAX_SECONDS_PER_RUN * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count && performance.now() < deadline) {
        const i = next++;
        const t0 = performance.now();
        const ok = await job(i).catch(() => false);
        latenciesMs.push(performance.now() - t0);
        if (!ok) failures++;
      }
    }),
  );
  return { scenario, concurrency, requests: latenciesMs.length, seconds: (performance.now() - started) / 1000, latenciesMs, failures };
}

/** One scenario's rounds as one run: their requests, time, latencies and failures together. */
function merged(rounds: Result[]): Result {
  return {
    scenario: rounds[0]!.scenario,
    concurrency: rounds[0]!.concurrency,
    requests: rounds.reduce((sum, r) => sum + r.requests, 0),
    seconds: rounds.reduce((sum, r) => sum + r.seconds, 0),
    latenciesMs: rounds.flatMap((r) => r.latenciesMs),
    failures: rounds.reduce((sum, r) => sum + r.failures, 0),
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function requestTokens(clients: KubeClients, count: number): Promise<string[]> {
  const tokens: string[] = [];
  const workers = 8;
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < count) {
        next++;
        const result = await clients.core.createNamespacedServiceAccountToken({
          name: 'app',
          namespace: NAMESPACE,
          body: { spec: { audiences: [AUDIENCE], expirationSeconds: 3600 } },
        });
        tokens.push(result.status!.token!);
      }
    }),
  );
  return tokens;
}

/** The floor: an HTTP hop in front of `review`, answering `answer` (the exchange's own answer, so the bytes match). */
async function startBareProxy(review: (token: string) => Promise<boolean>, answer: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const { service_account_token: token } = JSON.parse(Buffer.concat(chunks).toString()) as { service_account_token: string };
      review(token).then(
        (ok) => {
          res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
          res.end(ok ? answer : '{}');
        },
        () => {
          res.writeHead(503);
          res.end();
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function main(): Promise<void> {
  process.stdout.write('starting a control plane... ');
  const cp = await startControlPlane();
  process.stdout.write(`ready in ${cp.startupMs} ms\n`);
  const dispatcher = new Agent({ connections: Math.max(...CONCURRENCY), keepAliveTimeout: 10_000 });
  let server: ExchangeServer | undefined;
  let floor: { url: string; close: () => Promise<void> } | undefined;
  try {
    const clients = makeClients(loadKubeConfig(cp.kubeconfigPath));
    await clients.core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    await clients.core.createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: 'app' } } });

    const perScenario = DISTINCT_PER_RUN * CONCURRENCY.length * ROUNDS;
    process.stdout.write(`requesting ${perScenario * 4 + 1} service-account tokens up front... `);
    const t0 = performance.now();
    const tokens = await requestTokens(clients, perScenario * 4 + 1);
    process.stdout.write(`${Math.round(performance.now() - t0)} ms\n`);
    // The API server may read a just-created service account from its cache: wait until reviews pass.
    for (let i = 0; i < 100; i++) {
      const review = await clients.authentication.createTokenReview({ body: { spec: { token: tokens[0]!, audiences: [AUDIENCE] } } });
      if (review.status?.authenticated) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const cachedToken = tokens.pop()!;
    const typedTokens = tokens.slice(0, perScenario);
    const plainTokens = tokens.slice(perScenario, 2 * perScenario);
    const floorTokens = tokens.slice(2 * perScenario, 3 * perScenario);
    const exchangeTokens = tokens.slice(3 * perScenario);

    const index = new ServiceAccountIndex();
    index.upsert({ apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { namespace: NAMESPACE, name: 'web' }, spec: { target: 'default', serviceAccounts: ['app'] } });
    const credential = { kind: 'staticToken' as const, token: generateToken(), tokenId: `${NAMESPACE}_web`, ready: true, metadata: {} };
    const credentials: CredentialSource = { credentialFor: () => credential };
    server = new ExchangeServer({
      config: exchangeConfig({
        cache: { ttl: 300_000, negativeTtl: 10_000, maxEntries: 100_000 },
        rateLimit: { perServiceAccountPerMinute: 100_000_000, globalPerSecond: 1_000_000, failedPerSourcePerMinute: 100_000_000 },
      }),
      index,
      credentials,
      kubeConfig: clients.kubeConfig,
      log: pino({ level: 'error' }), // plain HTTP on loopback: skip the start-up warning
      host: '127.0.0.1',
    });
    const { url } = await server.start();
    const send = (base: string, token: string) =>
      request(`${base}${EXCHANGE_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ service_account_token: token }),
        dispatcher,
      });
    const postTo = async (base: string, token: string) => {
      const res = await send(base, token);
      await res.body.dump();
      return res.statusCode === 200;
    };
    const post = (token: string) => postTo(url, token);
    const review = async (token: string) => {
      const result = await clients.authentication.createTokenReview({ body: { spec: { token, audiences: [AUDIENCE] } } });
      return result.status?.authenticated === true;
    };
    const plainReview = async (token: string) => {
      const body = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [AUDIENCE] } };
      const result = (await postJson(clients.kubeConfig, '/apis/authentication.k8s.io/v1/tokenreviews', body)) as { status?: { authenticated?: boolean } };
      return result.status?.authenticated === true;
    };

    const exchangeAnswer = await send(url, cachedToken).then((res) => res.body.text());
    floor = await startBareProxy(plainReview, exchangeAnswer);
    const floorUrl = floor.url;
    const postToFloor = (token: string) => postTo(floorUrl, token);

    // Warm-up: connections, JIT, the API server's caches of the service account.
    for (let i = 0; i < 50; i++) await post(cachedToken);
    for (let i = 0; i < 50; i++) await postToFloor(cachedToken);
    await review(cachedToken);
    await plainReview(cachedToken);

    const results: Result[] = [];
    const ratios: string[] = [];
    for (const [i, concurrency] of CONCURRENCY.entries()) {
      const rounds: Array<{ typed: Result; plain: Result; floor: Result; uncached: Result }> = [];
      for (let round = 0; round < ROUNDS; round++) {
        const slot = i * ROUNDS + round;
        const slice = (list: string[]) => list.slice(slot * DISTINCT_PER_RUN, (slot + 1) * DISTINCT_PER_RUN);
        const typedSlice = slice(typedTokens);
        const plainSlice = slice(plainTokens);
        const floorSlice = slice(floorTokens);
        const fresh = slice(exchangeTokens);
        const typed = await run('baseline: TokenReview, client-node', concurrency, typedSlice.length, (n) => review(typedSlice[n]!));
        const plain = await run('baseline: TokenReview, plain JSON', concurrency, plainSlice.length, (n) => plainReview(plainSlice[n]!));
        const bare = await run('floor: bare HTTP hop + plain JSON review', concurrency, floorSlice.length, (n) => postToFloor(floorSlice[n]!));
        const callsBefore = server.reviewer.stats().apiCalls;
        const uncached = await run('exchange, uncached review', concurrency, fresh.length, (n) => post(fresh[n]!));
        const uncachedCalls = server.reviewer.stats().apiCalls - callsBefore;
        if (uncachedCalls !== uncached.requests) throw new Error(`expected one TokenReview per uncached request, saw ${uncachedCalls}`);
        rounds.push({ typed, plain, floor: bare, uncached });
      }
      results.push(...(['typed', 'plain', 'floor', 'uncached'] as const).map((scenario) => merged(rounds.map((r) => r[scenario]))));
      const throughput = (r: Result) => r.requests / r.seconds;
      const comparisons = [
        ['uncached', 'typed', "uncached exchange / a TokenReview with client-node's typed call"],
        ['uncached', 'plain', 'uncached exchange / a TokenReview as plain JSON'],
        ['floor', 'plain', 'floor (bare HTTP hop + review) / a TokenReview as plain JSON'],
        ['uncached', 'floor', 'uncached exchange / the floor'],
      ] as const;
      for (const [measured, baseline, label] of comparisons) {
        const perRound = rounds.map((r) => throughput(r[measured]) / throughput(r[baseline]));
        const median = [...perRound].sort((a, b) => a - b)[Math.floor(perRound.length / 2)]!;
        ratios.push(`concurrency ${concurrency}: ${label}, throughput per round ${perRound.map((x) => x.toFixed(2)).join(', ')}; median ${median.toFixed(2)}`);
      }
      const before = server.reviewer.stats().apiCalls;
      results.push(await run('exchange, cached review', concurrency, CACHED_REQUESTS, () => post(cachedToken)));
      if (server.reviewer.stats().apiCalls !== before) throw new Error('cached requests made TokenReview calls');
    }

    const rows = results.map((r) => {
      const sorted = [...r.latenciesMs].sort((a, b) => a - b);
      return [
        r.scenario,
        String(r.concurrency),
        String(r.requests),
        (r.requests / r.seconds).toFixed(0),
        percentile(sorted, 50).toFixed(2),
        percentile(sorted, 99).toFixed(2),
        String(r.failures),
      ];
    });
    const header = ['scenario', 'conc.', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'failed'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    console.log(`\nNode ${process.version}, ${availableParallelism()} CPUs, loopback; control plane and exchange on the same machine`);
    console.log(line(header));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const row of rows) console.log(line(row));
    console.log('');
    for (const ratio of ratios) console.log(ratio);
    const failed = results.reduce((sum, r) => sum + r.failures, 0);
    if (failed > 0) process.exitCode = 1;
  } finally {
    await server?.stop();
    await floor?.close();
    await dispatcher.close();
    await cp.stop();
  }
}

await main();
