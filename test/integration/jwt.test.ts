// JWT mode against a real API server, the operator as a real process under deploy/'s RBAC: Flipt's jwt
// method configured in one write and one restart; FliptClients Ready with a JWT in their Secret and no
// further write or restart; every JWT verified with jose against the JWKS fetched over HTTP from the
// operator, with Flipt's own rules, and every forgery refused by the same check; the exchange minting a
// fresh JWT; deletion; and no credential anywhere it should not be.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair } from 'jose';
import type { V1Secret } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { mergePatch } from '../../src/kube/client.ts';
import { decodeSecretData } from '../../src/kube/secret-data.ts';
import { readJwt } from '../../src/vocabulary/client-jwt.ts';
import { fingerprint } from '../../src/vocabulary/credentials.ts';
import { GROUP, PLURAL, VERSION } from '../../src/vocabulary/fliptclient.ts';
import { ROTATE_ANNOTATION } from '../../src/vocabulary/rotation.ts';
import { recordHistory, type ObjectHistory } from '../support/api-watch.ts';
import { waitFor } from '../support/cluster.ts';
import { hidden } from '../support/hidden.ts';
import { acceptedByFlipt, fetchJwks, verifyAsFlipt } from '../support/flipt-jwt.ts';
import { readAsFlipt } from '../support/flipt-reader.ts';
import { assertValidFliptConfig } from '../support/flipt-schema.ts';
import { condition, createFliptClient, deleteFliptClient, getFliptClient, patchFliptClientSpec } from '../support/fliptclients.ts';
import { Scenario, SIGNING_KEYS_SECRET, withoutCredential } from '../support/scenario.ts';

const APP = `jwt-${Date.now().toString(36)}`;
const ISSUER = 'flipt-client-operator';
const AUDIENCE = 'flipt:default';
const flipt = { issuer: ISSUER, audience: AUDIENCE };
const NAMES = Array.from({ length: 20 }, (_, i) => `app-${i}`);
let scenario: Scenario;
const histories: Array<ObjectHistory<V1Secret>> = [];
let enablement = { writes: 0, restarts: 0 };

const secretOf = async (name: string) => scenario.cluster.clients.core.readNamespacedSecret({ name: `${name}-flipt`, namespace: APP });
const decoded = (secret: V1Secret) => decodeSecretData(secret.data);
const jwtOf = async (name: string) => decoded(await secretOf(name)).token!;
const get = (name: string) => getFliptClient(scenario.cluster.clients, APP, name);

before(async () => {
  scenario = await Scenario.start({ credentialKind: 'jwt', minInterval: '2s', deployRbac: {} });
  await scenario.createAppNamespace(APP);
  await scenario.cluster.clients.core.createNamespacedServiceAccount({ namespace: APP, body: { metadata: { name: 'web-sa' } } });
  for (const name of NAMES.slice(0, 3)) histories.push(await recordHistory<V1Secret>(scenario.cluster.kubeConfig, `/api/v1/namespaces/${APP}/secrets`, `${name}-flipt`));
  // JWT mode is enabled with the operator's start: Flipt's config gets the jwt method before any client exists.
  await waitFor(() => scenario.restarts() === 1, 'the restart that enables the jwt method', 30_000);
  await scenario.quietPeriod();
  enablement = { writes: scenario.configWrites(), restarts: scenario.restarts() };
});

after(async () => {
  for (const h of histories) h.stop();
  await scenario?.stop();
});

