// The Lease elector against the real API server: a stopping leader hands its Lease back even when a
// renewal it sent just before lands between its read of the Lease and its write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { V1MicroTime, type CoordinationV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { LeaderElector } from '../../src/runtime/leader-election.ts';
import { systemClock } from '../../src/runtime/clock.ts';
import { createNamespace, testCluster } from '../support/cluster.ts';

test('a release that races a renewal still frees the Lease at once', async () => {
  const { clients } = await testCluster();
  const namespace = await createNamespace(clients, 'lease-release');
  const name = 'race';
  let renewalLanded = false;
  // The API as the elector sees it, except that the renewal lands just before the release's write.
  const api = Object.create(clients.coordination) as CoordinationV1Api;
  api.replaceNamespacedLease = async (request, options) => {
    if (!renewalLanded && request.body.spec?.holderIdentity === undefined) {
      renewalLanded = true;
      const current = await clients.coordination.readNamespacedLease({ name, namespace });
      current.spec = { ...current.spec, renewTime: new V1MicroTime(Date.now()) };
      await clients.coordination.replaceNamespacedLease({ name, namespace, body: current });
    }
    return clients.coordination.replaceNamespacedLease(request, options);
  };
  const elector = new LeaderElector({ api, namespace, name, identity: 'leader-a', leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2_000, log: pino({ level: 'silent' }), clock: systemClock });
  await elector.acquire();
  assert.equal((await clients.coordination.readNamespacedLease({ name, namespace })).spec?.holderIdentity, 'leader-a');

  await elector.release();
  assert.equal(renewalLanded, true, 'the renewal landed between the read and the write');
  const lease = await clients.coordination.readNamespacedLease({ name, namespace });
  assert.equal(lease.spec?.holderIdentity, undefined, 'free for a successor now, not after leaseDuration');
});
