// Switching an existing target from static tokens to JWTs and back, against a real API server with the
// operator as a real process under deploy/'s RBAC: each way costs two Flipt restarts (the new kind
// beside the old, then the old removed after the overlap), and at every revision the API server
// recorded, every client Secret holds a credential the config Flipt runs accepts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { readJwt } from '../../src/vocabulary/client-jwt.ts';
import { isWellFormedToken, tokenIdFor } from '../../src/vocabulary/credentials.ts';
import { parseSigningKeys, type SigningKey } from '../../src/vocabulary/signing-keys.ts';
import { recordHistory, type ObjectHistory } from '../support/api-watch.ts';
import { waitFor } from '../support/cluster.ts';
import { assertSecretsAlwaysAccepted, latestRevision } from '../support/credential-invariant.ts';
import { verifyAsFlipt } from '../support/flipt-jwt.ts';
import { hidden } from '../support/hidden.ts';
import { assertValidFliptConfig } from '../support/flipt-schema.ts';
import { condition, createFliptClient, getFliptClient } from '../support/fliptclients.ts';
import { Scenario } from '../support/scenario.ts';

const APP = `jwt-switch-${Date.now().toString(36)}`;
const NAMES = ['a', 'b', 'c', 'd'];
let scenario: Scenario;
const clientSecrets: Array<ObjectHistory<V1Secret>> = [];
let from = 0;

const get = (name: string) => getFliptClient(scenario.cluster.clients, APP, name);
const histories = () => ({ configMaps: scenario.configMaps, credentialSecrets: scenario.credentialSecrets, deployments: scenario.deployments, clientSecrets, signingKeys: scenario.signingKeys });
const ourStaticIds = async () => Object.keys(await scenario.managedTokens()).filter((id) => id.startsWith(`${APP}_`));

before(async () => {
  // The exchange port serves the JWKS, so JWT mode needs it on. Rollouts take longer than a new key
  // waits to sign (2s), so a Secret switched before its rollout finished would show.
  scenario = await Scenario.start({ minInterval: '2s', deployRbac: {}, exchange: true, rolloutMs: 4000 });
  await scenario.createAppNamespace(APP);
  for (const name of NAMES) clientSecrets.push(await recordHistory<V1Secret>(scenario.cluster.kubeConfig, `/api/v1/namespaces/${APP}/secrets`, `${name}-flipt`));
  // A 5s overlap: how long the credential a client switched away from stays valid (default 10m).
  for (const name of NAMES) await createFliptClient(scenario.cluster.clients, APP, name, { rotation: { every: '24h', overlap: '5s' } });
  for (const name of NAMES) await waitFor(async () => condition(await get(name), 'Ready')?.status === 'True', `${name} Ready`, 60_000);
  await scenario.quietPeriod();
  from = latestRevision([scenario.configMaps, scenario.credentialSecrets, scenario.deployments, ...clientSecrets]);
});

after(async () => {
  for (const h of clientSecrets) h.stop();
  await scenario?.stop();
});

