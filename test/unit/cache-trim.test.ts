// What the caches keep of client Secrets and FliptClients: everything the operator reads, and of a
// Secret whose size its creator chose (the client-Secret watch selects on labels anyone may set) no
// more than a bounded part.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair } from 'jose';
import type { V1Secret } from '@kubernetes/client-node';
import { desiredClientSecret } from '../../src/fliptclient/decisions.ts';
import { CLIENT_SECRET_KEYS, MAX_CACHED_METADATA_CHARS, MAX_CACHED_VALUE_CHARS, isPartialCopy, trimClientSecret, trimFliptClient } from '../../src/vocabulary/cache-trim.ts';
import { JwtSigner, clientClaims, subjectFor } from '../../src/vocabulary/client-jwt.ts';
import { ownedBy, type FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { exampleTarget } from '../support/target-fixture.ts';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const token = 'a'.repeat(64);
// The most the CRD lets a client put into its JWT: 32 metadata entries, 63-character keys, 256-character values.
const largest: FliptClient = {
  apiVersion: 'flipt.io/v1alpha1',
  kind: 'FliptClient',
  metadata: { name: 'checkout', namespace: 'team-a', uid: 'uid-checkout' },
  spec: {
    metadata: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`${String(i).padStart(2, '0')}${'k'.repeat(61)}`, 'v'.repeat(256)])),
    secret: { labels: { team: 'payments' }, annotations: { 'reloader.stakater.com/match': 'true' } },
  },
};
const url = { url: 'http://flipt.flipt.svc:8080' };

/** As the watch delivers it: a fresh copy, with fields the API server adds. */
function delivered(secret: V1Secret, extra: Partial<V1Secret['metadata']> = {}): V1Secret {
  const copy = structuredClone(secret);
  copy.metadata = { ...copy.metadata, uid: 'uid-secret', resourceVersion: '7', managedFields: [{ manager: 'operator' }], ...extra };
  return copy;
}

async function largestJwt(): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const key = { kid: 'k1', privateJwk: await exportJWK(privateKey), createdAt: T0 - 1, signsFrom: T0 - 1, signsUntil: T0 + 3_600_000, retireAt: T0 + 7_200_000 };
  const signer = new JwtSigner(() => [key]);
  return (await signer.sign(exampleTarget().jwt, subjectFor('team-a', 'checkout'), clientClaims(largest), T0))!.jwt;
}

test('a client Secret as the operator writes it, static or the largest JWT, is cached whole', async () => {
  const jwt = await largestJwt();
  for (const written of [
    desiredClientSecret(largest, 'checkout-flipt', token, exampleTarget(url)),
    desiredClientSecret(largest, 'checkout-flipt', jwt, exampleTarget(url), T0 + 3_600_000),
  ]) {
    const cached = delivered(written);
    trimClientSecret(cached);
    assert.deepEqual(cached.data, written.data);
    assert.deepEqual(cached.metadata!.labels, written.metadata!.labels);
    assert.deepEqual(cached.metadata!.annotations, written.metadata!.annotations);
    assert.deepEqual(cached.metadata!.ownerReferences, written.metadata!.ownerReferences);
    assert.equal(cached.metadata!.managedFields, undefined);
    assert.equal(isPartialCopy(cached), false);
    for (const key of Object.keys(written.data!)) assert.ok(CLIENT_SECRET_KEYS.includes(key), key);
  }
  const jwtSecret = desiredClientSecret(largest, 'checkout-flipt', jwt, exampleTarget(url), T0 + 3_600_000);
  const longest = Math.max(...Object.values(jwtSecret.data!).map((v) => v.length));
  assert.ok(longest <= MAX_CACHED_VALUE_CHARS * 0.8, `the largest JWT's value (${longest} characters) keeps a margin under the bound`);
});

test('a labelled Secret no FliptClient controls keeps neither data nor metadata beyond what says whose it is', () => {
  const written = desiredClientSecret(largest, 'checkout-flipt', token, exampleTarget());
  const huge = 'x'.repeat(1_000_000);
  const foreign: V1Secret = {
    metadata: {
      name: 'bait',
      namespace: 'team-b',
      labels: { ...written.metadata!.labels, filler: 'y'.repeat(63) },
      annotations: { note: huge },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'checkout', uid: 'uid-deploy', controller: true }],
    },
    data: { token: Buffer.from(token).toString('base64'), blob: huge },
  };
  const otherName = structuredClone(written);
  otherName.metadata!.ownerReferences![0]!.name = 'someone-else';
  const noOwner = structuredClone(written);
  noOwner.metadata!.ownerReferences = undefined;
  // A FliptClient of another API group, named as the label says.
  const otherGroup = structuredClone(written);
  otherGroup.metadata!.ownerReferences![0]!.apiVersion = 'flipt.example.com/v1';
  for (const secret of [foreign, otherName, noOwner, otherGroup]) {
    const cached = delivered(secret);
    trimClientSecret(cached);
    assert.equal(cached.data, undefined);
    assert.deepEqual(cached.metadata, {
      name: secret.metadata!.name,
      namespace: secret.metadata!.namespace,
      uid: 'uid-secret',
      resourceVersion: '7',
      labels: { 'app.kubernetes.io/managed-by': 'flipt-client-operator', 'flipt.io/client': 'checkout' },
      ownerReferences: secret.metadata!.ownerReferences?.slice(0, 1),
    });
    assert.ok(JSON.stringify(cached).length < 1_000);
    assert.equal(isPartialCopy(cached), true, 'a write must read the Secret itself');
  }
  // Whose it is still reads the same: a Secret another object controls is not the client's.
  const cachedForeign = delivered(foreign);
  trimClientSecret(cachedForeign);
  assert.equal(ownedBy(cachedForeign, largest), false);
  const controlledByUid = delivered(foreign, { ownerReferences: [{ apiVersion: 'v1', kind: 'Other', name: 'x', uid: 'uid-checkout', controller: true }] });
  trimClientSecret(controlledByUid);
  assert.equal(ownedBy(controlledByUid, largest), true, 'ownership is the uid, whatever the reference calls its kind');
  assert.equal(isPartialCopy(controlledByUid), true);
});

