// A FliptClient's JWT: its claims (what Flipt copies into request metadata), signing with the key that
// signs now, the expiry caps, and the check Flipt applies: every forgery is refused by the same check
// that accepts the real one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, importJWK } from 'jose';
import { JwtSigner, clientClaims, readJwt, refreshAtOf, signedByPublishedKey, subjectFor } from '../../src/vocabulary/client-jwt.ts';
import type { FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { jwksOf, latestExpiryOf, type SigningKey } from '../../src/vocabulary/signing-keys.ts';
import { acceptedByFlipt, verifyAsFlipt } from '../support/flipt-jwt.ts';
import { exampleTarget } from '../support/target-fixture.ts';
import { tamperedSignature } from '../support/tamper.ts';
import { unsignedJwt } from '../support/unsigned-jwt.ts';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const H = 3_600_000;
const settings = exampleTarget().jwt;
const flipt = { issuer: settings.issuer, audience: settings.audience };
const client: FliptClient = {
  apiVersion: 'flipt.io/v1alpha1',
  kind: 'FliptClient',
  metadata: { name: 'checkout', namespace: 'team-a' },
  spec: { metadata: { team: 'payments', 'cost-center': '42' } },
};

async function signingKey(kid: string, times: Partial<SigningKey> = {}): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid, privateJwk: await exportJWK(privateKey), createdAt: T0 - 4 * H, signsFrom: T0 - 3 * H, signsUntil: T0 + 24 * H, retireAt: T0 + 26 * H, ...times };
}

test('claims: the client\'s namespace, name and metadata under io.flipt.auth.fliptclient.*, plain strings only', () => {
  assert.deepEqual(clientClaims(client), {
    'io.flipt.auth.fliptclient.namespace': 'team-a',
    'io.flipt.auth.fliptclient.name': 'checkout',
    'io.flipt.auth.fliptclient.metadata.team': 'payments',
    'io.flipt.auth.fliptclient.metadata.cost-center': '42',
  });
  // A metadata key can never produce the name of an identity claim: keys have no '.', so they stay under "metadata.".
  const tricky: FliptClient = { ...client, spec: { metadata: { namespace: 'other', name: 'other' } } };
  assert.equal(clientClaims(tricky)['io.flipt.auth.fliptclient.namespace'], 'team-a');
  assert.equal(clientClaims(tricky)['io.flipt.auth.fliptclient.metadata.namespace'], 'other');
});

test('a signed JWT carries iss, aud, sub, iat, nbf, exp, jti and the key\'s kid, and Flipt\'s check accepts it', async () => {
  const key = await signingKey('k1');
  const signer = new JwtSigner(() => [key]);
  const issued = (await signer.sign(settings, subjectFor('team-a', 'checkout'), clientClaims(client), T0 + 123))!;
  const header = JSON.parse(Buffer.from(issued.jwt.split('.')[0]!, 'base64url').toString());
  assert.deepEqual(header, { alg: 'ES256', kid: 'k1', typ: 'JWT' });
  const payload = await verifyAsFlipt(issued.jwt, jwksOf([key], T0), flipt, new Date(T0));
  assert.equal(payload.iss, settings.issuer);
  assert.equal(payload.aud, settings.audience);
  assert.equal(payload.sub, 'fliptclient:team-a:checkout');
  assert.equal(payload.iat, T0 / 1000);
  assert.equal(payload.nbf, T0 / 1000);
  assert.equal(payload.exp, T0 / 1000 + 3600, 'the target\'s lifetime (1h)');
  assert.match(String(payload.jti), /^[\w-]{22}$/);
  assert.equal(payload['io.flipt.auth.fliptclient.metadata.team'], 'payments');
  assert.deepEqual({ ...issued, jwt: '' }, { jwt: '', kid: 'k1', jti: payload.jti, issuedAt: T0, expiresAt: T0 + H });
  const again = (await signer.sign(settings, 'x', {}, T0))!;
  assert.notEqual(again.jti, issued.jti, 'every JWT has its own id');
});

test('tampered, expired, wrong-audience, alg none, HS256 and unknown-kid tokens are refused by the same check', async () => {
  const key = await signingKey('k1');
  const jwks = jwksOf([key], T0);
  const signer = new JwtSigner(() => [key]);
  const good = (await signer.sign(settings, 'sub', clientClaims(client), T0))!.jwt;
  assert.equal(await acceptedByFlipt(good, jwks, flipt, new Date(T0)), true);

  const [h, p, s] = good.split('.') as [string, string, string];
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  const tampered = `${h}.${Buffer.from(JSON.stringify({ ...payload, 'io.flipt.auth.fliptclient.namespace': 'kube-system' })).toString('base64url')}.${s}`;
  const expired = (await signer.sign(settings, 'sub', {}, T0 - 2 * H))!.jwt;
  const otherTarget = (await signer.sign({ ...settings, audience: 'flipt:other' }, 'sub', {}, T0))!.jwt;
  const otherIssuer = (await signer.sign({ ...settings, issuer: 'someone-else' }, 'sub', {}, T0))!.jwt;
  const none = new UnsecuredJWT(payload).encode();
  const hs256 = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(JSON.stringify(jwks.keys[0])));
  const stranger = await signingKey('k1-not-ours');
  const unknownKid = (await new JwtSigner(() => [stranger]).sign(settings, 'sub', {}, T0))!.jwt;
  const strangerUnderOurKid = await new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(await importJWK(stranger.privateJwk, 'ES256'));
  for (const [what, jwt] of Object.entries({ tampered, expired, otherTarget, otherIssuer, none, hs256, unknownKid, strangerUnderOurKid })) {
    assert.equal(await acceptedByFlipt(jwt, jwks, flipt, new Date(T0)), false, `${what} is refused`);
  }
  // Flipt's leeway: a minute past exp is still accepted, two are not (the reason keys outlive their JWTs by it).
  assert.equal(await acceptedByFlipt(good, jwks, flipt, new Date(T0 + H + 59_000)), true);
  assert.equal(await acceptedByFlipt(good, jwks, flipt, new Date(T0 + H + 61_000)), false);
});

