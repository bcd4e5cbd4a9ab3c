import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TargetConfig } from '../../src/config/operator-config.ts';
import { fingerprint, generateToken } from '../../src/vocabulary/credentials.ts';
import { servedBy, type FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { clientsInFlight, configHash, desiredCredentials, parseManagedIds, planTarget, rotationsToIssue } from '../../src/fliptinstance/plan.ts';
import { ROTATE_ANNOTATION } from '../../src/vocabulary/rotation.ts';
import { exampleTarget } from '../support/target-fixture.ts';

const target: TargetConfig = exampleTarget();
/** A static-token target: the operator leaves Flipt's jwt method alone. */
const NO_JWT_METHOD = { remove: false, record: undefined };

function client(name: string, over: Partial<FliptClient['status']> & { target?: string; deleting?: boolean; issued?: 'True' | 'False' } = {}): FliptClient {
  return {
    apiVersion: 'flipt.io/v1alpha1',
    kind: 'FliptClient',
    metadata: { name, namespace: 'apps', ...(over.deleting ? { deletionTimestamp: new Date() } : {}) },
    spec: { target: over.target ?? 'default', metadata: { team: 'x' } },
    status: {
      ...(over.credentialFingerprint ? { credentialFingerprint: over.credentialFingerprint } : {}),
      ...(over.issued ? { conditions: [{ type: 'CredentialIssued', status: over.issued, reason: 'r', message: '', lastTransitionTime: '' }] } : {}),
    },
  };
}

test('desiredCredentials: issued clients of this target, token from the Secret or else the registered one', () => {
  const a = generateToken();
  const b = generateToken();
  const clients = [
    client('a', { credentialFingerprint: fingerprint(a) }),
    client('b', { credentialFingerprint: fingerprint(b) }),
    client('unissued'),
    client('elsewhere', { credentialFingerprint: fingerprint(a), target: 'other' }),
    client('leaving', { credentialFingerprint: fingerprint(a), deleting: true }),
  ];
  const secretTokens: Record<string, string> = { a, b: generateToken() };
  const desired = desiredCredentials(target, clients, (c) => secretTokens[c.metadata.name], { apps_b: b }, Date.now());
  assert.deepEqual(desired.map((d) => [d.id, d.token]), [['apps_a', a], ['apps_b', b]]);
  assert.deepEqual(desired[0]!.metadata, { team: 'x', 'fliptclient-namespace': 'apps', 'fliptclient-name': 'a' });
  // In id order whatever order the cache lists the clients in: the config a leader renders is the one its successor renders.
  assert.deepEqual(desiredCredentials(target, [...clients].reverse(), (c) => secretTokens[c.metadata.name], { apps_b: b }, Date.now()), desired);
  assert.equal(desiredCredentials({ ...target, allowedNamespaces: ['other'] }, clients, (c) => secretTokens[c.metadata.name], {}, Date.now()).length, 0);
});

test('clientsInFlight counts served clients still being issued, not refused ones; deleting ones and others are not served', () => {
  const clients = [client('new'), client('issued', { credentialFingerprint: 'f' }), client('refused', { issued: 'False' }), client('leaving', { deleting: true }), client('other', { target: 'x' })];
  const served = clients.filter((c) => servedBy(target, c));
  assert.deepEqual(served.map((c) => c.metadata.name), ['new', 'issued', 'refused']);
  assert.equal(clientsInFlight(served), 1);
});

const entry = (id: string, token: string) => ({ id, token, metadata: {}, credential: `\${secret:file:${id}}`, credentialKey: id, owner: { key: `apps/${id}`, namespace: 'apps', createdAt: 0 } });

test('planTarget: references only, stale credentials listed, hash depends on referenced credentials only', () => {
  const a = generateToken();
  const plan = planTarget(target, 'version: "2.0"\n', [], { apps_gone: generateToken() }, [entry('apps_a', a)], NO_JWT_METHOD);
  assert.ok(!plan.render.text.includes(a));
  assert.match(plan.render.text, /\$\{secret:file:apps_a\}/);
  assert.deepEqual(plan.staleCredentialKeys, ['apps_gone']);
  assert.equal(plan.credentials.apps_a, a);
  assert.ok(plan.credentials.apps_gone, 'stale credentials stay until the rollout finished');
  const again = planTarget(target, plan.render.text, plan.render.managedIds, { apps_a: a }, [entry('apps_a', a)], NO_JWT_METHOD);
  assert.equal(again.configHash, plan.configHash, 'a stale credential does not change the restart key');
  assert.notEqual(configHash(plan.render.text, { apps_a: generateToken() }), plan.configHash);
});

test('desiredCredentials leaves out clients with metadata Flipt would interpret, and tokens not of our shape', () => {
  const good = generateToken();
  const evil = generateToken();
  const clients = [client('good', { credentialFingerprint: fingerprint(good) }), client('evil', { credentialFingerprint: fingerprint(evil) })];
  clients[1]!.spec.metadata = { note: '${env:FLIPT_TOKEN_OTHER}' };
  assert.deepEqual(clients.filter((c) => servedBy(target, c)).map((c) => c.metadata.name), ['good']);
  const desired = desiredCredentials(target, clients, (c) => (c.metadata.name === 'good' ? good : evil), {}, Date.now());
  assert.deepEqual(desired.map((d) => d.id), ['apps_good']);
  assert.equal([client('evil-new')].map((c) => ({ ...c, spec: { ...c.spec, metadata: { x: '${env:A}' } } })).filter((c) => servedBy(target, c)).length, 0, 'a refused client is not served, so it never holds the burst');
  const notOurs = '${env:SOMETHING}';
  const forged = client('forged', { credentialFingerprint: fingerprint(notOurs) });
  assert.deepEqual(desiredCredentials(target, [forged], () => notOurs, {}, Date.now()), [], 'only a token of our own shape is written anywhere');
});

test('the record of managed ids: a JSON list of strings; anything else is no record at all, not a record of nothing', () => {
  assert.deepEqual(parseManagedIds('["apps_a","apps_b"]'), ['apps_a', 'apps_b']);
  assert.deepEqual(parseManagedIds('[]'), []);
  assert.deepEqual(parseManagedIds('["apps_a",5]'), ['apps_a']);
  for (const broken of [undefined, '', 'apps_a', '{"ids":[]}', '[', 'null']) assert.equal(parseManagedIds(broken), undefined, String(broken));
});

test('rotationsToIssue: one entry per client asking for a rotation whose token is registered and has no new token yet, in key order, sized like its token', () => {
  const tokens = { a: generateToken(), b: generateToken(), c: generateToken(), d: generateToken(), e: generateToken() };
  const asking = (name: keyof typeof tokens): FliptClient => {
    const c = client(name, { credentialFingerprint: fingerprint(tokens[name]) });
    return { ...c, metadata: { ...c.metadata, annotations: { [ROTATE_ANNOTATION]: 'leaked' } } };
  };
  const clients = [asking('e'), asking('d'), asking('c'), asking('b'), asking('a'), client('quiet', { credentialFingerprint: fingerprint(tokens.a) })];
  const credentials = {
    apps_a: tokens.a,
    apps_b: tokens.b,
    // c: the credentials Secret still holds an older token under its id (its own is not registered yet).
    apps_c: generateToken(),
    // d: its new token is issued already.
    apps_d: tokens.d,
    apps_d_next: generateToken(),
    // e: nothing registered.
  };
  const entries = rotationsToIssue(target, clients, (c) => tokens[c.metadata.name as keyof typeof tokens], credentials, Date.now());
  assert.deepEqual(entries.map((e) => [e.credentialKey, e.owner.key]), [['apps_a_next', 'apps/a'], ['apps_b_next', 'apps/b']]);
  for (const entry of entries) assert.equal(entry.token.length, tokens.a.length, 'the stand-in takes the room of a real token');
});