test("enablement: one ConfigMap write and one restart put Flipt's jwt method in place, valid for Flipt's schema and read by Flipt as written", async () => {
  assert.deepEqual(enablement, { writes: 1, restarts: 1 });
  const text = await scenario.fliptConfig();
  assertValidFliptConfig(text);
  assert.deepEqual(parse(text).authentication.methods.jwt, {
    enabled: true,
    jwks_url: 'http://flipt-client-operator.flipt-client-operator.svc:8443/.well-known/jwks.json',
    validate_claims: { issuer: ISSUER, audiences: [AUDIENCE] },
  });
  assert.match(text, /# hand-written token: the operator must never touch it/, 'the rest of the config is as it was');
  const reading = await readAsFlipt(text);
  assert.deepEqual(reading.jwt, {
    enabled: true,
    validateClaims: { issuer: ISSUER, subject: '', audiences: [AUDIENCE] },
    jwksUrl: 'http://flipt-client-operator.flipt-client-operator.svc:8443/.well-known/jwks.json',
    publicKeyFile: '',
  });
  assert.equal(reading.kubernetesEnabled, false);
  assert.deepEqual(reading.references, ['${env:CI_FLIPT_TOKEN}'], 'nothing of the jwt method reads as a reference');
});

test("20 FliptClients: Ready with a JWT that Flipt's check accepts against the JWKS fetched from the operator; no ConfigMap write, no restart", async () => {
  for (const [i, name] of NAMES.entries()) {
    await createFliptClient(scenario.cluster.clients, APP, name, {
      metadata: { team: `team-${i % 3}`, index: String(i) },
      ...(i === 0 ? { serviceAccounts: ['web-sa'] } : {}),
    });
  }
  for (const name of NAMES) await waitFor(async () => condition(await get(name), 'Ready')?.status === 'True', `${name} Ready`, 60_000);
  const { jwks } = await fetchJwks(scenario.jwksUrl());
  const expiries: number[] = [];
  for (const [i, name] of NAMES.entries()) {
    const secret = decoded(await secretOf(name));
    const jwt = secret.token!;
    assert.equal(hidden(secret.authorization), hidden(`JWT ${jwt}`), 'presented as Flipt expects a JWT');
    const payload = await verifyAsFlipt(jwt, jwks, flipt);
    const header = JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString());
    assert.equal(header.alg, 'ES256');
    assert.ok(jwks.keys.some((k) => k.kid === header.kid), 'the kid names a published key');
    assert.equal(payload.sub, `fliptclient:${APP}:${name}`);
    assert.equal(payload.exp! - payload.iat!, 3600, 'the default lifetime, 1h');
    expiries.push(payload.exp!);
    assert.equal(payload.nbf, payload.iat);
    assert.ok(payload.jti);
    assert.deepEqual(
      Object.fromEntries(Object.entries(payload).filter(([k]) => k.startsWith('io.flipt.auth'))),
      {
        'io.flipt.auth.fliptclient.namespace': APP,
        'io.flipt.auth.fliptclient.name': name,
        'io.flipt.auth.fliptclient.metadata.team': `team-${i % 3}`,
        'io.flipt.auth.fliptclient.metadata.index': String(i),
      },
      'the only claims Flipt copies into metadata: the client and its spec.metadata, as strings',
    );
    assert.equal(secret.expiresAt, new Date(payload.exp! * 1000).toISOString());
    assert.equal(secret.url, `http://flipt.${scenario.namespace}:8080`);
    const client = await get(name);
    assert.deepEqual(
      [client.status?.credentialKind, client.status?.keyId, client.status?.credentialFingerprint, client.status?.expiresAt],
      ['jwt', header.kid, fingerprint(jwt), new Date(payload.exp! * 1000).toISOString()],
    );
    assert.equal(Date.parse(client.status!.refreshAt!), payload.iat! * 1000 + 2400_000, 'refreshed at two thirds of its lifetime');
    assert.deepEqual(
      ['CredentialIssued', 'ConfigApplied', 'Ready'].map((t) => condition(client, t as 'Ready')?.reason),
      ['JwtIssued', 'JwtMethodEnabled', 'Ready'],
    );
    assert.equal(client.status?.rotateAt, undefined, 'spec.rotation is for static tokens');
  }
  assert.equal(await scenario.metric('flipt_operator_next_jwt_expiry_timestamp_seconds', { target: 'default' }), Math.min(...expiries), 'the earliest JWT expiry, served for the alert');
  await scenario.quietPeriod();
  assert.deepEqual({ writes: scenario.configWrites(), restarts: scenario.restarts() }, enablement, 'no ConfigMap write and no restart for clients');
  assert.deepEqual(hidden(await scenario.credentials()), {}, 'no static credential for a JWT client');
});

