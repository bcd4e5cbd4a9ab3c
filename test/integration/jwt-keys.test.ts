// Signing-key rotation with two replicas (two operator processes, one leading), against a real API
// server: a new key is served by both replicas' JWKS before any JWT names it, and from the moment a JWT
// with a new kid exists both serve it (asserted at every sample); nothing is signed with a key before
// publishAhead has passed, neither the Secret's JWTs nor those both replicas' exchanges mint all along;
// JWTs signed before and after a rotation both verify during the overlap; once the old key is retired
// its JWTs no longer verify.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { V1Secret } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { decodeSecretData, secretValue } from '../../src/kube/secret-data.ts';
import { readJwt } from '../../src/vocabulary/client-jwt.ts';
import { fingerprint } from '../../src/vocabulary/credentials.ts';
import type { FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { FLIPT_CLOCK_SKEW_LEEWAY_MS } from '../../src/vocabulary/signing-keys.ts';
import { recordHistory, type ObjectHistory } from '../support/api-watch.ts';
import { waitFor } from '../support/cluster.ts';
import { acceptedByFlipt, fetchJwks } from '../support/flipt-jwt.ts';
import { condition, createFliptClient, getFliptClient } from '../support/fliptclients.ts';
import { startOperator, writeOperatorConfig, type OperatorProcess } from '../support/operator-process.ts';
import { Scenario } from '../support/scenario.ts';

const APP = `jwt-keys-${Date.now().toString(36)}`;
const flipt = { issuer: 'flipt-client-operator', audience: 'flipt:default' };
// Keys sign for 12 s and are published 3 s ahead; JWTs live 10 s (refreshed every ~7 s); a key is
// retired 10 s + Flipt's 60 s leeway after it stops signing.
let scenario: Scenario;
let second: OperatorProcess;
let secondJwks: string;
let exchangePort: number;
let secret: ObjectHistory<V1Secret>;

interface Sample {
  at: number;
  first: string[];
  second: string[];
}
const samples: Sample[] = [];
/** JWTs the two replicas' exchanges minted, with when the answer arrived. */
const minted: Array<{ jwt: string; seenAt: number }> = [];
let sampling = true;
let sampler: Promise<void>;
let exchanger: Promise<void>;

const kidsOf = async (url: string): Promise<string[]> => (await fetchJwks(url)).jwks.keys.map((k) => k.kid!).sort();

before(async () => {
  scenario = await Scenario.start({ credentialKind: 'jwt', minInterval: '1s', jwt: { lifetime: '10s', rotateEvery: '12s', publishAhead: '3s' } });
  // A second replica: the same config on its own ports; it waits for the lease, and serves the JWKS and the exchange meanwhile.
  const { health: _health, metrics: _metrics, exchange: { port: _port, ...exchange }, ...config } = parse(readFileSync(scenario.configPath, 'utf8'));
  const { path, ports } = writeOperatorConfig({ ...config, exchange });
  second = startOperator(path, scenario.operatorKubeconfig);
  secondJwks = `http://127.0.0.1:${ports.exchange}/.well-known/jwks.json`;
  exchangePort = ports.exchange;
  await scenario.createAppNamespace(APP);
  secret = await recordHistory<V1Secret>(scenario.cluster.kubeConfig, `/api/v1/namespaces/${APP}/secrets`, 'web-flipt');
  await waitFor(async () => (await fetch(secondJwks)).status === 200 && (await fetch(scenario.jwksUrl())).status === 200, 'both replicas serving the JWKS', 30_000);
  sampler = (async () => {
    while (sampling) {
      const at = Date.now();
      const [first, other] = await Promise.all([kidsOf(scenario.jwksUrl()), kidsOf(secondJwks)]);
      samples.push({ at, first, second: other });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await scenario.cluster.clients.core.createNamespacedServiceAccount({ namespace: APP, body: { metadata: { name: 'web-sa' } } });
  await createFliptClient(scenario.cluster.clients, APP, 'web', { serviceAccounts: ['web-sa'] });
  await waitFor(async () => condition(await getFliptClient(scenario.cluster.clients, APP, 'web'), 'Ready')?.status === 'True', 'web Ready', 60_000);
  const request = await scenario.cluster.clients.core.createNamespacedServiceAccountToken({
    name: 'web-sa',
    namespace: APP,
    body: { spec: { audiences: ['flipt-client-operator'], expirationSeconds: 3600 } },
  });
  const body = JSON.stringify({ service_account_token: request.status!.token });
  const exchanges = [`http://127.0.0.1:${scenario.ports.exchange}`, `http://127.0.0.1:${exchangePort}`];
  exchanger = (async () => {
    for (let i = 0; sampling; i++) {
      const res = await fetch(`${exchanges[i % 2]}/auth/v1/method/kubernetes/serviceaccount`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      if (res.status === 200) minted.push({ jwt: ((await res.json()) as { clientToken: string }).clientToken, seenAt: Date.now() });
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
});

after(async () => {
  sampling = false;
  await sampler;
  await exchanger;
  secret?.stop();
  await second?.stop();
  await scenario?.stop();
});

/** The JWTs the client Secret held, in order, with when each was first seen. */
function jwts(): Array<{ jwt: string; kid: string; seenAt: number; expiresAt: number }> {
  return secret.versions.map((v) => {
    const jwt = secretValue(v, 'token')!;
    const view = readJwt(jwt)!;
    return { jwt, kid: view.kid!, seenAt: secret.receivedAt(v), expiresAt: view.expiresAt };
  });
}

/** Every JWT seen: the Secret's and the exchanges'. */
function everyJwt(): Array<{ jwt: string; kid: string; seenAt: number; issuedAt: number; expiresAt: number }> {
  return [...jwts(), ...minted.map((m) => ({ ...m, kid: readJwt(m.jwt)!.kid! }))].map((j) => ({ ...j, issuedAt: readJwt(j.jwt)!.issuedAt, expiresAt: readJwt(j.jwt)!.expiresAt }));
}

/** Every key the Secret ever held, by kid: when it was created and from when it may sign. */
function keyTimes(): Map<string, { createdAt: number; signsFrom: number }> {
  const times = new Map<string, { createdAt: number; signsFrom: number }>();
  for (const version of scenario.signingKeys.versions) {
    for (const [kid, stored] of Object.entries(decodeSecretData(version.data))) {
      const key = JSON.parse(stored) as { createdAt: string; signsFrom: string };
      times.set(kid, { createdAt: Date.parse(key.createdAt), signsFrom: Date.parse(key.signsFrom) });
    }
  }
  return times;
}

test('rotation: JWTs of the old and new key both verify during the overlap; every kid in use is served by both replicas at every sample', async () => {
  await waitFor(() => new Set(jwts().map((j) => j.kid)).size >= 2, 'a JWT signed by a second key', 60_000, 200);
  const all = jwts();
  const [oldKid, newKid] = [...new Set(all.map((j) => j.kid))] as [string, string];
  const before = all.filter((j) => j.kid === oldKid).at(-1)!;
  const afterRotation = all.find((j) => j.kid === newKid)!;
  const [first, other] = await Promise.all([fetchJwks(scenario.jwksUrl()), fetchJwks(secondJwks)]);
  for (const jwks of [first.jwks, other.jwks]) {
    const now = new Date(Math.min(before.expiresAt, Date.now()) - 1000);
    assert.equal(await acceptedByFlipt(before.jwt, jwks, flipt, now), true, 'the JWT signed before the rotation');
    assert.equal(await acceptedByFlipt(afterRotation.jwt, jwks, flipt), true, 'the JWT signed after it');
  }
  // Published ahead: each replica served the new key before the first JWT naming it appeared.
  const firstWithNewKid = Math.min(...everyJwt().filter((j) => j.kid === newKid).map((j) => j.seenAt));
  for (const replica of ['first', 'second'] as const) {
    const firstServed = samples.find((s) => s[replica].includes(newKid))?.at;
    assert.ok(firstServed !== undefined && firstServed < firstWithNewKid, `${replica} replica served ${newKid} before a JWT named it`);
  }
  assertNothingSignedBeforePublishAhead();
  assertEveryKidInUseServed();
  // The status names the key that signed the JWT the Secret holds (both keys are in the signing-keys Secret now).
  let view: { kid?: string; fingerprint: string; status?: FliptClient['status'] } | undefined;
  await waitFor(async () => {
    const token = secretValue(await scenario.cluster.clients.core.readNamespacedSecret({ name: 'web-flipt', namespace: APP }), 'token')!;
    view = { kid: readJwt(token)!.kid, fingerprint: fingerprint(token), status: (await getFliptClient(scenario.cluster.clients, APP, 'web')).status };
    return view.status?.credentialFingerprint === view.fingerprint && view.kid === newKid;
  }, 'the status to record the JWT of the new key', 20_000);
  assert.equal(view!.status?.keyId, newKid);
});

test('after the old key is retired its JWTs no longer verify; the replicas agree all along; the Secret\'s JWT is replaced at two thirds of its lifetime, never after it expired', async () => {
  const oldest = jwts()[0]!;
  const keys = () => scenario.signingKeys.versions.at(-1)!;
  const retireAt = Date.parse(JSON.parse(secretValue(keys(), oldest.kid)!).retireAt);
  assert.ok(retireAt - oldest.expiresAt >= FLIPT_CLOCK_SKEW_LEEWAY_MS, 'the key outlives every JWT it signed by Flipt\'s leeway');
  await waitFor(async () => !(await kidsOf(scenario.jwksUrl())).includes(oldest.kid) && !(await kidsOf(secondJwks)).includes(oldest.kid), 'the old key retired on both replicas', retireAt - Date.now() + 20_000, 250);
  assert.ok(Date.now() >= retireAt - 1000, 'not before its time');
  for (const url of [scenario.jwksUrl(), secondJwks]) {
    const { jwks } = await fetchJwks(url);
    // Even on a clock that still found it unexpired, the JWT no longer verifies: no published key has its kid.
    assert.equal(await acceptedByFlipt(oldest.jwt, jwks, flipt, new Date(oldest.expiresAt - 5000)), false);
    const latest = jwts().at(-1)!;
    assert.equal(await acceptedByFlipt(latest.jwt, jwks, flipt), true, 'the current JWT does');
  }
  // The JWKS stops serving a key at its retireAt by the clock; the leader deletes it from the Secret on its
  // requeue for that time, which this test's watch may see a moment later.
  await waitFor(() => !keys().data?.[oldest.kid], 'the old key deleted from the Secret', 5_000);
  const deletion = scenario.signingKeys.versions.find((v) => !v.data?.[oldest.kid])!;
  assert.ok(scenario.signingKeys.receivedAt(deletion) >= retireAt - 1000, 'and not deleted before its time');
  assertNothingSignedBeforePublishAhead();
  assertEveryKidInUseServed();
  // A JWT lives 10 s and is replaced at two thirds of that (a requeue at refreshAt, not a poll): the
  // Secret never held one past its expiry, and never replaced one early.
  const held = jwts();
  for (const [i, j] of held.entries()) {
    const replacedAt = held[i + 1]?.seenAt ?? Date.now();
    assert.ok(replacedAt < j.expiresAt, `JWT ${i} was replaced ${(replacedAt - j.expiresAt) / 1000}s after it expired`);
    const issuedAt = readJwt(j.jwt)!.issuedAt;
    if (held[i + 1]) assert.ok(replacedAt >= issuedAt + ((j.expiresAt - issuedAt) * 2) / 3, `JWT ${i} was replaced before two thirds of its lifetime`);
  }
  assert.ok(held.length >= 8, `${held.length} JWTs over the run`);
  const events = (await scenario.cluster.clients.events.listNamespacedEvent({ namespace: APP })).items;
  assert.deepEqual(events.filter((e) => e.reason === 'SecretRestored').map((e) => e.note), [], 'the operator never took its own fresh JWT for a lost Secret');
});

/** No JWT, from the leader's Secret writes or either replica's exchange, was signed by a key published less than publishAhead (3s) before. */
function assertNothingSignedBeforePublishAhead(): void {
  const keys = keyTimes();
  const all = everyJwt();
  assert.ok(minted.length > 20, `${minted.length} JWTs minted by the exchanges`);
  for (const { kid, issuedAt } of all) {
    const key = keys.get(kid);
    assert.ok(key, `a JWT names ${kid}, a key the Secret never held`);
    assert.ok(key.signsFrom - key.createdAt >= 3000, 'a key signs from publishAhead after it was created');
    // iat is in whole seconds, rounded down.
    assert.ok(issuedAt >= key.signsFrom - 999, `a JWT was signed with ${kid} ${(key.signsFrom - issuedAt) / 1000}s before it was published long enough`);
  }
}

/** From the moment a JWT naming a kid was seen until it expires, every sample of both replicas serves the kid. */
function assertEveryKidInUseServed(): void {
  const held = everyJwt();
  assert.ok(samples.length > 50, `${samples.length} samples`);
  for (const { kid, seenAt, expiresAt } of held) {
    for (const sample of samples.filter((s) => s.at >= seenAt && s.at <= expiresAt)) {
      assert.ok(sample.first.includes(kid) && sample.second.includes(kid), `at ${new Date(sample.at).toISOString()} a JWT with kid ${kid} exists, and replicas serve ${JSON.stringify(sample)}`);
    }
  }
}

test('one replica leads and writes the keys; both serve the same JWKS', async () => {
  const leaders = [scenario.operator.output(), second.output()].filter((out) => out.includes('created a JWT signing key'));
  assert.equal(leaders.length, 1, 'only the leader creates keys');
  const disagreements = samples.filter((s) => JSON.stringify(s.first) !== JSON.stringify(s.second));
  // A new or retired key reaches the two caches a few milliseconds apart; a sample may fall between.
  assert.ok(disagreements.length <= samples.length / 20, `${disagreements.length} of ${samples.length} samples differ`);
  process.stdout.write(`# JWKS of two replicas sampled ${samples.length} times: ${disagreements.length} samples differed (a key created or retired between the two requests)\n`);
});
