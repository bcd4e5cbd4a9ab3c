import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceAccountIndex, indexUpdater } from '../../src/exchange/service-account-index.ts';
import type { FliptClient } from '../../src/vocabulary/fliptclient.ts';

/** The other clients that claim any of this client's service accounts (what its condition names). */
function rivals(index: ServiceAccountIndex, namespace: string, name: string): string[] {
  return [...new Set(Object.values(index.conflictsByServiceAccount(namespace, name)).flat())].sort();
}

function client(namespace: string, name: string, serviceAccounts?: string[], extra: Partial<FliptClient['metadata']> = {}): FliptClient {
  return {
    apiVersion: 'flipt.io/v1alpha1',
    kind: 'FliptClient',
    metadata: { namespace, name, ...extra },
    spec: { target: 'default', ...(serviceAccounts ? { serviceAccounts } : {}) },
  };
}

test('a service account listed by one client is bound to it', () => {
  const index = new ServiceAccountIndex();
  index.upsert(client('team-a', 'web', ['web-sa', 'worker-sa']));
  assert.deepEqual(index.lookup('team-a', 'web-sa'), { kind: 'bound', namespace: 'team-a', name: 'web', key: 'team-a/web' });
  assert.deepEqual(index.lookup('team-a', 'worker-sa'), { kind: 'bound', namespace: 'team-a', name: 'web', key: 'team-a/web' });
  assert.deepEqual(index.lookup('team-a', 'other'), { kind: 'unbound' });
  assert.deepEqual(rivals(index, 'team-a', 'web'), []);
});

test('never across namespaces: the same names in another namespace are unbound', () => {
  const index = new ServiceAccountIndex();
  index.upsert(client('team-a', 'web', ['web-sa']));
  assert.deepEqual(index.lookup('team-b', 'web-sa'), { kind: 'unbound' });
  index.upsert(client('team-b', 'web', ['web-sa']));
  assert.equal(index.lookup('team-a', 'web-sa').kind, 'bound');
  assert.equal(index.lookup('team-b', 'web-sa').kind, 'bound');
  assert.deepEqual(rivals(index, 'team-a', 'web'), []);
});

test('two clients claiming one service account: ambiguous, and each names the other', () => {
  const index = new ServiceAccountIndex();
  assert.deepEqual(index.upsert(client('ns', 'a', ['shared', 'only-a'])), []);
  assert.deepEqual(index.upsert(client('ns', 'b', ['shared'])), ['ns/a'], 'a must be told its conflicts changed');
  assert.deepEqual(index.lookup('ns', 'shared'), { kind: 'ambiguous', clients: ['a', 'b'] });
  assert.equal(index.lookup('ns', 'only-a').kind, 'bound', 'a still serves its unshared service account');
  assert.deepEqual(rivals(index, 'ns', 'a'), ['b']);
  assert.deepEqual(rivals(index, 'ns', 'b'), ['a']);
  assert.deepEqual(index.conflictsByServiceAccount('ns', 'a'), { shared: ['b'] });

  index.upsert(client('ns', 'c', ['shared']));
  assert.deepEqual(index.lookup('ns', 'shared'), { kind: 'ambiguous', clients: ['a', 'b', 'c'] });
  assert.deepEqual(rivals(index, 'ns', 'a'), ['b', 'c']);

  // b drops the shared account: a and c still conflict, b no longer does.
  assert.deepEqual(index.upsert(client('ns', 'b', ['b-only'])), ['ns/a', 'ns/c']);
  assert.deepEqual(rivals(index, 'ns', 'b'), []);
  assert.deepEqual(index.lookup('ns', 'shared'), { kind: 'ambiguous', clients: ['a', 'c'] });

  // c is deleted: a is the only claimant again.
  assert.deepEqual(index.remove('ns', 'c'), ['ns/a']);
  assert.deepEqual(index.lookup('ns', 'shared'), { kind: 'bound', namespace: 'ns', name: 'a', key: 'ns/a' });
  assert.deepEqual(rivals(index, 'ns', 'a'), []);
});