/** Every JWT any client Secret held verifies, with Flipt's rules, against the keys published when it was issued. */
async function assertEveryJwtVerifies(): Promise<number> {
  const keys = new Map<string, SigningKey>();
  for (const version of scenario.signingKeys.versions) {
    const data = Object.fromEntries(Object.entries(version.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    for (const key of parseSigningKeys(data)) keys.set(key.kid, key);
  }
  const jwks = { keys: [...keys.values()].map((k) => ({ kty: 'EC', crv: 'P-256', x: k.privateJwk.x, y: k.privateJwk.y, kid: k.kid, alg: 'ES256' })) };
  let verified = 0;
  for (const history of clientSecrets) {
    for (const version of history.versions) {
      const token = Buffer.from(version.data!.token!, 'base64').toString();
      const jwt = readJwt(token);
      if (!jwt) continue;
      await verifyAsFlipt(token, jwks, { issuer: 'flipt-client-operator', audience: 'flipt:default' }, new Date(jwt.issuedAt));
      verified++;
    }
  }
  return verified;
}

test('static tokens -> JWTs: the jwt method beside the tokens, every Secret switched, the tokens removed after the overlap; two restarts', async () => {
  const [restarts, writes] = [scenario.restarts(), scenario.configWrites()];
  await scenario.reconfigure((config) => (config.targets[0]!.credentialKind = 'jwt'));
  await waitFor(async () => {
    for (const name of NAMES) {
      const client = await get(name);
      if (client.status?.credentialKind !== 'jwt' || condition(client, 'Ready')?.status !== 'True') return false;
    }
    return (await ourStaticIds()).length === 0;
  }, 'every client on a JWT and the static tokens removed', 90_000, 250);
  await scenario.quietPeriod();
  assert.equal(scenario.restarts() - restarts, 2, 'one restart adds the jwt method, one removes the static tokens');
  assert.equal(scenario.configWrites() - writes, 2);
  const config = await scenario.fliptConfig();
  assertValidFliptConfig(config);
  assert.equal(parse(config).authentication.methods.jwt.enabled, true);
  assert.ok(parse(config).authentication.methods.token.storage.tokens['ci-pipeline'], 'the hand-written token stays');
  // Credentials no config refers to leave the credentials Secret once the rollout without them has finished.
  await waitFor(async () => Object.keys(await scenario.credentials()).length === 0, 'the credentials Secret to hold no token any more', 20_000);
  for (const name of NAMES) {
    const secret = await scenario.cluster.clients.core.readNamespacedSecret({ name: `${name}-flipt`, namespace: APP });
    assert.ok(/^JWT ey/.test(Buffer.from(secret.data!.authorization!, 'base64').toString()), `${name}'s authorization presents a JWT`);
  }
  const checked = assertSecretsAlwaysAccepted(histories(), from);
  assert.ok(checked > 10, `${checked} states checked`);
  assert.ok((await assertEveryJwtVerifies()) >= NAMES.length);
});

test('JWTs -> static tokens: tokens issued and registered beside the jwt method, every Secret switched, the jwt method removed after the overlap; two restarts', async () => {
  const [restarts, writes] = [scenario.restarts(), scenario.configWrites()];
  await scenario.reconfigure((config) => (config.targets[0]!.credentialKind = 'staticToken'));
  await waitFor(async () => {
    for (const name of NAMES) {
      const client = await get(name);
      if (client.status?.credentialKind !== 'staticToken' || condition(client, 'Ready')?.status !== 'True') return false;
    }
    return parse(await scenario.fliptConfig()).authentication.methods.jwt === undefined;
  }, 'every client on a static token and the jwt method removed', 90_000, 250);
  await scenario.quietPeriod();
  assert.equal(scenario.restarts() - restarts, 2, 'one restart registers the tokens, one removes the jwt method');
  assert.equal(scenario.configWrites() - writes, 2);
  const config = await scenario.fliptConfig();
  assertValidFliptConfig(config);
  const annotations = (await scenario.cluster.clients.core.readNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace })).metadata?.annotations ?? {};
  assert.equal(annotations['flipt.io/managed-jwt-method'], undefined, 'no record of a jwt method left');
  assert.deepEqual((await ourStaticIds()).sort(), NAMES.map((n) => tokenIdFor(APP, n)).sort());
  const credentials = await scenario.credentials();
  for (const name of NAMES) {
    const secret = await scenario.cluster.clients.core.readNamespacedSecret({ name: `${name}-flipt`, namespace: APP });
    const token = Buffer.from(secret.data!.token!, 'base64').toString();
    assert.ok(isWellFormedToken(token));
    assert.equal(hidden(credentials[tokenIdFor(APP, name)]), hidden(token));
    assert.equal(secret.data!.expiresAt, undefined, 'a static token says no expiry');
    const client = await get(name);
    assert.deepEqual([client.status?.expiresAt, client.status?.keyId, client.status?.refreshAt], [undefined, undefined, undefined]);
  }
  const checked = assertSecretsAlwaysAccepted(histories(), from);
  assert.ok(checked > 20, `${checked} states checked`);
  // Each Secret switched once, before its status named the token: nothing had to be restored, in either direction.
  const events = async () => (await scenario.cluster.clients.events.listNamespacedEvent({ namespace: APP })).items;
  const switched = async () => (await events()).filter((e) => e.reason === 'SwitchedToStaticToken').map((e) => e.regarding!.name!).sort();
  await waitFor(async () => (await switched()).length >= NAMES.length, 'a SwitchedToStaticToken Event for each client', 10_000);
  assert.deepEqual(await switched(), NAMES);
  assert.deepEqual((await events()).filter((e) => e.type === 'Warning').map((e) => `${e.regarding?.name}: ${e.reason} ${e.note}`), []);
});