test('the JWKS: public key material only, cacheable, answered 304 when unchanged, on every request path Flipt uses', async () => {
  const { jwks, response } = await fetchJwks(scenario.jwksUrl());
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(response.headers.get('cache-control'), 'public, max-age=1', 'cacheable for half the 2s a key is published before it signs');
  const etag = response.headers.get('etag');
  assert.ok(etag);
  const again = await fetch(scenario.jwksUrl(), { headers: { 'if-none-match': etag } });
  assert.equal(again.status, 304);
  const stale = await fetch(scenario.jwksUrl(), { headers: { 'if-none-match': '"an-older-set"' } });
  assert.equal(stale.status, 200, 'another ETag (the set before a key changed) gets the keys, not a 304');
  assert.deepEqual(((await stale.json()) as { keys: unknown[] }).keys, jwks.keys);
  assert.ok(jwks.keys.length >= 1);
  for (const key of jwks.keys) assert.deepEqual(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'], 'no private part');
  const keys = await scenario.cluster.clients.core.readNamespacedSecret({ name: 'flipt-client-operator-signing-keys', namespace: scenario.namespace });
  assert.equal(keys.metadata?.labels?.['app.kubernetes.io/managed-by'], 'flipt-client-operator');
  assert.deepEqual(Object.keys(keys.data ?? {}).sort(), jwks.keys.map((k) => k.kid!).sort(), 'the JWKS publishes exactly the stored keys');
});

test("forgeries are refused by the same check: tampered, expired, wrong audience, alg none, HS256, unknown kid", async () => {
  const { jwks } = await fetchJwks(scenario.jwksUrl());
  const jwt = await jwtOf(NAMES[1]!);
  assert.equal(await acceptedByFlipt(jwt, jwks, flipt), true);
  const [h, p, s] = jwt.split('.') as [string, string, string];
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  const kid = JSON.parse(Buffer.from(h, 'base64url').toString()).kid as string;
  const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, 'io.flipt.auth.fliptclient.namespace': 'kube-system' })).toString('base64url')}.${s}`;
  const none = new UnsecuredJWT(payload).encode();
  const hs256 = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid }).sign(new TextEncoder().encode(JSON.stringify(jwks.keys[0])));
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const unknownKid = await new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: 'not-published' }).sign(privateKey);
  const strangerUnderOurKid = await new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid }).sign(privateKey);
  for (const [what, forged] of Object.entries({ tampered, none, hs256, unknownKid, strangerUnderOurKid })) {
    assert.equal(await acceptedByFlipt(forged, jwks, flipt), false, `${what} is refused`);
  }
  assert.equal(await acceptedByFlipt(jwt, jwks, { issuer: ISSUER, audience: 'flipt:another-target' }), false, 'another target refuses it');
  assert.equal(await acceptedByFlipt(jwt, jwks, { issuer: 'someone-else', audience: AUDIENCE }), false, 'another issuer is refused');
  assert.equal(await acceptedByFlipt(jwt, jwks, flipt, new Date((payload.exp + 61) * 1000)), false, 'expired (past Flipt\'s leeway)');
  // The JWKS never serves a key that could verify the stranger's signature.
  const stranger = await exportJWK(privateKey);
  assert.ok(!jwks.keys.some((k) => k.x === stranger.x));
});

test('the exchange mints a fresh JWT for the bound client: METHOD_JWT, expiring no later than the service-account token', async () => {
  const { serviceAccountToken, answer } = await scenario.exchange<{ clientToken: string; authentication: { id: string; method: string; expiresAt: string; metadata: Record<string, string> } }>(APP, 'web-sa', 600, 15_000);
  const saExp = readJwt(serviceAccountToken)!.expiresAt;
  assert.equal(answer.authentication.method, 'METHOD_JWT', 'says the credential is a JWT: send it as `Authorization: JWT ...`');
  assert.notEqual(hidden(answer.clientToken), hidden(await jwtOf(NAMES[0]!)), 'a JWT of its own, not the Secret\'s');
  const { jwks } = await fetchJwks(scenario.jwksUrl());
  const payload = await verifyAsFlipt(answer.clientToken, jwks, flipt);
  assert.ok(payload.exp! * 1000 <= saExp, 'expires no later than the service-account token');
  assert.ok(payload.exp! - payload.iat! <= 600);
  assert.equal(answer.authentication.id, payload.jti);
  assert.equal(answer.authentication.expiresAt, new Date(payload.exp! * 1000).toISOString().replace('.000Z', 'Z'));
  assert.equal(payload['io.flipt.auth.k8s.namespace'], APP, "the caller's identity, under the names Flipt's kubernetes method uses");
  assert.equal(payload['io.flipt.auth.k8s.serviceaccount.name'], 'web-sa');
  assert.equal(payload['io.flipt.auth.fliptclient.name'], NAMES[0]);
  assert.equal(answer.authentication.metadata['io.flipt.auth.k8s.serviceaccount.name'], 'web-sa');
});

test('a metadata change re-issues the JWT with the new claims: still no write, no restart', async () => {
  const before = await jwtOf(NAMES[2]!);
  await patchFliptClientSpec(scenario.cluster.clients, APP, NAMES[2]!, { metadata: { team: 'moved' } });
  await waitFor(async () => (await jwtOf(NAMES[2]!)) !== before, 'a new JWT', 20_000);
  const { jwks } = await fetchJwks(scenario.jwksUrl());
  const payload = await verifyAsFlipt(await jwtOf(NAMES[2]!), jwks, flipt);
  assert.equal(payload['io.flipt.auth.fliptclient.metadata.team'], 'moved');
  assert.equal(payload['io.flipt.auth.fliptclient.metadata.index'], '2', 'a merge patch keeps the other key');
  await scenario.quietPeriod();
  assert.deepEqual({ writes: scenario.configWrites(), restarts: scenario.restarts() }, enablement);
});

test('a rotate request and a metadata change in one apply: one new JWT answers both, and the request is not answered again', async () => {
  const name = NAMES[1]!;
  const history = histories[1]!;
  const before = await jwtOf(name);
  await scenario.cluster.clients.custom.patchNamespacedCustomObject(
    { group: GROUP, version: VERSION, plural: PLURAL, namespace: APP, name, body: { metadata: { annotations: { [ROTATE_ANNOTATION]: 'leaked-1' } }, spec: { metadata: { team: 'rotated' } } } },
    mergePatch,
  );
  await waitFor(async () => (await get(name)).status?.lastRotateRequest === 'leaked-1', 'the request recorded', 20_000);
  await scenario.quietPeriod();
  const tokens = [...new Set(history.versions.map((v) => decoded(v).token!))];
  const after = tokens.slice(tokens.indexOf(before) + 1);
  assert.equal(after.length, 1, `one new JWT, not one per reason: ${after.length}`);
  assert.equal(hidden(await jwtOf(name)), hidden(after[0]));
  const { jwks } = await fetchJwks(scenario.jwksUrl());
  assert.equal((await verifyAsFlipt(after[0]!, jwks, flipt))['io.flipt.auth.fliptclient.metadata.team'], 'rotated');
});

test("deleting a FliptClient: its Secret goes with it (controller ownerReference); its last JWT stays valid until exp, no longer", async () => {
  const name = NAMES[5]!;
  const client = await get(name);
  const secret = await secretOf(name);
  const owner = secret.metadata?.ownerReferences?.find((r) => r.controller);
  assert.deepEqual([owner?.uid, owner?.kind, owner?.blockOwnerDeletion], [client.metadata.uid, 'FliptClient', true], 'garbage collection deletes the Secret with the FliptClient');
  const jwt = decoded(secret).token!;
  await deleteFliptClient(scenario.cluster.clients, APP, name);
  await waitFor(async () => {
    try {
      await get(name);
      return false;
    } catch {
      return true;
    }
  }, 'the FliptClient gone', 20_000);
  const { jwks } = await fetchJwks(scenario.jwksUrl());
  assert.equal(await acceptedByFlipt(jwt, jwks, flipt), true, 'nothing revokes a JWT: it stays valid until its exp');
  const exp = readJwt(jwt)!.expiresAt;
  assert.equal(await acceptedByFlipt(jwt, jwks, flipt, new Date(exp + 61_000)), false, 'and not a moment past exp (and leeway)');
  await scenario.quietPeriod();
  assert.deepEqual({ writes: scenario.configWrites(), restarts: scenario.restarts() }, enablement, 'deleting costs no write and no restart either');
});

test("a Secret the FliptClient does not own is never overwritten with a JWT: someone else's, or another FliptClient's", async () => {
  const { core } = scenario.cluster.clients;
  const mine = { token: Buffer.from('mine').toString('base64') };
  await core.createNamespacedSecret({ namespace: APP, body: { metadata: { name: 'taken-flipt' }, data: mine } });
  const othersSecret = `${NAMES[7]}-flipt`;
  const others = await secretOf(NAMES[7]!);
  await createFliptClient(scenario.cluster.clients, APP, 'taken');
  await core.createNamespacedServiceAccount({ namespace: APP, body: { metadata: { name: 'copycat-sa' } } });
  await createFliptClient(scenario.cluster.clients, APP, 'copycat', { secret: { name: othersSecret }, serviceAccounts: ['copycat-sa'] });
  for (const name of ['taken', 'copycat']) {
    await waitFor(async () => condition(await get(name), 'Ready')?.reason === 'SecretConflict', `${name} Ready reason SecretConflict`, 20_000);
    assert.match(condition(await get(name), 'Ready')!.message, /not owned by this FliptClient.*spec\.secret\.name/);
  }
  await scenario.quietPeriod();
  const taken = await core.readNamespacedSecret({ name: 'taken-flipt', namespace: APP });
  assert.deepEqual(hidden(taken.data), hidden(mine));
  assert.equal(taken.metadata?.ownerReferences, undefined);
  const after = await core.readNamespacedSecret({ name: othersSecret, namespace: APP });
  assert.deepEqual(hidden(after.data), hidden(others.data), `${NAMES[7]}'s Secret untouched`);
  assert.equal(after.metadata?.resourceVersion, others.metadata?.resourceVersion, `${NAMES[7]}'s Secret untouched`);
  for (const name of ['taken', 'copycat']) assert.equal((await get(name)).status?.credentialFingerprint, undefined, `no JWT recorded for ${name}`);
  // The exchange does not mint a JWT for copycat either, though the Secret it names holds one: it is not Ready.
  const answer = await scenario.exchangeUntil(APP, 'copycat-sa', (status, body) => status === 200 || body.includes('SecretConflict'), 'the exchange to say why', 15_000);
  assert.equal(answer.status, 503, withoutCredential(answer.body));
  assert.match(answer.body, /is not Ready \(SecretConflict: /);
});

