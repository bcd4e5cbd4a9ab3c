// Which targets a change to a FliptClient or its Secret wakes: only a change to what a target reads,
// and an object's entry goes with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import { TargetWakeups } from '../../src/fliptinstance/target-wakeups.ts';
import { generateToken } from '../../src/vocabulary/credentials.ts';
import type { ConditionType, FliptClient } from '../../src/vocabulary/fliptclient.ts';

const client = (target: string, conditions: ConditionType[] = []): FliptClient => ({
  apiVersion: 'flipt.io/v1alpha1',
  kind: 'FliptClient',
  metadata: { name: 'web', namespace: 'apps', creationTimestamp: new Date('2030-01-01T00:00:00Z') },
  spec: { target },
  status: { conditions: conditions.map((type) => ({ type, status: 'True', reason: type, message: '', lastTransitionTime: '2030-01-01T00:00:00Z' })) },
});
const secret = (token: string): V1Secret => ({ metadata: { name: 'web-flipt', namespace: 'apps' }, data: { token: Buffer.from(token).toString('base64') } });

test('a FliptClient wakes every target when what targets read of it changes, and none for a status write they do not read', () => {
  const wakeups = new TargetWakeups(['a', 'b']);
  assert.deepEqual(wakeups.forClient('apps/web', client('a')), ['a', 'b']);
  assert.deepEqual(wakeups.forClient('apps/web', client('a', ['Ready'])), []);
  assert.deepEqual(wakeups.forClient('apps/web', client('b')), ['a', 'b'], 'spec.target changed: the old target loses it, the new one gains it');
  assert.deepEqual(wakeups.forClient('apps/web', undefined), ['a', 'b'], 'deleted');
  assert.deepEqual(wakeups.forClient('apps/web', undefined), []);
});

test("a client Secret wakes its FliptClient's target when its token changes", () => {
  const wakeups = new TargetWakeups(['a', 'b']);
  const token = generateToken();
  assert.equal(wakeups.forClientSecret('apps/web-flipt', secret(token), client('b')), 'b');
  assert.equal(wakeups.forClientSecret('apps/web-flipt', secret(token), client('b')), undefined);
  assert.equal(wakeups.forClientSecret('apps/web-flipt', secret(generateToken()), client('b')), 'b');
});

test('a FliptClient and a Secret of the same name (spec.secret.name) are told apart', () => {
  const wakeups = new TargetWakeups(['a']);
  assert.deepEqual(wakeups.forClient('apps/web', client('a')), ['a']);
  assert.equal(wakeups.forClientSecret('apps/web', secret(generateToken()), client('a')), 'a');
  assert.deepEqual(wakeups.forClient('apps/web', client('a')), [], 'the client did not change');
});

test('a client Secret deleted after its FliptClient takes its entry with it', () => {
  const wakeups = new TargetWakeups(['a']);
  const token = generateToken();
  assert.equal(wakeups.forClientSecret('apps/web-flipt', secret(token), client('a')), 'a');
  // The garbage collector deletes the Secret once the FliptClient is gone: no target to wake.
  assert.equal(wakeups.forClientSecret('apps/web-flipt', undefined, undefined), undefined);
  // Had its entry stayed, the same Secret again would look unchanged.
  assert.equal(wakeups.forClientSecret('apps/web-flipt', secret(token), client('a')), 'a');
});

test("every part of a FliptClient a target's step reads wakes the targets when it changes", () => {
  const base = client('a', ['CredentialIssued']);
  const at = new Date('2030-01-02T00:00:00Z');
  const variants: Array<[string, FliptClient]> = [
    ['deletion', { ...base, metadata: { ...base.metadata, deletionTimestamp: at } }],
    ['rotation requested', { ...base, metadata: { ...base.metadata, annotations: { 'flipt.io/rotate': 'now' } } }],
    ['created', { ...base, metadata: { ...base.metadata, creationTimestamp: at } }],
    ['spec', { ...base, spec: { ...base.spec, metadata: { team: 't' } } }],
    ['fingerprint', { ...base, status: { ...base.status, credentialFingerprint: 'ffff' } }],
    ['issuedAt', { ...base, status: { ...base.status, issuedAt: at.toISOString() } }],
    ['rotation answered', { ...base, status: { ...base.status, lastRotateRequest: 'now' } }],
    ['refused', { ...base, status: { ...base.status, conditions: base.status!.conditions!.map((c) => ({ ...c, status: 'False' as const })) } }],
    ['kind', { ...base, status: { ...base.status, credentialKind: 'jwt' } }],
    ['kind since', { ...base, status: { ...base.status, credentialKindSince: at.toISOString() } }],
  ];
  for (const [part, changed] of variants) {
    const wakeups = new TargetWakeups(['a', 'b']);
    wakeups.forClient('apps/web', base);
    assert.deepEqual(wakeups.forClient('apps/web', changed), ['a', 'b'], part);
  }
});
