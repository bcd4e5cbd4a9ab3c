// The exchange service against the real API server: real service accounts, real tokens from
// TokenRequest, real TokenReview, a real FliptClient informer feeding the index and the credentials.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import { SignJWT, generateKeyPair } from 'jose';
import { pino } from 'pino';
import { Agent, request } from 'undici';
import type { ExchangeConfig } from '../../src/config/operator-config.ts';
import { Informer } from '../../src/runtime/informer.ts';
import { informerCredentialSource, type CredentialSource } from '../../src/exchange/credentials.ts';
import { ExchangeServer, type ExchangeServerOptions } from '../../src/exchange/server.ts';
import { EXCHANGE_PATH, type ExchangeOutcome } from '../../src/exchange/wire.ts';
import { ServiceAccountIndex, indexUpdater } from '../../src/exchange/service-account-index.ts';
import { TokenReviewer } from '../../src/exchange/token-review.ts';
import { mergePatch, type KubeClients } from '../../src/kube/client.ts';
import { fingerprint, generateToken, tokenIdFor } from '../../src/vocabulary/credentials.ts';
import { API_VERSION, CLIENT_LABEL, GROUP, KIND, MANAGED_BY, MANAGED_BY_LABEL, PLURAL, VERSION, type FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { createNamespace, installCrd, testCluster, waitFor } from '../support/cluster.ts';
import { removeFliptClients } from '../support/fliptclients.ts';
import { apiServerRequests } from '../support/api-metrics.ts';
import { AUDIENCE, exchangeConfig } from '../support/exchange-config.ts';
import { hidden } from '../support/hidden.ts';
import { withoutCredential } from '../support/scenario.ts';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const PROTO_TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z$/;

// Flipt's rpc/flipt/auth/auth.proto, as grpc-gateway serialises it (protojson, lowerCamelCase names):
//   message VerifyServiceAccountResponse { string client_token = 1; Authentication authentication = 2; }
//   message Authentication { string id = 1; Method method = 2; google.protobuf.Timestamp expires_at = 3;
//     google.protobuf.Timestamp created_at = 4; google.protobuf.Timestamp updated_at = 5; map<string,string> metadata = 6; }
const FLIPT_RESPONSE_FIELDS = ['clientToken', 'authentication'];
const FLIPT_AUTHENTICATION_FIELDS = ['id', 'method', 'expiresAt', 'createdAt', 'updatedAt', 'metadata'];


interface Fixture {
  kubeConfig: KubeConfig;
  clients: KubeClients;
  namespace: string;
  otherNamespace: string;
  index: ServiceAccountIndex;
  credentials: CredentialSource;
  fliptClients: Informer<FliptClient>;
  secrets: Informer<V1Secret>;
  logLines: string[];
  tokensSeen: Set<string>;
}

let fx: Fixture;
const log = () => pino({ level: 'debug' }, { write: (line: string) => void fx.logLines.push(line) });

async function setUp(): Promise<Fixture> {
  const { kubeConfig, clients } = await testCluster();
  await installCrd(kubeConfig);
  const namespace = await createNamespace(clients, 'exchange');
  const otherNamespace = await createNamespace(clients, 'exchange-other');
  const index = new ServiceAccountIndex();
  const logLines: string[] = [];
  const informerLog = pino({ level: 'warn' }, { write: (line: string) => void logLines.push(line) });
  let fliptClients!: Informer<FliptClient>;
  fliptClients = new Informer<FliptClient>(
    kubeConfig,
    {
      name: 'fliptclients',
      path: `/apis/${GROUP}/${VERSION}/${PLURAL}`,
      onChange: indexUpdater(index, (ns, name) => fliptClients.get(name, ns)),
    },
    informerLog,
  );
  const selector = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;
  const secrets = new Informer<V1Secret>(
    kubeConfig,
    {
      name: 'secrets',
      path: '/api/v1/secrets',
      labelSelector: selector,
      onChange: () => {},
    },
    informerLog,
  );
  await Promise.all([fliptClients.start(), secrets.start()]);
  await Promise.all([fliptClients.waitForSync(), secrets.waitForSync()]);
  return {
    kubeConfig,
    clients,
    namespace,
    otherNamespace,
    index,
    credentials: informerCredentialSource(fliptClients, secrets),
    fliptClients,
    secrets,
    logLines,
    tokensSeen: new Set(),
  };
}

async function createServiceAccount(name: string, namespace = fx.namespace): Promise<string> {
  const sa = await fx.clients.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  return sa.metadata!.uid!;
}

async function requestToken(
  serviceAccount: string,
  options: { namespace?: string; audiences?: string[]; pod?: { name: string; uid: string }; expirationSeconds?: number } = {},
): Promise<{ token: string; expiresAt: Date }> {
  const result = await fx.clients.core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace: options.namespace ?? fx.namespace,
    body: {
      spec: {
        audiences: options.audiences ?? [AUDIENCE],
        expirationSeconds: options.expirationSeconds ?? 3600,
        ...(options.pod ? { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: options.pod.name, uid: options.pod.uid } } : {}),
      },
    },
  });
  fx.tokensSeen.add(result.status!.token!);
  return { token: result.status!.token!, expiresAt: new Date(result.status!.expirationTimestamp!) };
}

/** The API server may read a just-created service account from its cache: wait until a raw review passes. */
async function waitReviewable(token: string, clients = fx.clients): Promise<void> {
  await waitFor(async () => {
    const review = await clients.authentication.createTokenReview({ body: { spec: { token, audiences: [AUDIENCE] } } });
    return review.status?.authenticated === true;
  }, 'a fresh service account token to pass TokenReview');
}

