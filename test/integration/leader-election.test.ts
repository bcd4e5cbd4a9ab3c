// The Lease elector against the real API server: a stopping leader hands its Lease back even when a
// renewal it sent just before lands between its read of the Lease and its write; it steps down when it
// cannot renew; a second candidate leads only once the Lease is handed back or has expired; and a
// candidate whose Lease requests all fail never takes itself for the leader.
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

test('renewals that fail at once (the API server refusing, not silent): the leader steps down at renewDeadline, not later', async () => {
  const { clients } = await testCluster();
  const namespace = await createNamespace(clients, 'lease-refused');
  let refusing = false;
  // The API as the elector sees it, except that once refusing every call fails at once, as a connection refused would.
  const api = Object.create(clients.coordination) as CoordinationV1Api;
  for (const method of ['readNamespacedLease', 'replaceNamespacedLease', 'createNamespacedLease'] as const) {
    const real = clients.coordination[method].bind(clients.coordination) as (...args: unknown[]) => Promise<unknown>;
    (api as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => (refusing ? Promise.reject(new Error('connect ECONNREFUSED')) : real(...args));
  }
  const renewDeadline = 2_000;
  const elector = new LeaderElector({ api, namespace, name: 'refused', identity: 'leader-a', leaseDuration: 3_000, renewDeadline, retryPeriod: 500, log: pino({ level: 'silent' }), clock: systemClock });
  await elector.acquire();
  try {
    const leading = elector.keepLeading();
    await new Promise((r) => setTimeout(r, 1_000));
    refusing = true;
    const refusedAt = Date.now();
    const outcome = await Promise.race([leading, new Promise<'still leading'>((r) => setTimeout(() => r('still leading'), 3 * renewDeadline))]);
    assert.equal(outcome, false, 'it lost leadership');
    // The last renewal that succeeded was sent at most retryPeriod before the refusals began.
    assert.ok(Date.now() - refusedAt <= renewDeadline + 1_000, `stepped down ${Date.now() - refusedAt} ms after the refusals began`);
  } finally {
    await elector.release();
  }
});

test('a stopping replica that lost its Lease to another never frees the other\'s', async () => {
  const { clients } = await testCluster();
  const namespace = await createNamespace(clients, 'lease-taken');
  const name = 'taken';
  const elector = new LeaderElector({ api: clients.coordination, namespace, name, identity: 'leader-a', leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2_000, log: pino({ level: 'silent' }), clock: systemClock });
  await elector.acquire();
  // Say it was paused past its renewDeadline, and another replica took the Lease meanwhile.
  const lease = await clients.coordination.readNamespacedLease({ name, namespace });
  lease.spec = { ...lease.spec, holderIdentity: 'leader-b', renewTime: new V1MicroTime(Date.now()) };
  await clients.coordination.replaceNamespacedLease({ name, namespace, body: lease });
  await elector.release();
  assert.equal((await clients.coordination.readNamespacedLease({ name, namespace })).spec?.holderIdentity, 'leader-b');
});

test('a second candidate waits while the leader renews, takes a Lease handed back at once, and an abandoned one when it expires on its own clock', async () => {
  const { clients } = await testCluster();
  const namespace = await createNamespace(clients, 'lease-candidates');
  const name = 'candidates';
  const timings = { leaseDuration: 3_000, renewDeadline: 2_000, retryPeriod: 500 };
  const lines: Array<Record<string, unknown>> = [];
  const electors: LeaderElector[] = [];
  const elector = (identity: string) => {
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push({ identity, ...JSON.parse(l) }) });
    electors.push(new LeaderElector({ api: clients.coordination, namespace, name, identity, ...timings, clock: systemClock, log }));
    return electors.at(-1)!;
  };
  const read = () => clients.coordination.readNamespacedLease({ name, namespace });
  try {
    const a = elector('leader-a');
    await a.acquire();
    const aLeading = a.keepLeading();
    const b = elector('leader-b');
    let bLedAt: number | undefined;
    const bAcquired = b.acquire().then(() => (bLedAt = Date.now()), () => {});
    // Three lease durations of renewals by a: b never leads meanwhile, and says once that it waits.
    await new Promise((r) => setTimeout(r, 3 * timings.leaseDuration));
    assert.equal(bLedAt, undefined, 'b led while a renewed');
    assert.equal((await read()).spec?.holderIdentity, 'leader-a');
    assert.deepEqual(lines.filter((l) => l.identity === 'leader-b').map((l) => l.msg), ['waiting to become leader']);

    const releasedAt = Date.now();
    await a.release();
    assert.equal(await aLeading, true, 'a stopped renewing because it was told to, not because it lost the Lease');
    await bAcquired;
    assert.ok(bLedAt! - releasedAt < timings.retryPeriod + 500, `b led ${bLedAt! - releasedAt} ms after a handed the Lease back`);
    const taken = await read();
    assert.equal(taken.spec?.holderIdentity, 'leader-b');
    assert.equal(taken.spec?.leaseTransitions, 1, 'one transition: a to b');
    assert.ok(taken.spec?.acquireTime && new Date(taken.spec.acquireTime).getTime() >= releasedAt - 1_000, 'acquireTime is when b took it');

    // b stops renewing without handing the Lease back (a crash); c takes it once it expires, counted from when c first saw it.
    const c = elector('leader-c');
    const cSawAt = Date.now();
    await c.acquire();
    const waited = Date.now() - cSawAt;
    assert.ok(waited >= timings.leaseDuration - 100, `c took an unexpired Lease after ${waited} ms`);
    assert.ok(waited < timings.leaseDuration + timings.retryPeriod + 500, `c waited ${waited} ms for a Lease that expired after ${timings.leaseDuration} ms`);
    const final = await read();
    assert.equal(final.spec?.holderIdentity, 'leader-c');
    assert.equal(final.spec?.leaseTransitions, 2);
  } finally {
    // Stops whatever still runs after a failure; by now none holds the Lease but c.
    await Promise.all(electors.map((e) => e.release()));
    await clients.core.deleteNamespace({ name: namespace });
  }
});

test('a candidate whose every Lease request fails never takes itself for the leader, and says why', async () => {
  const { clients } = await testCluster();
  const namespace = await createNamespace(clients, 'lease-failing');
  // The API as the elector sees it, except that every Lease call fails at once, as a connection refused would.
  const api = Object.create(clients.coordination) as CoordinationV1Api;
  for (const method of ['readNamespacedLease', 'replaceNamespacedLease', 'createNamespacedLease'] as const) {
    (api as unknown as Record<string, unknown>)[method] = () => Promise.reject(new Error('connect ECONNREFUSED'));
  }
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const elector = new LeaderElector({ api, namespace, name: 'failing', identity: 'leader-a', leaseDuration: 3_000, renewDeadline: 2_000, retryPeriod: 200, log, clock: systemClock });
  let led = false;
  const acquired = elector.acquire().then(() => (led = true), () => {});
  try {
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(led, false, 'it took itself for the leader without a Lease');
    const failures = lines.filter((l) => l.msg === 'lease request failed');
    assert.ok(failures.length >= 3, `${failures.length} failed attempts logged in 1.5 s at a 200 ms retry period`);
    assert.ok(failures.every((l) => String(l.err).includes('ECONNREFUSED')));
  } finally {
    await elector.release();
    await acquired;
    await clients.core.deleteNamespace({ name: namespace });
  }
});