test("a client Secret edited out of band is put back around the same JWT: keys restored, the stranger's key gone (an annotation kept), no new JWT", async () => {
  const name = NAMES[6]!;
  const before = await secretOf(name);
  const edited = { token: before.data!.token!, stranger: Buffer.from('x').toString('base64') };
  await scenario.cluster.clients.core.replaceNamespacedSecret({ name: `${name}-flipt`, namespace: APP, body: { ...before, data: edited } });
  await waitFor(async () => JSON.stringify((await secretOf(name)).data) === JSON.stringify(before.data), `${name}'s Secret put back`, 20_000);
  assert.equal((await get(name)).status?.credentialFingerprint, fingerprint(decoded(before).token!), 'the JWT of record is kept');

  // Only a key added, beside an annotation past what the cache keeps: the cached copy shows neither,
  // so only the Secret itself says there is something to put back, and what to keep.
  const note = 'n'.repeat(20_000);
  const current = await secretOf(name);
  const added = { ...current, metadata: { ...current.metadata, annotations: { ...current.metadata?.annotations, 'example.com/note': note } }, data: { ...current.data, stranger: Buffer.from('x').toString('base64') } };
  await scenario.cluster.clients.core.replaceNamespacedSecret({ name: `${name}-flipt`, namespace: APP, body: added });
  await waitFor(async () => JSON.stringify((await secretOf(name)).data) === JSON.stringify(before.data), `${name}'s stranger key removed`, 20_000);
  assert.equal((await secretOf(name)).metadata?.annotations?.['example.com/note'], note);
  assert.equal((await get(name)).status?.credentialFingerprint, fingerprint(decoded(before).token!), 'the JWT of record is kept');
});

