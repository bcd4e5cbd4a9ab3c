// Someone edits the JWT signing keys Secret (a backup tool's label, say) while the operator's write of a
// new key is on its way: the write carries the resourceVersion the operator read, so the API server
// refuses it and the operator writes the key again on top of the edit. Without that precondition the
// late write would silently undo the edit, and two writers (the old and new leader of a handover) could
// each drop the other's key. The operator reaches the API server through a proxy that delays its writes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MANAGED_BY, MANAGED_BY_LABEL } from '../../src/vocabulary/fliptclient.ts';
import { waitFor } from '../support/cluster.ts';
import { Scenario, SIGNING_KEYS_SECRET } from '../support/scenario.ts';

let scenario: Scenario;

before(async () => {
  // A key signs for 8 s and the next is published 2 s ahead: the operator writes a new key about 6 s after the first.
  scenario = await Scenario.start({ credentialKind: 'jwt', minInterval: '1s', deployRbac: {}, apiProxy: true, jwt: { lifetime: '10s', rotateEvery: '8s', publishAhead: '2s' } });
});

after(() => scenario?.stop());

test("a hand edit of the signing keys Secret that lands while the operator's write of a new key is on its way is kept, and the key written on top of it", async () => {
  const { core } = scenario.cluster.clients;
  const proxy = scenario.proxy!;
  const ref = { name: SIGNING_KEYS_SECRET, namespace: scenario.namespace };
  await waitFor(() => scenario.signingKeys.versions.length > 0, 'the first signing key', 30_000);
  proxy.delay(new RegExp(`^PUT /api/v1/namespaces/${scenario.namespace}/secrets/${SIGNING_KEYS_SECRET}\\b`));
  await waitFor(() => proxy.delayedWrites === 1, "the operator's write of the next key on its way", 30_000, 100);

  const secret = await core.readNamespacedSecret(ref);
  const kids = Object.keys(secret.data ?? {});
  assert.equal(kids.length, 1, 'the write on its way is the only one with the next key');
  secret.metadata!.labels = { ...secret.metadata!.labels, 'example.com/backup': 'daily' };
  await core.replaceNamespacedSecret({ ...ref, body: secret });
  proxy.deliverDelayed();

  await waitFor(async () => Object.keys((await core.readNamespacedSecret(ref)).data ?? {}).length === 2, 'the next key written', 30_000);
  const written = await core.readNamespacedSecret(ref);
  assert.equal(written.metadata!.labels!['example.com/backup'], 'daily', 'the hand edit is kept');
  assert.equal(written.metadata!.labels![MANAGED_BY_LABEL], MANAGED_BY, "beside the operator's own label");
  assert.ok(kids.every((kid) => written.data![kid]), 'and the first key with it');
});