test('an update replaces the previous claims; removing everything leaves no trace', () => {
  const index = new ServiceAccountIndex();
  index.upsert(client('ns', 'a', ['one', 'two']));
  index.upsert(client('ns', 'a', ['two', 'three']));
  assert.equal(index.lookup('ns', 'one').kind, 'unbound');
  assert.equal(index.lookup('ns', 'two').kind, 'bound');
  assert.equal(index.lookup('ns', 'three').kind, 'bound');
  index.upsert(client('ns', 'a'));
  assert.equal(index.lookup('ns', 'two').kind, 'unbound');
  assert.equal(index.lookup('ns', 'three').kind, 'unbound');
  index.upsert(client('ns', 'a', ['x']));
  index.remove('ns', 'a');
  index.remove('ns', 'never-seen');
  assert.equal(index.lookup('ns', 'x').kind, 'unbound');
});

test('duplicates in spec.serviceAccounts do not make a client conflict with itself', () => {
  const index = new ServiceAccountIndex();
  index.upsert(client('ns', 'a', ['x', 'x']));
  assert.equal(index.lookup('ns', 'x').kind, 'bound');
  assert.deepEqual(rivals(index, 'ns', 'a'), []);
});

test('an empty service-account name claims nothing: two clients listing one do not conflict', () => {
  const index = new ServiceAccountIndex();
  index.upsert(client('ns', 'a', ['', 'x']));
  index.upsert(client('ns', 'b', ['']));
  assert.deepEqual([rivals(index, 'ns', 'a'), rivals(index, 'ns', 'b')], [[], []]);
  assert.equal(index.lookup('ns', '').kind, 'unbound');
});

test('a client being deleted claims nothing', () => {
  const index = new ServiceAccountIndex();
  index.upsert(client('ns', 'a', ['x']));
  index.upsert(client('ns', 'b', ['x']));
  assert.equal(index.lookup('ns', 'x').kind, 'ambiguous');
  assert.deepEqual(index.upsert(client('ns', 'b', ['x'], { deletionTimestamp: new Date() })), ['ns/a']);
  assert.deepEqual(index.lookup('ns', 'x'), { kind: 'bound', namespace: 'ns', name: 'a', key: 'ns/a' });
});

test('indexUpdater tells adds and updates from deletes by the informer cache', () => {
  const index = new ServiceAccountIndex();
  const cache = new Map<string, FliptClient>();
  const changed: string[][] = [];
  const onChange = indexUpdater(index, (ns, name) => cache.get(`${ns}/${name}`), (keys) => changed.push(keys));
  const a = client('ns', 'a', ['x']);
  const b = client('ns', 'b', ['x']);
  cache.set('ns/a', a);
  onChange(a);
  cache.set('ns/b', b);
  onChange(b);
  assert.equal(index.lookup('ns', 'x').kind, 'ambiguous');
  assert.deepEqual(changed, [['ns/a']]);
  cache.delete('ns/b');
  onChange(b); // the delete event carries the last state, which still lists x
  assert.deepEqual(index.lookup('ns', 'x'), { kind: 'bound', namespace: 'ns', name: 'a', key: 'ns/a' });
  assert.deepEqual(changed, [['ns/a'], ['ns/a']]);
});

test('many clients: lookups stay exact', () => {
  const index = new ServiceAccountIndex();
  for (let i = 0; i < 1000; i++) index.upsert(client(`ns-${i % 10}`, `c-${i}`, [`sa-${i}`, 'common']));
  for (let i = 0; i < 1000; i += 7) assert.deepEqual(index.lookup(`ns-${i % 10}`, `sa-${i}`), { kind: 'bound', namespace: `ns-${i % 10}`, name: `c-${i}`, key: `ns-${i % 10}/c-${i}` });
  assert.deepEqual(index.lookup('ns-3', 'sa-503'), { kind: 'bound', namespace: 'ns-3', name: 'c-503', key: 'ns-3/c-503' });
  const common = index.lookup('ns-3', 'common');
  assert.equal(common.kind, 'ambiguous');
  assert.equal(common.kind === 'ambiguous' ? common.clients.length : 0, 100);
  assert.equal(rivals(index, 'ns-3', 'c-3').length, 99);
});