test('exp is capped by the caller (a service-account token) and by the key\'s latest expiry; no key, no JWT', async () => {
  const key = await signingKey('k1', { signsUntil: T0 + 10 * 60_000, retireAt: T0 + 10 * 60_000 + H + 60_000 });
  const signer = new JwtSigner(() => [key]);
  const capped = (await signer.sign(settings, 's', {}, T0, T0 + 600_000))!;
  assert.equal(capped.expiresAt, T0 + 600_000, 'no later than the service-account token');
  const late = (await signer.sign(settings, 's', {}, T0 + 50 * 60_000))!;
  assert.equal(late.expiresAt, latestExpiryOf(key), 'a JWT never outlives its key');
  assert.equal(await new JwtSigner(() => []).sign(settings, 's', {}, T0), undefined);
  const notYet = await signingKey('k2', { signsFrom: T0 + 1 });
  assert.equal(await new JwtSigner(() => [notYet]).sign(settings, 's', {}, T0), undefined, 'a key that is not yet published long enough signs nothing');
});

test('readJwt reads without verifying; refreshAt is two thirds of the lifetime', async () => {
  const key = await signingKey('k1');
  const issued = (await new JwtSigner(() => [key]).sign(settings, 'sub', clientClaims(client), T0))!;
  const view = readJwt(issued.jwt)!;
  assert.deepEqual([view.kid, view.issuer, view.audiences, view.subject, view.issuedAt, view.expiresAt], ['k1', settings.issuer, [settings.audience], 'sub', T0, T0 + H]);
  assert.equal(refreshAtOf(view), T0 + 40 * 60_000);
  for (const notAJwt of [undefined, '', 'a'.repeat(64), 'a.b.c', 'eyJhbGciOiJub25lIn0.e30.']) assert.equal(readJwt(notAJwt), undefined, String(notAJwt));
  // Times a Date can hold, up to its last instant (8.64e15 ms); one second later is no time at all.
  const unsigned = (exp: number) => unsignedJwt({ alg: 'ES256' }, { iat: 0, exp });
  assert.equal(readJwt(unsigned(8.64e12))?.expiresAt, 8.64e15);
  assert.equal(readJwt(unsigned(8.64e12 + 1)), undefined);
  assert.equal(readJwt(unsignedJwt({ alg: 'ES256' }, { exp: 10 })), undefined, 'no iat: no lifetime to refresh within');
  assert.equal(readJwt(unsigned(8.64e12 + 1).replace('"iat":0', '"iat":1e309')), undefined);
});

test('a key that failed to import is tried again at the next signature, not remembered as failed', async () => {
  const key = await signingKey('k1');
  let current: SigningKey = { ...key, privateJwk: { ...key.privateJwk, d: 'not-a-key' } };
  const signer = new JwtSigner(() => [current]);
  await assert.rejects(signer.sign(settings, 'sub', {}, T0));
  // The Secret mended (the same kid: the public key is the same).
  current = key;
  const issued = await signer.sign(settings, 'sub', {}, T0);
  assert.ok(issued && (await acceptedByFlipt(issued.jwt, jwksOf([key], T0), flipt, new Date(T0 + 1_000))));
});

test('signedByPublishedKey: true for a JWT a published key signed, whatever its claims say; false for an edited one, a stranger\'s, or a retired key\'s', async () => {
  const key = await signingKey('k1');
  const jwt = (await new JwtSigner(() => [key]).sign(settings, 'sub', {}, T0))!.jwt;
  assert.equal(await signedByPublishedKey(jwt, [key], T0), true);
  assert.equal(await signedByPublishedKey(jwt, [key], T0 + 2 * H), true, 'expiry is not its concern');
  assert.equal(await signedByPublishedKey(tamperedSignature(jwt), [key], T0), false);
  assert.equal(await signedByPublishedKey(jwt, [await signingKey('k1')], T0), false, 'another key under the same kid');
  assert.equal(await signedByPublishedKey(jwt, [{ ...key, retireAt: T0 }], T0), false, 'a retired key is not published');
  assert.equal(await signedByPublishedKey('a'.repeat(64), [key], T0), false);
});

test('with a predecessor still published, the JWT names the kid of the key that signed it, and Flipt accepts it', async () => {
  const old = await signingKey('k-old', { signsUntil: T0 - H, retireAt: T0 + 2 * H });
  const current = await signingKey('k-new', { createdAt: T0 - 2 * H, signsFrom: T0 - H });
  const issued = (await new JwtSigner(() => [old, current]).sign(settings, 'sub', {}, T0))!;
  assert.equal(issued.kid, 'k-new');
  assert.equal(readJwt(issued.jwt)!.kid, 'k-new');
  assert.equal(await acceptedByFlipt(issued.jwt, jwksOf([old, current], T0), flipt, new Date(T0)), true);
});