async function createFliptClient(
  name: string,
  serviceAccounts: string[],
  ready: { status: 'True' | 'False'; reason: string } | undefined,
  options: { metadata?: Record<string, string>; secretOwned?: boolean } = {},
): Promise<{ client: FliptClient; token: string; issuedAt: string }> {
  const namespace = fx.namespace;
  const body = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name, namespace },
    spec: { target: 'default', serviceAccounts, ...(options.metadata ? { metadata: options.metadata } : {}) },
  };
  const created = (await fx.clients.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, body })) as FliptClient;
  const token = generateToken();
  const issuedAt = new Date(Date.now() - 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const secretName = `${name}-flipt`;
  await fx.clients.core.createNamespacedSecret({
    namespace,
    body: {
      metadata: {
        name: secretName,
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [CLIENT_LABEL]: name },
        ...(options.secretOwned === false
          ? {}
          : { ownerReferences: [{ apiVersion: API_VERSION, kind: KIND, name, uid: created.metadata.uid!, controller: true, blockOwnerDeletion: true }] }),
      },
      stringData: { token, authorization: `Bearer ${token}` },
    },
  });
  if (ready) {
    const now = new Date().toISOString();
    await fx.clients.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
        body: {
          status: {
            observedGeneration: created.metadata.generation,
            conditions: [{ type: 'Ready', status: ready.status, reason: ready.reason, message: 'set by the test', lastTransitionTime: now }],
            secretName,
            tokenId: tokenIdFor(namespace, name),
            credentialFingerprint: fingerprint(token),
            issuedAt,
          },
        },
      },
      mergePatch,
    );
  }
  await waitFor(() => {
    const credential = fx.credentials.credentialFor(namespace, name);
    const client = fx.fliptClients.get(name, namespace);
    return (
      credential !== undefined &&
      credential.ready === (ready?.status === 'True' && options.secretOwned !== false) &&
      (ready === undefined || client?.status?.issuedAt !== undefined) &&
      fx.secrets.get(secretName, namespace) !== undefined
    );
  }, `FliptClient ${name} in the informer caches`);
  return { client: created, token, issuedAt };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

