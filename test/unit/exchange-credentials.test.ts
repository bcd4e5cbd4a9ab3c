import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { answerFor } from '../../src/exchange/answer.ts';
import { credentialFromObjects, informerCredentialSource } from '../../src/exchange/credentials.ts';
import { ExchangeError, protoTimestamp } from '../../src/exchange/wire.ts';
import type { Informer } from '../../src/runtime/informer.ts';
import { JwtSigner } from '../../src/vocabulary/client-jwt.ts';
import type { SigningKey } from '../../src/vocabulary/signing-keys.ts';
import { exampleTarget } from '../support/target-fixture.ts';
import type { Condition, FliptClient } from '../../src/vocabulary/fliptclient.ts';

const TOKEN = 'a'.repeat(64);

function client(ready: Condition['status'] | undefined, status: FliptClient['status'] = {}, spec: Partial<FliptClient['spec']> = {}): FliptClient {
  return {
    apiVersion: 'flipt.io/v1alpha1',
    kind: 'FliptClient',
    metadata: { namespace: 'team', name: 'web', uid: 'uid-1', generation: 1 },
    spec: { target: 'default', serviceAccounts: ['app'], metadata: { env: 'prod' }, ...spec },
    status: {
      tokenId: 'team_web',
      issuedAt: '2030-01-01T00:00:00Z',
      ...(ready ? { conditions: [{ type: 'Ready', status: ready, reason: ready === 'True' ? 'Ready' : 'WaitingForRollout', message: 'm', lastTransitionTime: '2030-01-01T00:00:00Z' }] } : {}),
      ...status,
    },
  };
}