test("a client's Secret keeps only the operator's keys up to the bound, and says when it left anything out", () => {
  const written = desiredClientSecret(largest, 'checkout-flipt', token, exampleTarget(url));
  const extraKey = delivered({ ...written, data: { ...written.data, extra: 'eA==' } });
  trimClientSecret(extraKey);
  assert.deepEqual(extraKey.data, written.data);
  assert.equal(isPartialCopy(extraKey), true);

  const oversized = delivered({ ...written, data: { ...written.data, url: 'x'.repeat(MAX_CACHED_VALUE_CHARS + 1) } });
  trimClientSecret(oversized);
  assert.deepEqual(Object.keys(oversized.data!), ['token', 'authorization']);
  assert.equal(isPartialCopy(oversized), true);

  const atBound = delivered({ ...written, data: { ...written.data, url: 'x'.repeat(MAX_CACHED_VALUE_CHARS) } });
  trimClientSecret(atBound);
  assert.equal(atBound.data!.url!.length, MAX_CACHED_VALUE_CHARS);
  assert.equal(isPartialCopy(atBound), false);
});

test("a client's Secret with labels or annotations past the bound is cached without them, as a partial copy", () => {
  const written = desiredClientSecret(largest, 'checkout-flipt', token, exampleTarget());
  const bound = MAX_CACHED_METADATA_CHARS;
  const annotated = (chars: number) => delivered(written, { annotations: { ...written.metadata!.annotations, n: 'x'.repeat(chars - 'n'.length - 'reloader.stakater.com/match'.length - 4) } });

  const atBound = annotated(bound);
  trimClientSecret(atBound);
  assert.equal(atBound.metadata!.annotations!.n!.length > 0, true);
  assert.equal(isPartialCopy(atBound), false);

  const over = annotated(bound + 1);
  trimClientSecret(over);
  assert.equal(over.metadata!.annotations, undefined);
  assert.deepEqual(over.metadata!.labels, written.metadata!.labels);
  assert.equal(isPartialCopy(over), true);

  const ours = written.metadata!.labels!;
  const ourChars = Object.entries(ours).reduce((n, [k, v]) => n + k.length + v.length, 0);
  const labelledUpTo = (chars: number) => delivered(written, { labels: { ...ours, l: 'v'.repeat(chars - ourChars - 1) } });
  const labelsAtBound = labelledUpTo(bound);
  trimClientSecret(labelsAtBound);
  assert.equal(labelsAtBound.metadata!.labels!.l!.length, bound - ourChars - 1);
  assert.equal(isPartialCopy(labelsAtBound), false);
  const labelsOver = labelledUpTo(bound + 1);
  trimClientSecret(labelsOver);
  assert.equal(labelsOver.metadata!.labels!.l, undefined);
  assert.equal(isPartialCopy(labelsOver), true);

  const labelled = delivered(written, { labels: { ...written.metadata!.labels, ...Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`l${i}`, 'v'.repeat(60)])) } });
  trimClientSecret(labelled);
  assert.deepEqual(labelled.metadata!.labels, { 'app.kubernetes.io/managed-by': 'flipt-client-operator', 'flipt.io/client': 'checkout' });
  assert.deepEqual(labelled.metadata!.annotations, written.metadata!.annotations);
  assert.deepEqual(labelled.data, written.data);
  assert.equal(isPartialCopy(labelled), true);
});

test("other owner references beside the client's are left out, and the copy is still whole: a write replaces them", () => {
  const written = desiredClientSecret(largest, 'checkout-flipt', token, exampleTarget());
  const ours = written.metadata!.ownerReferences![0]!;
  const extra = Array.from({ length: 100 }, (_, i) => ({ apiVersion: 'v1', kind: 'ConfigMap', name: `cm-${i}`, uid: `u${i}` }));
  const cached = delivered(written, { ownerReferences: [...extra, ours] });
  trimClientSecret(cached);
  assert.deepEqual(cached.metadata!.ownerReferences, [ours]);
  assert.equal(isPartialCopy(cached), false);
});

test('a cached FliptClient keeps of its annotations only a rotation request', () => {
  const base: FliptClient = { ...largest, metadata: { ...largest.metadata, managedFields: [{ manager: 'kubectl' }] } };
  const withRequest = structuredClone({ ...base, metadata: { ...base.metadata, annotations: { 'flipt.io/rotate': 'now-1', note: 'x'.repeat(200_000) } } });
  trimFliptClient(withRequest);
  assert.deepEqual(withRequest.metadata.annotations, { 'flipt.io/rotate': 'now-1' });
  assert.equal(withRequest.metadata.managedFields, undefined);
  assert.deepEqual(withRequest.spec, largest.spec);

  const without = structuredClone({ ...base, metadata: { ...base.metadata, annotations: { note: 'x' } } });
  trimFliptClient(without);
  assert.equal(without.metadata.annotations, undefined);

  const onlyRequest = structuredClone({ ...base, metadata: { ...base.metadata, annotations: { 'flipt.io/rotate': 'r' } } });
  const annotations = onlyRequest.metadata.annotations;
  trimFliptClient(onlyRequest);
  assert.equal(onlyRequest.metadata.annotations, annotations, 'nothing to leave out: the same object');
});
