// The exchange service when the API server goes away (really stopped, then restarted on the same port
// with the same data; and hung with SIGSTOP) and comes back, and its HTTPS certificate being rotated
// under it. A second control plane of its own is started so that it can be stopped without disturbing
// the rest of the suite. The credential source here is a stub: the informer-backed one is covered by
// exchange.test.ts; this file is about the TokenReview path and the transport.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { pino } from 'pino';
import type { KubeConfig } from '@kubernetes/client-node';
import { Agent, request } from 'undici';
import type { CredentialSource } from '../../src/exchange/credentials.ts';
import { ExchangeServer } from '../../src/exchange/server.ts';
import { EXCHANGE_PATH } from '../../src/exchange/wire.ts';
import { ServiceAccountIndex } from '../../src/exchange/service-account-index.ts';
import { generateToken } from '../../src/vocabulary/credentials.ts';
import type { FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { loadKubeConfig, makeClients, type KubeClients } from '../../src/kube/client.ts';
import { apiServerRequests } from '../support/api-metrics.ts';
import { testCluster, waitFor } from '../support/cluster.ts';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { AUDIENCE, exchangeConfig } from '../support/exchange-config.ts';
import { hidden } from '../support/hidden.ts';
import { withoutCredential } from '../support/scenario.ts';
import { closedAfterMs, openConnection } from '../support/sockets.ts';

const NAMESPACE = 'apps';


/** Whether something accepts TCP connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * A directory laid out the way the kubelet mounts a Secret: files are symlinks into ..data, itself a
 * symlink swapped atomically to a new timestamped directory on every update.
 */
function secretVolume(first: { cert: string; key: string }): { mount: string; publish: (cert: string, key: string) => void } {
  const mount = mkdtempSync(join(tmpdir(), 'exchange-tls-'));
  let generation = 0;
  const publish = (cert: string, key: string) => {
    const dir = `..${Date.now()}_${generation++}`;
    mkdirSync(join(mount, dir));
    copyFileSync(cert, join(mount, dir, 'tls.crt'));
    copyFileSync(key, join(mount, dir, 'tls.key'));
    symlinkSync(dir, join(mount, '..data_tmp'));
    renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
  };
  publish(first.cert, first.key);
  symlinkSync('..data/tls.crt', join(mount, 'tls.crt'));
  symlinkSync('..data/tls.key', join(mount, 'tls.key'));
  return { mount, publish };
}

const fingerprintOf = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256;

/** The fingerprint of the certificate a TLS server on the port presents. */
function servedCertificate(port: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate()!.fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

/**
 * How long the server keeps a connection open that never completes a TLS hello: one that sends nothing, or
 * one that sends the start of a ClientHello a byte every 200 ms, never enough to finish it. Infinity after 20 s.
 */
async function unfinishedHandshake(port: number, drip: boolean): Promise<{ closedAfterMs: number; bytesSent: number }> {
  const socket = await openConnection(port);
  // A handshake record of 512 bytes announced, a ClientHello begun, then random bytes.
  const hello = Buffer.concat([Buffer.from('1603010200010001fc0303', 'hex'), randomBytes(500)]);
  let bytesSent = 0;
  const dripping = drip ? setInterval(() => void (socket.writable && bytesSent < hello.length && socket.write(hello.subarray(bytesSent, ++bytesSent))), 200) : undefined;
  socket.once('end', () => clearInterval(dripping));
  const closed = await closedAfterMs(socket, 20_000);
  clearInterval(dripping);
  return { closedAfterMs: closed, bytesSent };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: { code?: number; message?: string; clientToken?: string };
  ms: number;
}

async function exchange(base: string, dispatcher: Agent, token: string): Promise<Answer> {
  const started = performance.now();
  const res = await request(`${base}${EXCHANGE_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ service_account_token: token }),
    dispatcher,
  });
  const json = (await res.body.json()) as Answer['json'];
  return { status: res.statusCode, headers: res.headers, json, ms: performance.now() - started };
}

describe('exchange resilience', () => {
  let cp: ControlPlane;
  let clients: KubeClients;
  let kubeConfig: KubeConfig;
  const index = new ServiceAccountIndex();
  const credentialToken = generateToken();
  const credentials: CredentialSource = {
    credentialFor: (namespace, name) =>
      namespace === NAMESPACE && name === 'web' ? { kind: 'staticToken', token: credentialToken, tokenId: `${NAMESPACE}_web`, ready: true, metadata: {} } : undefined,
  };
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  const logLines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });

  async function freshToken(): Promise<string> {
    const result = await clients.core.createNamespacedServiceAccountToken({
      name: 'app',
      namespace: NAMESPACE,
      body: { spec: { audiences: [AUDIENCE], expirationSeconds: 3600 } },
    });
    const token = result.status!.token!;
    await waitFor(async () => {
      const review = await clients.authentication.createTokenReview({ body: { spec: { token, audiences: [AUDIENCE] } } });
      return review.status?.authenticated === true;
    }, 'a fresh token to pass TokenReview');
    return token;
  }

  before(async () => {
    cp = await startControlPlane();
    kubeConfig = loadKubeConfig(cp.kubeconfigPath);
    clients = makeClients(kubeConfig);
    await clients.core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    await clients.core.createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: 'app' } } });
    index.upsert({
      apiVersion: 'flipt.io/v1alpha1',
      kind: 'FliptClient',
      metadata: { namespace: NAMESPACE, name: 'web' },
      spec: { target: 'default', serviceAccounts: ['app'] },
    } satisfies FliptClient);
  });

  after(async () => {
    try {
      if (cp) process.kill(cp.pid, 'SIGCONT');
    } catch {
      // already gone
    }
    await dispatcher.close();
    await cp?.stop();
  });

  test('API server stopped or hung: 503 with Retry-After; cached tokens keep working; recovery when it returns', async () => {
    const apiPort = Number(new URL(cp.server).port);
    // A negative answer cached for ten minutes: an outage answer (503) that were cached by mistake
    // would outlive the outage, and the first call after recovery would fail.
    const server = new ExchangeServer({
      config: exchangeConfig({ cache: { ttl: 60_000, negativeTtl: 600_000, maxEntries: 1000 } }),
      index,
      credentials,
      kubeConfig: clients.kubeConfig,
      reviewTimeoutMs: 1000,
      log,
      host: '127.0.0.1',
    });
    const { url } = await server.start();
    try {
      const [known, duringRefused, duringHung] = [await freshToken(), await freshToken(), await freshToken()];
      const ok = await exchange(url, dispatcher, known);
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      assert.equal(hidden(ok.json.clientToken), hidden(credentialToken));

      // The API server really stopped (its process gone, connections refused), then started again
      // on the same port with the same data and signing key.
      const restarting = cp.restart(2_000);
      await waitFor(async () => !(await listening(apiPort)), 'the API server to go down', 15_000, 50);
      const refused = await exchange(url, dispatcher, duringRefused);
      assert.equal(refused.status, 503, withoutCredential(JSON.stringify(refused.json)));
      assert.equal(refused.json.code, 14);
      assert.ok(Number(refused.headers['retry-after']) >= 1, 'Retry-After');
      assert.match(refused.json.message!, /TokenReview/);
      assert.ok(refused.ms < 1000, `a refused connection answers quickly (${Math.round(refused.ms)} ms)`);
      const cached = await exchange(url, dispatcher, known);
      assert.equal(cached.status, 200, 'a token reviewed before the outage is still served from the cache');
      await restarting;
      const back = await exchange(url, dispatcher, duringRefused);
      assert.equal(back.status, 200, `the first call once the API server is back succeeds: ${JSON.stringify(back.json)}`);

      // The API server process itself stopped (it accepts connections but never answers).
      const reviewsBefore = await apiServerRequests(kubeConfig, 'tokenreviews');
      process.kill(cp.pid, 'SIGSTOP');
      try {
        const hung = await Promise.all(Array.from({ length: 10 }, () => exchange(url, dispatcher, duringHung)));
        for (const answer of hung) {
          assert.equal(answer.status, 503);
          assert.equal(answer.json.code, 14);
          assert.ok(Number(answer.headers['retry-after']) >= 1);
          assert.ok(answer.ms < 3000, `the review timeout bounds the wait (${Math.round(answer.ms)} ms)`);
        }
        assert.equal((await exchange(url, dispatcher, known)).status, 200, 'cached tokens are still served');
      } finally {
        process.kill(cp.pid, 'SIGCONT');
      }
      // Once it answers again (its readiness, which is no TokenReview), the first exchange succeeds.
      await waitFor(async () => (await apiServerRequests(kubeConfig, 'tokenreviews')) >= reviewsBefore, 'the API server to answer again', 15_000, 100);
      const resumed = await exchange(url, dispatcher, duringHung);
      assert.equal(resumed.status, 200, `the first call after the API server resumed succeeds: ${JSON.stringify(resumed.json)}`);
      // Counted where the reviews arrive: the ten requests during the hang sent one review between them
      // (the stopped server reads and counts it once it runs again), and the first call after it one more.
      await waitFor(async () => (await apiServerRequests(kubeConfig, 'tokenreviews')) - reviewsBefore >= 2, 'the API server to count the reviews', 10_000, 100);
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal((await apiServerRequests(kubeConfig, 'tokenreviews')) - reviewsBefore, 2, 'concurrent requests during the hang shared one review');
      assert.ok(server.reviewer.stats().unavailable >= 2);
    } finally {
      await server.stop();
    }
    const all = logLines.join('\n');
    assert.match(all, /TokenReview failed; answering 503/);
    assert.ok(!all.includes(credentialToken));
  });

  /** Two certificate pairs that differ: the shared test control plane's and this file's own. */
  async function twoPairs() {
    const main = await testCluster();
    const pairA = { cert: join(dirname(main.kubeconfigPath), 'certs', 'apiserver.crt'), key: join(dirname(main.kubeconfigPath), 'certs', 'apiserver.key') };
    const pairB = { cert: join(cp.dir, 'certs', 'apiserver.crt'), key: join(cp.dir, 'certs', 'apiserver.key') };
    assert.notEqual(fingerprintOf(pairA.cert), fingerprintOf(pairB.cert));
    return { pairA, pairB };
  }

  test('HTTPS: serves the configured certificate and picks up a rotated one without a restart; a connection that never finishes its TLS hello (silent or dripped a byte at a time) is closed', async () => {
    const { pairA, pairB } = await twoPairs();

    const { mount, publish } = secretVolume(pairA);

    const reloads: string[] = [];
    const server = new ExchangeServer({
      config: exchangeConfig({ tls: { certFile: join(mount, 'tls.crt'), keyFile: join(mount, 'tls.key') } }),
      index,
      credentials,
      kubeConfig: clients.kubeConfig,
      log: pino({ level: 'info' }, { write: (line: string) => void reloads.push(line) }),
      host: '127.0.0.1',
      // The poll a minute away: what picks the rotation up below is the file watcher (the next test proves the poll).
      tlsReloadIntervalMs: 60_000,
      // Short enough to tell from Node's 120 s, long enough for the TokenReviews of this test's exchanges.
      requestTimeoutMs: 5000,
    });
    const { url, port } = await server.start();
    const served = () => servedCertificate(port);
    try {
      assert.match(url, /^https:\/\//);
      assert.equal(await served(), fingerprintOf(pairA.cert));
      const ok = await exchange(url, dispatcher, await freshToken());
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      // A TLS handshake that never starts, or one dripped a byte at a time, holds a socket no longer than a slow
      // request may (Node's own deadline: 120 s).
      const [silent, dripped] = await Promise.all([unfinishedHandshake(port, false), unfinishedHandshake(port, true)]);
      for (const [what, { closedAfterMs }] of [['never says hello', silent], ['drips its hello', dripped]] as const) {
        assert.ok(closedAfterMs >= 4_500 && closedAfterMs < 20_000, `a connection that ${what} is closed at the request timeout (5 s), not before or much after: ${Math.round(closedAfterMs)} ms`);
      }
      assert.ok(dripped.bytesSent >= 20, `the hello was dripped all along (${dripped.bytesSent} bytes)`);

      // A broken update (certificate B with key A) is refused; the server keeps certificate A.
      publish(pairB.cert, pairA.key);
      await server.certificates!.check();
      assert.equal(await served(), fingerprintOf(pairA.cert));
      assert.ok(reloads.some((line) => line.includes('does not load')));

      // The good update is picked up by the watcher, without a restart.
      publish(pairB.cert, pairB.key);
      await waitFor(async () => (await served()) === fingerprintOf(pairB.cert), 'the rotated certificate to be served', 10_000, 100);
      assert.equal(server.certificates!.reloads, 1);
      assert.equal((await exchange(url, dispatcher, await freshToken())).status, 200);
    } finally {
      await server.stop();
      rmSync(mount, { recursive: true, force: true });
    }
    const plain = new ExchangeServer({ config: exchangeConfig(), index, credentials, kubeConfig: clients.kubeConfig, log, host: '127.0.0.1' });
    await plain.start();
    await plain.stop();
    const warning = logLines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.msg.includes('plain HTTP'));
    assert.equal(warning?.level, 40, 'plain HTTP is announced with a warning');
  });

  test('HTTPS: a certificate no file watcher reports (the path configured through ..data, whose old directory stays put) is picked up by polling', async () => {
    const { pairA, pairB } = await twoPairs();
    const { mount, publish } = secretVolume(pairA);
    const server = new ExchangeServer({
      config: exchangeConfig({ tls: { certFile: join(mount, '..data', 'tls.crt'), keyFile: join(mount, '..data', 'tls.key') } }),
      index,
      credentials,
      kubeConfig: clients.kubeConfig,
      log,
      host: '127.0.0.1',
      tlsReloadIntervalMs: 200,
    });
    const { port } = await server.start();
    try {
      assert.equal(await servedCertificate(port), fingerprintOf(pairA.cert));
      publish(pairB.cert, pairB.key);
      await waitFor(async () => (await servedCertificate(port)) === fingerprintOf(pairB.cert), 'the new certificate served by a later poll', 10_000, 100);
    } finally {
      await server.stop();
      rmSync(mount, { recursive: true, force: true });
    }
  });

  test('exchange.maxConnections: connections beyond it are closed unserved, counted and logged once a minute; the exchange serves again as soon as one closes', async () => {
    let dropped = 0;
    const lines: string[] = [];
    const server = new ExchangeServer({
      config: exchangeConfig({ maxConnections: 3 }),
      index,
      credentials,
      kubeConfig: clients.kubeConfig,
      log: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
      host: '127.0.0.1',
      onConnectionDropped: () => dropped++,
      // The held connections send nothing: long enough that the server does not close them itself during the test.
      requestTimeoutMs: 60_000,
      headersTimeoutMs: 60_000,
    });
    const { url, port } = await server.start();
    const [refusedToken, servedToken] = [await freshToken(), await freshToken()];
    const held: Socket[] = [];
    const own = new Agent({ connections: 1 });
    try {
      for (let i = 0; i < 3; i++) held.push(await openConnection(port));
      assert.ok((await closedAfterMs(await openConnection(port), 2_000)) < 2_000, 'the connection beyond the cap is closed at once, not held');
      await assert.rejects(exchange(url, own, refusedToken), 'no exchange while the cap is reached');
      assert.equal(dropped, 2);
      const warnings = lines.filter((line) => line.includes('exchange.maxConnections'));
      assert.equal(warnings.length, 1, 'one log line for both: the second came within the minute');
      assert.deepEqual([JSON.parse(warnings[0]!).maxConnections, JSON.parse(warnings[0]!).droppedTotal], [3, 1]);

      held.pop()!.destroy();
      await waitFor(async () => (await exchange(url, own, servedToken).catch(() => undefined))?.status === 200, 'an exchange once a connection closed', 10_000, 100);
    } finally {
      for (const socket of held) socket.destroy();
      await own.close();
      await server.stop();
    }
  });

  test('stop(): an idle connection is closed at once, requests in progress still get their answers, each closing its connection, and one still sending its body is cut off after the 5 s grace', async () => {
    const server = new ExchangeServer({
      config: exchangeConfig(),
      index,
      credentials,
      kubeConfig: clients.kubeConfig,
      log,
      host: '127.0.0.1',
      // Far beyond the grace: only stop() ends the request that never finishes its body.
      requestTimeoutMs: 60_000,
      headersTimeoutMs: 60_000,
    });
    const { port } = await server.start();
    const received = new Map<Socket, string>();
    const connection = async () => {
      const socket = await openConnection(port);
      received.set(socket, '');
      socket.on('data', (data: Buffer) => received.set(socket, received.get(socket)! + data.toString('latin1')));
      return socket;
    };
    const headers = (contentLength: number) => `POST ${EXCHANGE_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${contentLength}\r\n\r\n`;
    const [idle, inBody, inHeaders, endless] = await Promise.all([connection(), connection(), connection(), connection()]);
    const sockets = [idle, inBody, inHeaders, endless];
    let dripping: NodeJS.Timeout | undefined;
    try {
      idle.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => received.get(idle)!.startsWith('HTTP/1.1 404 '), 'an answer on the connection that then idles');
      // In progress when stop() comes: one with its headers read (the app has the request), one still in its headers.
      inBody.write(`${headers(2)}{`);
      const inHeadersRequest = `${headers(2)}{}`;
      inHeaders.write(inHeadersRequest.slice(0, 20));
      endless.write(`${headers(1000)}{`);
      dripping = setInterval(() => endless.writable && endless.write(' '), 200);
      await new Promise((r) => setTimeout(r, 200)); // every byte so far has reached the server

      const started = performance.now();
      const stopped = server.stop().then(() => performance.now() - started);
      const closed = Promise.all(sockets.map((socket) => closedAfterMs(socket, 15_000)));
      await new Promise((r) => setTimeout(r, 1000));
      inBody.write('}');
      inHeaders.write(inHeadersRequest.slice(20));
      const [idleClosed, inBodyClosed, inHeadersClosed, endlessClosed] = (await closed) as [number, number, number, number];
      assert.ok(idleClosed < 1000, `the idle connection is closed at once (${Math.round(idleClosed)} ms)`);
      for (const [what, socket, closedMs] of [['its body', inBody, inBodyClosed], ['its headers', inHeaders, inHeadersClosed]] as const) {
        assert.match(received.get(socket)!, /^HTTP\/1\.1 400 [^]*\r\nConnection: close\r\n[^]*service_account_token is required/, `a request still sending ${what} at stop() is answered`);
        assert.ok(closedMs >= 1000 && closedMs < 4500, `and its connection closed once answered, not at the grace (${Math.round(closedMs)} ms)`);
      }
      assert.ok(endlessClosed >= 4500 && endlessClosed < 8000, `the request still sending its body is cut off at the grace (${Math.round(endlessClosed)} ms)`);
      assert.equal(received.get(endless), '', 'unanswered');
      const stopMs = await stopped;
      assert.ok(stopMs < 8000, `stop() returns once the last connection is closed (${Math.round(stopMs)} ms)`);
    } finally {
      clearInterval(dripping);
      for (const socket of sockets) socket.destroy();
      await server.stop();
    }
  });
});