function secret(ownerUid = 'uid-1', token: string | null = TOKEN, controller = true): V1Secret {
  return {
    metadata: { name: 'web-flipt', namespace: 'team', ownerReferences: [{ apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', name: 'web', uid: ownerUid, controller }] },
    ...(token !== null ? { data: { token: Buffer.from(token).toString('base64') } } : {}),
  };
}

/** A key that signs from an hour before `now` to an hour after. */
async function signingKeyAround(now: number): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid: 'k', privateJwk: await exportJWK(privateKey), createdAt: now - 7_200_000, signsFrom: now - 3_600_000, signsUntil: now + 3_600_000, retireAt: now + 10_800_000 };
}

/** The Secret cache as the exchange reads it for a minted JWT, which needs no Secret. */
const noSecrets = { get: () => undefined } as unknown as Informer<V1Secret>;

test('a Ready client with its own Secret gives its token, id, issue time and metadata', () => {
  assert.deepEqual(credentialFromObjects(client('True'), secret()), {
    kind: 'staticToken',
    token: TOKEN,
    tokenId: 'team_web',
    ready: true,
    issuedAt: '2030-01-01T00:00:00Z',
    metadata: { env: 'prod', 'fliptclient-namespace': 'team', 'fliptclient-name': 'web' },
  });
});

test('not Ready, no Ready condition, being deleted: no token, and a reason', () => {
  const notReady = credentialFromObjects(client('False'), secret());
  assert.equal(notReady.ready, false);
  assert.equal(notReady.token, '');
  assert.match(notReady.reason!, /WaitingForRollout/);
  assert.match(credentialFromObjects(client(undefined), secret()).reason!, /no Ready condition/);
  const deleting = client('True');
  deleting.metadata.deletionTimestamp = new Date();
  assert.equal(credentialFromObjects(deleting, secret()).ready, false);
});

test('Ready written for an earlier spec gives nothing until the operator has reconciled the latest one', () => {
  const ready = client('True');
  const condition = { ...ready.status!.conditions![0]!, observedGeneration: 1 };
  const edited: FliptClient = { ...ready, metadata: { ...ready.metadata, generation: 2 }, spec: { ...ready.spec, target: 'other' }, status: { ...ready.status, conditions: [condition] } };
  const stale = credentialFromObjects(edited, secret());
  assert.deepEqual([stale.ready, stale.token, stale.reason], [false, '', 'the operator has not reconciled generation 2 of the FliptClient yet']);
  const reconciled = { ...edited, status: { ...edited.status, conditions: [{ ...condition, observedGeneration: 2 }] } };
  assert.equal(credentialFromObjects(reconciled, secret()).ready, true);
  // A condition that names no generation: the status's says how far the operator got.
  const { observedGeneration: _, ...unnamed } = condition;
  assert.equal(credentialFromObjects({ ...edited, status: { ...edited.status, observedGeneration: 1, conditions: [unnamed] } }, secret()).ready, false);
  assert.equal(credentialFromObjects({ ...edited, status: { ...edited.status, observedGeneration: 2, conditions: [unnamed] } }, secret()).ready, true);
});

test('a Secret holding a JWT whose exp no date can hold is no JWT to hand out, and no crash', async () => {
  const { privateKey } = await generateKeyPair('ES256');
  for (const exp of [1e300, Number.MAX_SAFE_INTEGER]) {
    const jwt = await new SignJWT({ exp }).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setIssuedAt(0).sign(privateKey);
    const credential = credentialFromObjects(client('True'), secret('uid-1', jwt));
    assert.deepEqual([credential.kind, credential.expiresAt], ['staticToken', undefined], String(exp));
  }
});

test('the Secret must exist, be controlled by this FliptClient, and hold a token', () => {
  assert.match(credentialFromObjects(client('True'), undefined).reason!, /not found/);
  assert.match(credentialFromObjects(client('True'), secret('someone-else')).reason!, /not owned/);
  assert.match(credentialFromObjects(client('True'), secret('uid-1', TOKEN, false)).reason!, /not owned/);
  // A Secret of that name someone wrote by hand, with no owner at all, is not handed out either.
  const unowned = secret();
  delete unowned.metadata!.ownerReferences;
  assert.match(credentialFromObjects(client('True'), unowned).reason!, /not owned/);
  assert.equal(credentialFromObjects(client('True'), unowned).token, '', 'no token');
  // The Secret named is the one the token was issued into (status.secretName), even after spec.secret.name changed.
  const moved = client('True', { secretName: 'web-old' }, { secret: { name: 'web-renamed' } });
  assert.match(credentialFromObjects(moved, secret('someone-else')).reason!, /Secret web-old is not owned/);
  assert.match(credentialFromObjects(client('True'), secret('uid-1', null)).reason!, /no token/);
  assert.match(credentialFromObjects(client('True'), secret('uid-1', '')).reason!, /no token/);
});

test('the token id falls back to <namespace>_<name>; a scheduled rotation sets expiresAt to rotateAt + overlap', () => {
  const c = client('True', { tokenId: undefined, rotateAt: '2030-02-01T00:00:00Z' }, { rotation: { every: '720h', overlap: '30m' } });
  const credential = credentialFromObjects(c, secret());
  assert.equal(credential.tokenId, 'team_web');
  assert.equal(credential.expiresAt, '2030-02-01T00:30:00.000Z');
  const defaultOverlap = credentialFromObjects(client('True', { rotateAt: '2030-02-01T00:00:00Z' }), secret());
  assert.equal(defaultOverlap.expiresAt, '2030-02-01T00:10:00.000Z');
});

test("timestamps are written the way protojson writes them", () => {
  assert.equal(protoTimestamp(Date.parse('2030-01-01T00:00:00Z')), '2030-01-01T00:00:00Z');
  assert.equal(protoTimestamp(Date.parse('2030-01-01T00:00:00.250Z')), '2030-01-01T00:00:00.250Z');
});

test('a Secret holding a JWT gives a JWT credential: its jti, its exp, the claims Flipt will see; the answer says METHOD_JWT', async () => {
  const { privateKey } = await generateKeyPair('ES256');
  const exp = Date.parse('2030-01-01T01:00:00Z') / 1000;
  const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setIssuedAt(exp - 3600).setExpirationTime(exp).setJti('the-jti').sign(privateKey);
  const credential = credentialFromObjects(client('True'), secret('uid-1', jwt));
  assert.equal(credential.kind, 'jwt');
  assert.equal(credential.token, jwt);
  assert.equal(credential.tokenId, 'the-jti');
  assert.equal(credential.expiresAt, '2030-01-01T01:00:00.000Z');
  assert.deepEqual(credential.metadata, { 'io.flipt.auth.fliptclient.namespace': 'team', 'io.flipt.auth.fliptclient.name': 'web', 'io.flipt.auth.fliptclient.metadata.env': 'prod' });
  const serviceAccount = { namespace: 'team', name: 'app' };
  const answer = answerFor({ serviceAccount, bound: { kind: 'bound', namespace: 'team', name: 'web', key: 'team/web' }, credential, tokenExpiresAtMs: undefined, nowMs: Date.parse('2030-01-01T00:30:00Z') });
  assert.equal(answer.authentication.method, 'METHOD_JWT', 'the caller sends it as `Authorization: JWT ...`');
  assert.equal(answer.authentication.expiresAt, '2030-01-01T01:00:00Z');
  const staticAnswer = answerFor({ serviceAccount, bound: { kind: 'bound', namespace: 'team', name: 'web', key: 'team/web' }, credential: credentialFromObjects(client('True'), secret()), tokenExpiresAtMs: undefined, nowMs: 0 });
  assert.equal(staticAnswer.authentication.method, 'METHOD_KUBERNETES', 'a static token is a Bearer token, as from Flipt\'s own method');
});

test('a JWT minted at the exchange: refused with 401 when the service-account token expires within a second, 503 while no key signs', async () => {
  const now = Date.parse('2030-01-01T00:30:00Z');
  const key = await signingKeyAround(now);
  let keys: SigningKey[] = [key];
  // The FliptClient cache as the exchange reads it: one client.
  const clients = { get: () => client('True') } as unknown as Informer<FliptClient>;
  const source = informerCredentialSource(clients, noSecrets, {
    targets: [exampleTarget({ credentialKind: 'jwt' })],
    signer: new JwtSigner(() => keys),
  });
  const caller = { namespace: 'team', name: 'app' };
  const fresh = await source.freshJwt!('team', 'web', caller, now + 60_000, now);
  assert.equal(fresh?.kind, 'jwt');
  assert.equal(fresh?.expiresAt, new Date(now + 60_000).toISOString(), 'expires with the service-account token');
  await assert.rejects(source.freshJwt!('team', 'web', caller, now + 500, now), (err: unknown) => err instanceof ExchangeError && err.status === 401 && /expires within a second/.test(err.message));
  keys = [];
  await assert.rejects(source.freshJwt!('team', 'web', caller, now + 60_000, now), (err: unknown) => err instanceof ExchangeError && err.status === 503 && /no signing key/.test(err.message));
});

test('a JWT is minted only for a target that serves the client: Ready written under a config that allowed its namespace signs nothing once it does not', async () => {
  const now = Date.parse('2030-01-01T00:30:00Z');
  const key = await signingKeyAround(now);
  const clients = { get: () => client('True') } as unknown as Informer<FliptClient>;
  const caller = { namespace: 'team', name: 'app' };
  const mint = (allowedNamespaces: string[]) =>
    informerCredentialSource(clients, noSecrets, { targets: [exampleTarget({ credentialKind: 'jwt', allowedNamespaces })], signer: new JwtSigner(() => [key]) }).freshJwt!('team', 'web', caller, now + 60_000, now);
  assert.equal((await mint(['team']))?.ready, true);
  const refused = await mint(['payments']);
  assert.deepEqual([refused?.ready, refused?.token, refused?.reason], [false, '', 'target "default" does not serve it']);
  assert.throws(
    () => answerFor({ serviceAccount: caller, bound: { kind: 'bound', namespace: 'team', name: 'web', key: 'team/web' }, credential: refused, tokenExpiresAtMs: undefined, nowMs: now }),
    (err: unknown) => err instanceof ExchangeError && err.status === 503,
  );
});

test("a minted JWT carries the caller's identity as the API server confirmed it; nothing is minted for a client of a static-token target or one the cache does not hold", async () => {
  const now = Date.parse('2030-01-01T00:30:00Z');
  const key = await signingKeyAround(now);
  const clients = { get: (name: string) => (name === 'web' ? client('True') : undefined) } as unknown as Informer<FliptClient>;
  const caller = { namespace: 'team', name: 'app', uid: 'sa-uid' };
  const source = (credentialKind: 'jwt' | 'staticToken') =>
    informerCredentialSource(clients, noSecrets, { targets: [exampleTarget({ credentialKind })], signer: new JwtSigner(() => [key]) });

  const fresh = await source('jwt').freshJwt!('team', 'web', caller, now + 60_000, now);
  const claims = decodeJwt(fresh!.token);
  assert.equal(claims['io.flipt.auth.k8s.namespace'], 'team');
  assert.equal(claims['io.flipt.auth.k8s.serviceaccount.name'], 'app');
  assert.equal(claims['io.flipt.auth.k8s.serviceaccount.uid'], 'sa-uid');
  assert.equal(claims['io.flipt.auth.fliptclient.name'], 'web', "beside the client's own claims");

  // A target switched back to static tokens: the client's Secret may still hold a JWT, but no new one is signed.
  assert.equal(await source('staticToken').freshJwt!('team', 'web', caller, now + 60_000, now), undefined);
  assert.equal(await source('jwt').freshJwt!('team', 'gone', caller, now + 60_000, now), undefined);
  assert.equal(source('jwt').credentialFor('team', 'gone'), undefined, 'a FliptClient the cache does not hold has no credential, not a credential that is not Ready');
});