async function call(
  base: string,
  dispatcher: Agent,
  body: string | Buffer | undefined,
  options: { path?: string; method?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers = options.headers ?? { 'content-type': 'application/json' };
  const res = await request(`${base}${options.path ?? EXCHANGE_PATH}`, {
    method: (options.method ?? 'POST') as 'POST',
    headers,
    ...(body !== undefined ? { body } : {}),
    dispatcher,
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: parse(text) };
}

const tokenBody = (token: unknown) => JSON.stringify({ service_account_token: token });

/** Sends raw bytes; resolves with everything the server wrote and when it closed the connection. */
function raw(port: number, chunks: Array<string | Buffer>, options: { dripMs?: number; maxMs?: number } = {}): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let timer: NodeJS.Timeout | undefined;
    const give = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection still open after ${options.maxMs ?? 10_000} ms; got: ${text.slice(0, 200)}`));
    }, options.maxMs ?? 10_000);
    socket.on('data', (data) => (text += data.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(give);
      clearInterval(timer);
      resolve({ text, closedAfterMs: performance.now() - started });
    });
    socket.on('connect', () => {
      if (!options.dripMs) {
        for (const chunk of chunks) socket.write(chunk);
        return;
      }
      let i = 0;
      timer = setInterval(() => {
        if (socket.destroyed) return clearInterval(timer);
        socket.write(chunks[Math.min(i, chunks.length - 1)]!); // the first chunk, then the last one over and over
        i++;
      }, options.dripMs);
    });
  });
}

function assertFliptError(answer: Answer, status: number, code: number, what: string): void {
  assert.equal(answer.status, status, `${what}: status (body ${withoutCredential(answer.text).slice(0, 300)})`);
  assert.match(String(answer.headers['content-type']), /^application\/json/, `${what}: content type`);
  const body = answer.json as { code?: unknown; message?: unknown; details?: unknown };
  assert.ok(body && typeof body === 'object', `${what}: JSON body`);
  assert.deepEqual(Object.keys(body).sort(), ['code', 'details', 'message'], `${what}: Flipt's error shape`);
  assert.equal(body.code, code, `${what}: gRPC code`);
  assert.equal(typeof body.message, 'string');
  assert.ok((body.message as string).length > 0);
  assert.deepEqual(body.details, []);
}

function assertNoTokenIn(answer: Answer, token: string, what: string): void {
  if (token.length < 8) return;
  assert.ok(!answer.text.includes(token), `${what}: the token must not be echoed in the body`);
  for (const [name, value] of Object.entries(answer.headers)) {
    assert.ok(!String(value).includes(token), `${what}: the token must not be echoed in header ${name}`);
  }
}

const apiServerTokenReviews = () => apiServerRequests(fx.kubeConfig, 'tokenreviews');

/** Shaped like a service-account token (not expired, our audience), so the API server is asked, and refuses it. */
function madeUp(label: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', kid: label })}.${part({ aud: [AUDIENCE], exp: Math.floor(Date.now() / 1000) + 3600, sub: label })}.${Buffer.from(label).toString('base64url')}`;
}

describe('exchange service against a real API server', () => {
  let server: ExchangeServer;
  let base: string;
  let port: number;
  let dispatcher: Agent;
  const outcomes: ExchangeOutcome[] = [];
  let bound: { token: string; secretToken: string; issuedAt: string; saUid: string; pod: { name: string; uid: string }; expiresAt: Date };

  /** Another exchange on the same caches and reviewer (its cache holds these tokens already), with its own rate limits; a test may give its own reviewer or log. */
  const limitedServer = (rateLimit: ExchangeConfig['rateLimit'], own: Partial<ExchangeServerOptions> = {}) =>
    new ExchangeServer({ config: exchangeConfig({ rateLimit }), index: fx.index, credentials: fx.credentials, reviewer: server.reviewer, log: log(), host: '127.0.0.1', ...own });

  before(async () => {
    fx = await setUp();
    server = new ExchangeServer({
      config: exchangeConfig(),
      index: fx.index,
      credentials: fx.credentials,
      kubeConfig: fx.clients.kubeConfig,
      log: log(),
      host: '127.0.0.1',
      requestTimeoutMs: 1500,
      headersTimeoutMs: 1000,
      onRequest: (outcome) => outcomes.push(outcome),
    });
    ({ port, url: base } = await server.start());
    dispatcher = new Agent({ keepAliveTimeout: 1000 });

    const saUid = await createServiceAccount('app');
    const pod = await fx.clients.core.createNamespacedPod({
      namespace: fx.namespace,
      body: { metadata: { name: 'app-0' }, spec: { serviceAccountName: 'app', containers: [{ name: 'app', image: 'example.invalid/app:1' }] } },
    });
    const podRef = { name: pod.metadata!.name!, uid: pod.metadata!.uid! };
    const client = await createFliptClient('web', ['app'], { status: 'True', reason: 'Ready' }, { metadata: { team: 'payments' } });
    const issued = await fx.clients.core.createNamespacedServiceAccountToken({
      name: 'app',
      namespace: fx.namespace,
      body: { spec: { audiences: [AUDIENCE], expirationSeconds: 3600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', ...podRef } } },
    });
    const token = issued.status!.token!;
    fx.tokensSeen.add(token);
    await waitReviewable(token);
    bound = { token, secretToken: client.token, issuedAt: client.issuedAt, saUid, pod: podRef, expiresAt: new Date(issued.status!.expirationTimestamp!) };
  });

  after(async () => {
    await server?.stop();
    await dispatcher?.close();
    await fx?.fliptClients.stop();
    await fx?.secrets.stop();
    // Later test files run operators that would otherwise inherit these FliptClients.
    const cluster = await testCluster();
    for (const namespace of [fx?.namespace, fx?.otherNamespace]) if (namespace) await removeFliptClients(cluster, namespace);
    await fx?.clients.core.deleteNamespace({ name: fx.namespace }).catch(() => {});
    await fx?.clients.core.deleteNamespace({ name: fx.otherNamespace }).catch(() => {});
  });

  test('a bound, Ready client gets its credential in exactly the shape Flipt answers', async () => {
    const answer = await call(base, dispatcher, tokenBody(bound.token));
    assert.equal(answer.status, 200, answer.text);
    assert.match(String(answer.headers['content-type']), /^application\/json/);
    assert.equal(answer.headers['cache-control'], 'no-store');
    const body = answer.json as Record<string, unknown> & { authentication: Record<string, unknown> & { metadata: Record<string, string> } };
    assert.deepEqual(Object.keys(body), FLIPT_RESPONSE_FIELDS);
    assert.deepEqual(Object.keys(body.authentication), FLIPT_AUTHENTICATION_FIELDS);
    assert.equal(hidden(body.clientToken), hidden(bound.secretToken));
    assert.equal(body.authentication.id, tokenIdFor(fx.namespace, 'web'));
    assert.equal(body.authentication.method, 'METHOD_KUBERNETES');
    for (const field of ['expiresAt', 'createdAt', 'updatedAt']) assert.match(String(body.authentication[field]), PROTO_TIMESTAMP, field);
    // expiresAt is the service-account token's own expiry, as in Flipt's method.
    assert.equal(Date.parse(String(body.authentication.expiresAt)), Math.floor(bound.expiresAt.getTime() / 1000) * 1000);
    assert.equal(body.authentication.createdAt, bound.issuedAt);
    assert.equal(body.authentication.updatedAt, bound.issuedAt);
    assert.deepEqual(body.authentication.metadata, {
      team: 'payments',
      'fliptclient-namespace': fx.namespace,
      'fliptclient-name': 'web',
      'io.flipt.auth.k8s.namespace': fx.namespace,
      'io.flipt.auth.k8s.serviceaccount.name': 'app',
      'io.flipt.auth.k8s.serviceaccount.uid': bound.saUid,
      'io.flipt.auth.k8s.pod.name': bound.pod.name,
      'io.flipt.auth.k8s.pod.uid': bound.pod.uid,
    });
    for (const value of Object.values(body.authentication.metadata)) assert.equal(typeof value, 'string');

    // The camelCase field (protojson accepts both) and a charset parameter work too.
    const camel = await call(base, dispatcher, JSON.stringify({ serviceAccountToken: bound.token }), {
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    assert.equal(camel.status, 200, camel.text);
    assert.deepEqual(hidden(camel.json), hidden(answer.json));
    // Unknown fields are ignored, as Flipt's gateway does; both spellings with one value are fine.
    const extra = await call(base, dispatcher, JSON.stringify({ service_account_token: bound.token, serviceAccountToken: bound.token, other: 1 }));
    assert.equal(extra.status, 200, extra.text);
    // A body of unknown length comes chunked, without Content-Length (as Go's client sends a streamed one).
    const json = tokenBody(bound.token);
    const chunked = await raw(port, [`POST ${EXCHANGE_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(json).toString(16)}\r\n${json}\r\n0\r\n\r\n`]);
    assert.match(chunked.text, /^HTTP\/1\.1 200 /, 'a chunked body is read');
  });

  test("a FliptClient edited after it was Ready: 503 until its status is the new generation's, then the credential with the new spec", async () => {
    const patchSpec = async (team: string) => {
      const edited = (await fx.clients.custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace: fx.namespace, plural: PLURAL, name: 'web', body: { spec: { metadata: { team } } } },
        mergePatch,
      )) as FliptClient;
      await waitFor(() => fx.fliptClients.get('web', fx.namespace)?.metadata.generation === edited.metadata.generation, 'the edit in the cache');
      return edited.metadata.generation!;
    };
    const observe = async (generation: number) => {
      await fx.clients.custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace: fx.namespace, plural: PLURAL, name: 'web', body: { status: { observedGeneration: generation } } },
        mergePatch,
      );
      await waitFor(() => fx.fliptClients.get('web', fx.namespace)?.status?.observedGeneration === generation, 'the status in the cache');
    };
    const generation = await patchSpec('platform');
    const stale = await call(base, dispatcher, tokenBody(bound.token));
    assert.equal(stale.status, 503, stale.text);
    assert.equal(stale.headers['retry-after'] !== undefined, true);
    assert.match(stale.text, new RegExp(`is not Ready \\(the operator has not reconciled generation ${generation} of the FliptClient yet\\)`));
    await observe(generation);
    const answer = await call(base, dispatcher, tokenBody(bound.token));
    assert.equal(answer.status, 200, answer.text);
    assert.equal((answer.json as { authentication: { metadata: Record<string, string> } }).authentication.metadata.team, 'platform');
    await observe(await patchSpec('payments'));
  });

  test('at least 20 bad inputs: each answered with its status and gRPC code, never a 500, never the token', async () => {
    // Fixtures for the token cases.
    await createServiceAccount('unbound');
    await createServiceAccount('pending');
    await createServiceAccount('shared');
    await createServiceAccount('borrowed');
    await createServiceAccount('gone');
    await createServiceAccount('app', fx.otherNamespace);
    await createFliptClient('pending', ['pending'], { status: 'False', reason: 'WaitingForRollout' });
    await createFliptClient('shared-1', ['shared'], { status: 'True', reason: 'Ready' });
    await createFliptClient('shared-2', ['shared'], { status: 'True', reason: 'Ready' });
    await createFliptClient('borrowed', ['borrowed'], { status: 'True', reason: 'Ready' }, { secretOwned: false });
    assert.deepEqual(fx.index.conflictsByServiceAccount(fx.namespace, 'shared-1'), { shared: ['shared-2'] });

    const unbound = (await requestToken('unbound')).token;
    const pending = (await requestToken('pending')).token;
    const shared = (await requestToken('shared')).token;
    const borrowed = (await requestToken('borrowed')).token;
    const otherAudience = (await requestToken('app', { audiences: ['some-other-service'] })).token;
    const otherNamespace = (await requestToken('app', { namespace: fx.otherNamespace })).token;
    for (const token of [unbound, pending, shared, borrowed]) await waitReviewable(token);
    await waitReviewable(otherNamespace);

    const gone = (await requestToken('gone')).token;
    await waitReviewable(gone);
    await fx.clients.core.deleteNamespacedServiceAccount({ name: 'gone', namespace: fx.namespace });
    await waitFor(async () => {
      const review = await fx.clients.authentication.createTokenReview({ body: { spec: { token: gone, audiences: [AUDIENCE] } } });
      return review.status?.authenticated !== true;
    }, 'the deleted service account token to stop passing TokenReview');

    const { privateKey } = await generateKeyPair('RS256');
    const now = Math.floor(Date.now() / 1000);
    const forgedClaims = {
      iss: ISSUER,
      aud: [AUDIENCE],
      sub: `system:serviceaccount:${fx.namespace}:app`,
      'kubernetes.io': { namespace: fx.namespace, serviceaccount: { name: 'app', uid: bound.saUid } },
    };
    const forged = await new SignJWT(forgedClaims).setProtectedHeader({ alg: 'RS256', kid: 'not-the-cluster-key' }).setIssuedAt(now).setNotBefore(now).setExpirationTime(now + 600).sign(privateKey);
    const forgedExpired = await new SignJWT(forgedClaims).setProtectedHeader({ alg: 'RS256' }).setIssuedAt(now - 7200).setExpirationTime(now - 3600).sign(privateKey);
    // The bound token with its signature replaced: same claims, not signed by the cluster.
    const [h, p] = bound.token.split('.');
    const tampered = `${h}.${p}.${Buffer.from('x'.repeat(256)).toString('base64url')}`;
    for (const t of [forged, forgedExpired, tampered]) fx.tokensSeen.add(t);

    const json = { 'content-type': 'application/json' };
    const cases: Array<{ what: string; body?: string | Buffer; options?: Parameters<typeof call>[3]; status: number; code: number; token?: string; check?: (a: Answer) => void }> = [
      { what: 'no body', options: { headers: {} }, status: 400, code: 3 },
      { what: 'no body but a JSON content type', options: { headers: { ...json, 'content-length': '0' } }, status: 400, code: 3 },
      { what: 'not JSON', body: `{"service_account_token": "${unbound}"`, status: 400, code: 3, token: unbound },
      { what: 'a JSON array', body: JSON.stringify([bound.token]), status: 400, code: 3, token: bound.token, check: (a) => assert.equal((a.json as { message: string }).message, 'the request body must be a JSON object') },
      { what: 'a JSON string', body: JSON.stringify(bound.token), status: 400, code: 3, token: bound.token },
      { what: 'JSON null', body: 'null', status: 400, code: 3 },
      { what: 'an empty JSON object', body: '{}', status: 400, code: 3, check: (a) => assert.equal((a.json as { message: string }).message, 'service_account_token is required') },
      { what: 'a null token', body: JSON.stringify({ service_account_token: null }), status: 400, code: 3, check: (a) => assert.equal((a.json as { message: string }).message, 'service_account_token is required') },
      { what: 'wrong content type (text/plain)', body: tokenBody(bound.token), options: { headers: { 'content-type': 'text/plain' } }, status: 415, code: 3, token: bound.token },
      { what: 'a form body', body: `service_account_token=${bound.token}`, options: { headers: { 'content-type': 'application/x-www-form-urlencoded' } }, status: 415, code: 3, token: bound.token },
      { what: 'a gzip-compressed body', body: gzipSync(tokenBody(bound.token)), options: { headers: { ...json, 'content-encoding': 'gzip' } }, status: 415, code: 3 },
      { what: 'a non-UTF-8 charset', body: tokenBody(bound.token), options: { headers: { 'content-type': 'application/json; charset=latin1' } }, status: 415, code: 3, token: bound.token },
      { what: 'an empty token', body: tokenBody(''), status: 400, code: 3 },
      { what: 'a numeric token', body: tokenBody(12345), status: 400, code: 3, check: (a) => assert.equal((a.json as { message: string }).message, 'invalid values for key(s) in json body') },
      { what: 'a token that is an object', body: tokenBody({ token: 'x' }), status: 400, code: 3 },
      { what: 'a token that is a boolean', body: JSON.stringify({ serviceAccountToken: true }), status: 400, code: 3 },
      { what: 'two different tokens', body: JSON.stringify({ service_account_token: bound.token, serviceAccountToken: unbound }), status: 400, code: 3, token: bound.token },
      { what: 'an oversized token string (within the body limit)', body: tokenBody('a'.repeat(12_000)), status: 400, code: 3 },
      { what: 'a token with CRLF and a header in it', body: tokenBody(`${unbound}\r\nSet-Cookie: session=evil`), status: 400, code: 3, token: unbound, check: (a) => assert.equal(a.headers['set-cookie'], undefined) },
      { what: 'a token with non-ASCII characters', body: tokenBody('tökén-ünïcode'), status: 400, code: 3 },
      { what: 'a token one character over the limit (8,193)', body: tokenBody('a'.repeat(8193)), status: 400, code: 3, check: (a) => assert.match((a.json as { message: string }).message, /longer than 8192 characters/) },
      { what: 'a token of exactly the limit (8,192): reviewed, and refused there', body: tokenBody('a'.repeat(8192)), status: 401, code: 16 },
      { what: 'a token with a space in it', body: tokenBody(`${unbound.slice(0, 20)} ${unbound.slice(20)}`), status: 400, code: 3, token: unbound, check: (a) => assert.match((a.json as { message: string }).message, /whitespace/) },
      { what: 'a body of exactly maxBodyBytes (16,384): read, and its token refused', body: tokenBody('not-a-token').padEnd(16_384), status: 401, code: 16 },
      { what: 'a body one byte over maxBodyBytes', body: tokenBody('not-a-token').padEnd(16_385), status: 413, code: 8 },
      { what: 'a 2 MiB body', body: JSON.stringify({ service_account_token: 'a'.repeat(2 * 1024 * 1024) }), status: 413, code: 8 },
      { what: 'a random string', body: tokenBody('hello-this-is-not-a-token'), status: 401, code: 16, token: 'hello-this-is-not-a-token', check: (a) => assert.match(String(a.headers['www-authenticate']), /^Bearer/) },
      { what: 'a JWT-shaped random string', body: tokenBody('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln'), status: 401, code: 16 },
      { what: 'a JWT signed by another key', body: tokenBody(forged), status: 401, code: 16, token: forged, check: (a) => assert.match(String(a.headers['www-authenticate']), /^Bearer/) },
      { what: 'an expired JWT', body: tokenBody(forgedExpired), status: 401, code: 16, token: forgedExpired },
      { what: "the cluster's token with a forged signature", body: tokenBody(tampered), status: 401, code: 16, token: tampered },
      { what: 'a token for another audience', body: tokenBody(otherAudience), status: 401, code: 16, token: otherAudience, check: (a) => assert.match((a.json as { message: string }).message, /audience/) },
      { what: 'a token of a deleted service account', body: tokenBody(gone), status: 401, code: 16, token: gone },
      { what: 'a token for an unbound service account', body: tokenBody(unbound), status: 403, code: 7, token: unbound, check: (a) => assert.match((a.json as { message: string }).message, /not bound/) },
      { what: 'a bound name in another namespace (never cross-namespace)', body: tokenBody(otherNamespace), status: 403, code: 7, token: otherNamespace },
      { what: 'an ambiguous service account (two clients list it)', body: tokenBody(shared), status: 403, code: 7, token: shared, check: (a) => assert.match((a.json as { message: string }).message, /shared-1, shared-2/) },
      {
        what: 'a client that is not Ready',
        body: tokenBody(pending),
        status: 503,
        code: 14,
        token: pending,
        check: (a) => {
          assert.match((a.json as { message: string }).message, /not Ready.*WaitingForRollout/);
          assert.ok(Number(a.headers['retry-after']) >= 1);
        },
      },
      { what: 'a Ready client whose Secret someone else owns', body: tokenBody(borrowed), status: 503, code: 14, token: borrowed },
      { what: 'GET', options: { method: 'GET', headers: {} }, status: 405, code: 12, check: (a) => assert.equal(a.headers.allow, 'POST') },
      { what: 'PUT with a good body', body: tokenBody(bound.token), options: { method: 'PUT' }, status: 405, code: 12, token: bound.token },
      { what: 'DELETE', options: { method: 'DELETE', headers: {} }, status: 405, code: 12 },
      { what: 'an unknown path', body: tokenBody(bound.token), options: { path: '/auth/v1/method/kubernetes/other' }, status: 404, code: 5, token: bound.token },
      { what: 'a path below the endpoint', body: tokenBody(bound.token), options: { path: `${EXCHANGE_PATH}/x` }, status: 404, code: 5 },
      { what: 'the root path', options: { path: '/', method: 'GET', headers: {} }, status: 404, code: 5 },
      { what: 'a malformed percent-encoding in the path', options: { path: '/%E0%A4%A', method: 'GET', headers: {} }, status: 404, code: 5 },
    ];
    for (const c of cases) {
      const answer = await call(base, dispatcher, c.body, c.options);
      assertFliptError(answer, c.status, c.code, c.what);
      if (c.token) assertNoTokenIn(answer, c.token, c.what);
      assertNoTokenIn(answer, bound.token, c.what);
      c.check?.(answer);
    }

    // Below HTTP: the server cuts these off itself, and says so in the same JSON shape where it can.
    const slow = await raw(port, [`POST ${EXCHANGE_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`, ' '], {
      dripMs: 100,
    });
    assert.match(slow.text, /^HTTP\/1\.1 408 /, 'a slow-drip body is answered 408');
    assert.ok(slow.closedAfterMs < 4000, `a slow-drip body is cut off by the request timeout (closed after ${Math.round(slow.closedAfterMs)} ms)`);
    assert.ok(slow.closedAfterMs >= 1000, 'not before the request timeout');
    const slowHeaders = await raw(port, ['POST / HTTP/1.1\r\n', 'X-A: b\r\n'], { dripMs: 100 });
    assert.match(slowHeaders.text, /^HTTP\/1\.1 408 /, 'slow headers are answered 408');
    assert.ok(slowHeaders.closedAfterMs < 3000);

    const malformed = 'malformed HTTP request';
    const smuggling: Array<[string, string]> = [
      [`POST ${EXCHANGE_PATH} HTTP/1.1\r\nHost: x\r\nX-Evil: a\rSet-Cookie: b\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`, malformed],
      [`POST ${EXCHANGE_PATH} HTTP/1.1\r\nHost: x\r\nX-Evil: a\nSet-Cookie: b\r\nContent-Length: 2\r\n\r\n{}`, malformed],
      [`POST ${EXCHANGE_PATH} HTTP/1.1\r\nHost: x\r\nX-Evil: a\0b\r\nContent-Length: 2\r\n\r\n{}`, malformed],
      [`POST ${EXCHANGE_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, malformed],
      [`POST ${EXCHANGE_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`, malformed],
      [`POST ${EXCHANGE_PATH} HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n`, malformed],
      // A request line without a version: Node reads the "injected" line as an ordinary request
      // header, so this reaches the app as a POST without a body.
      [`POST ${EXCHANGE_PATH}\r\nSet-Cookie: x HTTP/1.1\r\nHost: x\r\n\r\n`, 'a JSON request body is required'],
    ];
    for (const [bytes, message] of smuggling) {
      const answer = await raw(port, [bytes]);
      const what = JSON.stringify(bytes.slice(0, 80));
      assert.match(answer.text, /^HTTP\/1\.1 400 /, `rejected: ${what}`);
      assert.ok(!/^set-cookie/im.test(answer.text), `no injected header comes back: ${what}`);
      assert.deepEqual(JSON.parse(answer.text.slice(answer.text.indexOf('\r\n\r\n') + 4)), { code: 3, message, details: [] }, what);
    }
    const bigHeaders = await raw(port, [`POST ${EXCHANGE_PATH} HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`]);
    assert.match(bigHeaders.text, /^HTTP\/1\.1 431 /);
    // At most 64 headers (Node's default: 2,000 within the size limit): the 64th is read, a 65th is refused.
    const withHeaders = (count: number) => {
      const padding = Array.from({ length: count - 4 }, (_, i) => `X-Pad-${i}: x\r\n`).join('');
      return raw(port, [`POST ${EXCHANGE_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n${padding}Content-Type: application/json\r\n\r\n{}`]);
    };
    assert.match((await withHeaders(64)).text, /^HTTP\/1\.1 400 [^]*"service_account_token is required"/, 'the content type sent as the 64th header is read');
    assert.match((await withHeaders(65)).text, /^HTTP\/1\.1 431 [^]*"request headers too large"/);

    // After all of that the server is still up and answers correctly; a null camelCase field beside the token is no second token.
    const withNullCamel = await call(base, dispatcher, JSON.stringify({ service_account_token: bound.token, serviceAccountToken: null }));
    assert.equal(withNullCamel.status, 200, withNullCamel.text);
    const good = await call(base, dispatcher, tokenBody(bound.token));
    assert.equal(good.status, 200, good.text);
    assert.equal(hidden((good.json as { clientToken: string }).clientToken), hidden(bound.secretToken));
    assert.ok(!outcomes.includes('internal_error'), `no request ended in an internal error: ${outcomes.join(',')}`);
  });

  test('the TokenReview cache: a repeat costs no call, 100 concurrent requests cost one, an expired entry is reviewed again', async () => {
    await createServiceAccount('cache');
    await createFliptClient('cache', ['cache'], { status: 'True', reason: 'Ready' });
    const tokens = await Promise.all([1, 2].map(() => requestToken('cache').then((t) => t.token)));
    await waitReviewable(tokens[0]!);
    await waitReviewable(tokens[1]!);

    // First request: one TokenReview, seen both by the reviewer and by the API server's own metrics.
    let calls = server.reviewer.stats().apiCalls;
    let atServer = await apiServerTokenReviews();
    assert.equal((await call(base, dispatcher, tokenBody(tokens[0]))).status, 200);
    assert.equal(server.reviewer.stats().apiCalls - calls, 1);
    assert.equal((await apiServerTokenReviews()) - atServer, 1);

    // The second identical request: no call at all.
    calls = server.reviewer.stats().apiCalls;
    atServer = await apiServerTokenReviews();
    const again = await call(base, dispatcher, tokenBody(tokens[0]));
    assert.equal(again.status, 200);
    assert.equal(server.reviewer.stats().apiCalls - calls, 0);
    assert.equal((await apiServerTokenReviews()) - atServer, 0);

    // 100 concurrent identical requests with a token never seen before: one call.
    calls = server.reviewer.stats().apiCalls;
    atServer = await apiServerTokenReviews();
    const many = new Agent({ connections: 100 });
    try {
      const answers = await Promise.all(Array.from({ length: 100 }, () => call(base, many, tokenBody(tokens[1]))));
      assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]));
    } finally {
      await many.close();
    }
    assert.equal(server.reviewer.stats().apiCalls - calls, 1);
    assert.equal((await apiServerTokenReviews()) - atServer, 1);

    // A short-TTL server: the entry expires and the token is reviewed again.
    const shortTtl = new ExchangeServer({
      config: exchangeConfig({ cache: { ttl: 300, negativeTtl: 300, maxEntries: 10 } }),
      index: fx.index,
      credentials: fx.credentials,
      kubeConfig: fx.clients.kubeConfig,
      log: log(),
      host: '127.0.0.1',
    });
    const { url } = await shortTtl.start();
    try {
      assert.equal((await call(url, dispatcher, tokenBody(tokens[0]))).status, 200);
      assert.equal((await call(url, dispatcher, tokenBody(tokens[0]))).status, 200);
      assert.equal(shortTtl.reviewer.stats().apiCalls, 1);
      await new Promise((r) => setTimeout(r, 400));
      atServer = await apiServerTokenReviews();
      assert.equal((await call(url, dispatcher, tokenBody(tokens[0]))).status, 200);
      assert.equal(shortTtl.reviewer.stats().apiCalls, 2, 'the expired entry was reviewed again');
      assert.equal((await apiServerTokenReviews()) - atServer, 1);
    } finally {
      await shortTtl.stop();
    }
  });

  test('rate limits: per service account and global, 429 with Retry-After', async () => {
    const perSa = limitedServer({ perServiceAccountPerMinute: 3, globalPerSecond: 1000, failedPerSourcePerMinute: 1000 });
    const { url } = await perSa.start();
    try {
      for (let i = 0; i < 3; i++) assert.equal((await call(url, dispatcher, tokenBody(bound.token))).status, 200);
      const limited = await call(url, dispatcher, tokenBody(bound.token));
      assertFliptError(limited, 429, 8, 'over the per-service-account limit');
      // 3 a minute: the next one is 20 s after the first three, less the little time they took.
      assert.ok(Number(limited.headers['retry-after']) >= 15 && Number(limited.headers['retry-after']) <= 20, String(limited.headers['retry-after']));
      assert.match((limited.json as { message: string }).message, new RegExp(`${fx.namespace}/app`));
      // Another service account is not affected.
      const other = await call(url, dispatcher, tokenBody((await requestToken('cache')).token));
      assert.equal(other.status, 200, other.text);
    } finally {
      await perSa.stop();
    }

    const global = limitedServer({ perServiceAccountPerMinute: 1000, globalPerSecond: 2, failedPerSourcePerMinute: 1000 });
    const globalUrl = (await global.start()).url;
    try {
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push(await call(globalUrl, dispatcher, tokenBody('garbage-that-never-reaches-the-api')));
      assert.deepEqual(
        answers.map((a) => a.status),
        [401, 401, 429, 429],
      );
      assertFliptError(answers[2]!, 429, 8, 'over the global limit');
      assert.equal(answers[2]!.headers['retry-after'], '1');
    } finally {
      await global.stop();
    }
  });

  test('an address that keeps failing is refused before the global limit and any TokenReview; other addresses are served', async () => {
    const lines: string[] = [];
    const reviewsBefore = await apiServerTokenReviews();
    const perSource = limitedServer({ perServiceAccountPerMinute: 1000, globalPerSecond: 4, failedPerSourcePerMinute: 3 }, { log: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) });
    const { url } = await perSource.start();
    const elsewhere = new Agent({ localAddress: '127.0.0.2' });
    try {
      // Three made-up tokens (each a TokenReview): the fourth request is refused, whatever it holds.
      const failures = [];
      for (let i = 0; i < 3; i++) failures.push(await call(url, dispatcher, tokenBody(madeUp(`first-${i}`))));
      assert.deepEqual(failures.map((a) => a.status), [401, 401, 401]);
      const refused = await call(url, dispatcher, tokenBody(bound.token));
      assertFliptError(refused, 429, 8, 'a valid token from an address over its failures');
      assert.match((refused.json as { message: string }).message, /too many failed exchange requests from this address/);
      // 3 a minute: a token back every 20 s.
      assert.ok(Number(refused.headers['retry-after']) >= 15 && Number(refused.headers['retry-after']) <= 20, String(refused.headers['retry-after']));
      const reviewsAtRefusal = await apiServerTokenReviews();
      // Twenty more: refused without a TokenReview and without spending the global bucket (4 a second).
      for (let i = 0; i < 20; i++) assert.equal((await call(url, dispatcher, tokenBody(madeUp(`again-${i}`)))).status, 429);
      assert.equal(await apiServerTokenReviews(), reviewsAtRefusal, 'a refused address costs no TokenReview');
      const served = await call(url, elsewhere, tokenBody(bound.token));
      assert.equal(served.status, 200, `another address is served: ${served.text}`);
      assert.ok(reviewsAtRefusal - reviewsBefore >= 3, 'the made-up tokens were reviewed');
      const warnings = lines.filter((line) => line.includes('an address failed too often'));
      assert.equal(warnings.length, 1, 'logged once, when the address became limited');
      assert.equal(JSON.parse(warnings[0]!).source, '127.0.0.1');
    } finally {
      await perSource.stop();
      await elsewhere.close();
    }
  });

  test('failures let through together all count: the address waits them off, and is logged once', async () => {
    const lines: string[] = [];
    let arrived = 0;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // Real TokenReviews, held until all six requests have passed the address's check.
    const held = new TokenReviewer({
      audiences: [AUDIENCE],
      cache: { ttl: 60_000, negativeTtl: 2_000, maxEntries: 100 },
      review: async (token, audiences) => {
        arrived++;
        await released;
        return (await fx.clients.authentication.createTokenReview({ body: { spec: { token, audiences } } })).status;
      },
    });
    const perSource = limitedServer({ perServiceAccountPerMinute: 1000, globalPerSecond: 1000, failedPerSourcePerMinute: 3 }, { reviewer: held, log: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) });
    const { url } = await perSource.start();
    const together = new Agent({ connections: 6 });
    try {
      const tokens = Array.from({ length: 6 }, (_, i) => madeUp(`together-${i}`));
      const answers = Promise.all(tokens.map((token) => call(url, together, tokenBody(token))));
      await waitFor(async () => arrived === 6, 'six reviews in flight');
      release();
      assert.deepEqual((await answers).map((a) => a.status), [401, 401, 401, 401, 401, 401]);
      // Six failures against a budget of three: three owed, then one to spend, at one every 20 s.
      const refused = await call(url, together, tokenBody(bound.token));
      assertFliptError(refused, 429, 8, 'after six failures let through together');
      const retryAfter = Number(refused.headers['retry-after']);
      assert.ok(retryAfter > 60 && retryAfter <= 80, String(retryAfter));
      assert.equal(lines.filter((line) => line.includes('an address failed too often')).length, 1);
    } finally {
      await perSource.stop();
      await together.close();
    }
  });

  test("a real service account bound to no client (403) is no failure of the address: it is never limited for it", async () => {
    await createServiceAccount('unbound-often');
    const unbound = (await requestToken('unbound-often')).token;
    await waitReviewable(unbound);
    const perSource = limitedServer({ perServiceAccountPerMinute: 1000, globalPerSecond: 1000, failedPerSourcePerMinute: 2 });
    const { url } = await perSource.start();
    try {
      for (let i = 0; i < 4; i++) assertFliptError(await call(url, dispatcher, tokenBody(unbound)), 403, 7, `refused as unbound, not limited (request ${i + 1})`);
      assert.equal((await call(url, dispatcher, tokenBody(bound.token))).status, 200, 'the address is served');
    } finally {
      await perSource.stop();
    }
  });

  test('until the caches have synced: 503 with Retry-After, never a false 403', async () => {
    let synced = false;
    const starting = new ExchangeServer({
      config: exchangeConfig(),
      index: new ServiceAccountIndex(), // empty, as before the first list
      credentials: fx.credentials,
      reviewer: server.reviewer,
      ready: () => synced,
      log: log(),
      host: '127.0.0.1',
    });
    const { url } = await starting.start();
    try {
      const early = await call(url, dispatcher, tokenBody(bound.token));
      assertFliptError(early, 503, 14, 'before the caches synced');
      assert.ok(Number(early.headers['retry-after']) >= 1);
      synced = true;
      assertFliptError(await call(url, dispatcher, tokenBody(bound.token)), 403, 7, 'synced, and the (empty) index says unbound');
    } finally {
      await starting.stop();
    }
  });

  test('an answer that cannot be written (its JSON throws) ends in a 500 and an error line, never an unhandled rejection that stops the process', async () => {
    const lines: string[] = [];
    const ready = fx.credentials.credentialFor(fx.namespace, 'web')!;
    // BigInt is one thing JSON.stringify refuses.
    const credentials: CredentialSource = { credentialFor: () => ({ ...ready, metadata: { team: 1n as unknown as string } }) };
    const broken = new ExchangeServer({ config: exchangeConfig(), index: fx.index, credentials, kubeConfig: fx.clients.kubeConfig, log: pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }), host: '127.0.0.1' });
    const { url } = await broken.start();
    try {
      for (let i = 0; i < 2; i++) {
        const answer = await call(url, dispatcher, tokenBody(bound.token));
        assert.equal(answer.status, 500, answer.text);
        assert.deepEqual(answer.json, { code: 13, message: 'internal error', details: [] });
      }
      assert.equal(lines.filter((line) => line.includes('exchange request failed unexpectedly')).length, 2);
      for (const line of lines) assert.ok(!line.includes(bound.token) && !line.includes(bound.secretToken), 'no credential logged');
    } finally {
      await broken.stop();
    }
  });

  test('no token ever appears in the logs', () => {
    assert.ok(fx.logLines.length > 0);
    const all = fx.logLines.join('\n');
    for (const token of fx.tokensSeen) assert.ok(!all.includes(token), 'a token was logged');
    assert.ok(!all.includes(bound.secretToken), 'a Flipt credential was logged');
    const errors = fx.logLines.map((line) => JSON.parse(line) as { level: number; msg: string }).filter((line) => line.level >= 50);
    assert.deepEqual(errors, [], 'nothing was logged at error level');
  });
});

// A reviewer the test can hold on to (used by the bench too): make sure it can be built directly.
test('TokenReviewer refuses to start without audiences', () => {
  assert.throws(() => new TokenReviewer({ audiences: [], cache: { ttl: 1, negativeTtl: 1, maxEntries: 1 }, review: async () => undefined }));
});