test('the signing keys Secret deleted: new keys are published, and every client\'s JWT is re-signed with one of them within seconds, not at its refresh time', async () => {
  const live = NAMES.filter((n) => n !== NAMES[5]);
  const kidOf = async (name: string) => readJwt(await jwtOf(name))?.kid;
  const lostKids = new Set(await Promise.all(live.map(kidOf)));
  await scenario.cluster.clients.core.deleteNamespacedSecret({ name: SIGNING_KEYS_SECRET, namespace: scenario.namespace });
  // Flipt refuses a JWT whose key left the JWKS: waiting for each JWT's refresh would leave clients locked out.
  await waitFor(async () => {
    const served = new Set((await fetchJwks(scenario.jwksUrl())).jwks.keys.map((k) => k.kid));
    if ([...lostKids].some((kid) => served.has(kid))) return false;
    for (const name of live) if (!served.has(await kidOf(name))) return false;
    return true;
  }, 'every client holding a JWT of a published key, none of the lost keys served', 20_000, 250);
  for (const name of live) assert.equal(condition(await get(name), 'Ready')?.status, 'True', `${name} Ready`);
});

test('no JWT, token or private key in the logs, Events, statuses or ConfigMap', async () => {
  const credentials = new Set<string>();
  for (const h of histories) for (const v of h.versions) credentials.add(decoded(v).token!);
  for (const name of NAMES.filter((n) => n !== NAMES[5])) credentials.add(await jwtOf(name));
  for (const version of scenario.signingKeys.versions) {
    for (const stored of Object.values(decoded(version))) credentials.add((JSON.parse(stored) as { jwk: { d: string } }).jwk.d);
  }
  assert.ok(credentials.size > 20);
  const logs = scenario.allLogs();
  const events = JSON.stringify((await scenario.cluster.clients.events.listNamespacedEvent({ namespace: APP })).items);
  const statuses = JSON.stringify(await Promise.all(NAMES.filter((n) => n !== NAMES[5]).map(async (n) => (await get(n)).status)));
  const config = await scenario.fliptConfig();
  for (const credential of credentials) {
    for (const [where, text] of Object.entries({ logs, events, statuses, config })) assert.ok(!text.includes(credential), `a credential in the ${where}`);
  }
  assert.match(logs, /created a JWT signing key/, 'the key is logged by its public kid only');
  assert.ok(!events.includes('SecretRestored'), 'no JWT of its own was ever taken for a lost Secret');
});
