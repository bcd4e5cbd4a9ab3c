// Rotation decided purely: the target step and the FliptClient decisions played against a simulated
// Flipt (its config, credentials Secret and rollouts) on an injected clock. After every step the
// invariant holds: every token a client Secret holds is accepted by every running Flipt pod.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { decideSwitch, decideToken, rotationVerdict } from '../../src/fliptclient/decisions.ts';
import { nextRotationEvent, rotationsToIssue } from '../../src/fliptinstance/plan.ts';
import { decideTargetStep } from '../../src/fliptinstance/step.ts';
import { credentialKey, fingerprint, generateToken, tokenIdFor } from '../../src/vocabulary/credentials.ts';
import { clientKey, type FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { nextTokenIdFor, overlapEndsAt, requestedRotation, ROTATE_ANNOTATION, rotationTrigger, scheduledRotationAt } from '../../src/vocabulary/rotation.ts';
import { ROLLOUT_MS, SimulatedFlipt } from '../support/simulated-flipt.ts';
import { exampleTarget } from '../support/target-fixture.ts';

const target = exampleTarget();
const T0 = Date.parse('2030-01-01T00:00:00Z');

/** Flipt, its objects and the clients' Secrets; the pods accept the static tokens their config registers. */
class World extends SimulatedFlipt<Set<string>> {
  rotations = 0;
  /** The next switch is recorded in status, and the operator crashes before the Secret is written. */
  crashBeforeSecretSwitch = false;

  constructor() {
    super(target, T0, 'authentication:\n  required: true\n', new Set());
  }

  override addClient(name: string, spec: FliptClient['spec'] = { target: 'default' }): FliptClient {
    return super.addClient(name, spec);
  }

  protected acceptedByConfig(): Set<string> {
    return this.staticTokensOfConfig();
  }

  protected newToken(): string {
    return generateToken();
  }

  /** One FliptClient reconcile as the reconciler does it: switch (status first), then the Secret. */
  reconcileClient(client: FliptClient): void {
    const id = tokenIdFor('apps', client.metadata.name);
    const nextId = nextTokenIdFor(id);
    const registered = { id: this.credentials[credentialKey(target, id)], next: this.credentials[credentialKey(target, nextId)] };
    const switchTo = decideSwitch(client.status?.credentialFingerprint, registered, nextId, this.state);
    if (switchTo) {
      const request = requestedRotation(client);
      client.status = { ...client.status, credentialFingerprint: fingerprint(switchTo), issuedAt: new Date(this.now).toISOString(), ...(request ? { lastRotateRequest: request } : {}) };
      this.rotations++;
    }
    const key = clientKey('apps', client.metadata.name);
    if (switchTo && this.crashBeforeSecretSwitch) {
      this.crashBeforeSecretSwitch = false;
      throw new Crash();
    }
    const decision = decideToken(client.status?.credentialFingerprint, this.secrets.get(key), registered);
    // A switch the status recorded before a crash: the status says when the Secret really switches, first.
    if (decision.action === 'switch' && !switchTo) client.status = { ...client.status, issuedAt: new Date(this.now).toISOString() };
    this.secrets.set(key, decision.token);
    if (!client.status?.credentialFingerprint) {
      client.status = { credentialFingerprint: fingerprint(decision.token), issuedAt: new Date(this.now).toISOString(), lastRotateRequest: client.metadata.annotations?.[ROTATE_ANNOTATION] };
    }
  }

  /** Everything that happens at this instant, then the clock moves to the next thing due. */
  run(untilMs: number, check: () => void): void {
    for (let i = 0; i < 10_000 && this.now <= untilMs; i++) {
      this.finishDueRollout();
      this.reconcileTarget();
      for (const client of this.clients) this.reconcileClient(client);
      this.reconcileTarget();
      check();
      const due = [this.targetDueAt, this.rollingTo ? this.workload.rolledOutAt : undefined].filter((t): t is number => t !== undefined && t > this.now);
      if (this.targetDueAt !== undefined && this.targetDueAt <= this.now) continue;
      if (due.length === 0 || Math.min(...due) > untilMs) return;
      this.now = Math.min(...due);
    }
  }

  /**
   * Every token a client Secret holds is accepted by every running Flipt pod (once the first rollout
   * is done), and is in the credentials Secret, which a pod starting now reads.
   */
  assertInvariant = (): void => {
    const running = this.rollingTo ? new Set([...this.pods].filter((t) => this.rollingTo!.has(t))) : this.pods;
    for (const [key, token] of this.secrets) {
      const firstRollout = this.restarts === 1 && this.rollingTo !== undefined;
      if (firstRollout || this.pods.size === 0) continue;
      assert.ok(running.has(token), `at +${(this.now - T0) / 1000}s the Secret of ${key} holds ${fingerprint(token)}, which a running Flipt pod does not accept`);
      assert.ok(Object.values(this.credentials).includes(token), `at +${(this.now - T0) / 1000}s the Secret of ${key} holds ${fingerprint(token)}, which the credentials Secret lacks`);
    }
  };
}

/** The operator process dying in the middle of a reconcile. */
class Crash extends Error {}

test('a scheduled rotation: new token issued, registered beside the old, Secret switched, old removed after the overlap', () => {
  const world = new World();
  const clients = ['a', 'b', 'c'].map((n) => world.addClient(n, { target: 'default', rotation: { every: '1h', overlap: '10m' } }));
  world.run(T0 + 60_000, world.assertInvariant);
  const first = new Map(clients.map((c) => [c.metadata.name, world.secrets.get(`apps/${c.metadata.name}`)!]));
  assert.equal(world.restarts, 1, 'one restart registers all three');
  assert.equal(world.rotations, 0);

  world.run(T0 + 2 * 3_600_000, world.assertInvariant);
  assert.equal(world.rotations, 3, 'each rotated once in the first 2 hours... and again at the second hour');
  for (const c of clients) {
    const now = world.secrets.get(`apps/${c.metadata.name}`)!;
    assert.notEqual(now, first.get(c.metadata.name), `${c.metadata.name} holds a new token`);
    assert.equal(c.status?.credentialFingerprint, fingerprint(now));
    assert.ok(!world.pods.has(first.get(c.metadata.name)!), 'the old token left Flipt after the overlap');
  }
  // Rotation: add + remove, shared by the three: two restarts after the first.
  assert.equal(world.restarts, 3);
  assert.equal(world.issued, 3, 'one new token per client, never two');
  const ids = Object.keys(parse(world.config).authentication.methods.token.storage.tokens);
  assert.deepEqual(ids.sort(), ['apps_a', 'apps_b', 'apps_c'], 'back to one id per client');
  assert.deepEqual(Object.keys(world.credentials).sort(), ['apps_a', 'apps_b', 'apps_c']);
});

test('the next rotation is a requeue at its time, never a poll', () => {
  const world = new World();
  const client = world.addClient('a', { target: 'default', rotation: { every: '720h', overlap: '10m' } });
  world.run(T0 + 60_000, world.assertInvariant);
  const due = Date.parse(client.status!.issuedAt!) + 720 * 3_600_000;
  assert.equal(nextRotationEvent(target, world.clients, world.credentials, world.now), due);
  const step = decideTargetStep(target, world.observed(), world.now);
  assert.equal(step.requeueAfterMs, due - world.now, 'the target looks again exactly when the rotation is due');
  assert.deepEqual(rotationsToIssue(target, world.clients, (c) => world.secrets.get(`apps/${c.metadata.name}`), world.credentials, due - 1), []);
  assert.equal(rotationsToIssue(target, world.clients, (c) => world.secrets.get(`apps/${c.metadata.name}`), world.credentials, due).length, 1);
  // A client of another target, due sooner, is that target's to look at.
  const elsewhere = { ...client, metadata: { ...client.metadata, name: 'elsewhere' }, spec: { ...client.spec, target: 'other' }, status: { ...client.status, issuedAt: new Date(world.now).toISOString() } };
  const sooner = { ...elsewhere, spec: { ...elsewhere.spec, rotation: { every: '1h', overlap: '10m' } } };
  assert.equal(nextRotationEvent(target, [...world.clients, sooner], world.credentials, world.now), due);
});

test('a client without spec.rotation.every is never rotated on a schedule: no requeue for it, and its Rotating condition says how to rotate by hand', () => {
  const world = new World();
  const client = world.addClient('a');
  world.run(T0 + 60_000, world.assertInvariant);
  assert.ok(client.status?.issuedAt, 'issued');
  assert.equal(scheduledRotationAt(client), undefined);
  assert.equal(rotationTrigger(client, T0 + 10 * 365 * 86_400_000), undefined);
  assert.equal(nextRotationEvent(target, world.clients, world.credentials, world.now), undefined);
  assert.equal(rotationVerdict(client, { id: world.credentials.apps_a }, world.state, 'default', world.now).reason, 'OnRequest');
});

test('the annotation rotates once per distinct value; a value set before the first issue rotates nothing', () => {
  const world = new World();
  const client = world.addClient('a');
  client.metadata.annotations = { [ROTATE_ANNOTATION]: 'before' };
  world.run(T0 + 60_000, world.assertInvariant);
  assert.equal(world.rotations, 0, 'the first token answers a request made before it existed');
  client.metadata.annotations = { [ROTATE_ANNOTATION]: 'leak-1' };
  world.run(T0 + 30 * 60_000, world.assertInvariant);
  assert.equal(world.rotations, 1);
  assert.equal(client.status?.lastRotateRequest, 'leak-1');
  world.run(T0 + 60 * 60_000, world.assertInvariant);
  assert.equal(world.rotations, 1, 'the same value again does nothing');
  client.metadata.annotations = { [ROTATE_ANNOTATION]: 'leak-2' };
  world.run(T0 + 90 * 60_000, world.assertInvariant);
  assert.equal(world.rotations, 2);
  client.metadata.annotations = { [ROTATE_ANNOTATION]: '' };
  world.run(T0 + 120 * 60_000, world.assertInvariant);
  assert.equal(world.rotations, 2, 'an empty value (`flipt.io/rotate=`) asks for nothing');
});

test('emergency rotation (overlap 0s): the old token leaves Flipt with the very next restart after the switch', () => {
  const world = new World();
  const client = world.addClient('a', { target: 'default', rotation: { every: '720h', overlap: '0s' } });
  world.run(T0 + 60_000, world.assertInvariant);
  const leaked = world.secrets.get('apps/a')!;
  const restarts = world.restarts;
  client.metadata.annotations = { [ROTATE_ANNOTATION]: 'leaked' };
  const requestedAt = world.now;
  let switchedAt: number | undefined;
  let refusedAt: number | undefined;
  world.run(T0 + 10 * 60_000, () => {
    world.assertInvariant();
    if (switchedAt === undefined && world.secrets.get('apps/a') !== leaked) switchedAt = world.now;
    if (refusedAt === undefined && switchedAt !== undefined && !world.pods.has(leaked)) refusedAt = world.now;
  });
  assert.ok(switchedAt && refusedAt);
  assert.equal(world.restarts, restarts + 2, 'one restart to add the new token, the very next one to remove the old');
  // Worst case: minInterval to the first restart, a rollout, minInterval to the second, a rollout.
  assert.ok(refusedAt - requestedAt <= 2 * (target.restart.minInterval + ROLLOUT_MS), `refused ${(refusedAt - requestedAt) / 1000}s after the request`);
});

test('many clients rotating together share restarts: 100 at once cost at most 4', () => {
  const world = new World();
  const clients = Array.from({ length: 100 }, (_, i) => world.addClient(`c${i}`));
  world.run(T0 + 60_000, () => {});
  const restarts = world.restarts;
  // Requests land ten at a time, 300 ms apart, as `kubectl annotate` over a list does.
  for (let i = 0; i < clients.length; i += 10) {
    for (const client of clients.slice(i, i + 10)) client.metadata.annotations = { [ROTATE_ANNOTATION]: 'all' };
    const until = world.now + 300;
    world.run(until, world.assertInvariant);
    world.now = Math.max(world.now, until);
  }
  world.run(T0 + 60 * 60_000, world.assertInvariant);
  assert.equal(world.rotations, 100);
  process.stdout.write(`# 100 clients rotating: ${world.restarts - restarts} restarts\n`);
  assert.ok(world.restarts - restarts <= 4, `${world.restarts - restarts} restarts`);
});

test('an operator that loses its memory (a crash) between any two steps still completes the rotation', () => {
  for (let seed = 0; seed < 20; seed++) {
    const world = new World();
    const client = world.addClient('a', { target: 'default', rotation: { every: '1h', overlap: '5m' } });
    world.run(T0 + 60_000, () => {});
    client.metadata.annotations = { [ROTATE_ANNOTATION]: 'now' };
    let step = 0;
    world.run(T0 + 30 * 60_000, () => {
      world.assertInvariant();
      // A restarted operator starts without the previous state or the hold; it lists everything again.
      if (step++ % 3 === seed % 3) {
        world.state = undefined;
        world.hold = undefined;
      }
    });
    assert.equal(world.rotations, 1, `seed ${seed}`);
    assert.equal(world.issued, 1, `seed ${seed}: the new token was issued once`);
    assert.deepEqual(Object.keys(world.credentials), ['apps_a'], `seed ${seed}: the old token was removed`);
  }
});

test('a crash after the status names the new token and before the Secret follows, down longer than the overlap: the old token stays until the Secret switches, and for the overlap after', () => {
  const world = new World();
  const client = world.addClient('a', { target: 'default', rotation: { every: '720h', overlap: '5m' } });
  world.run(T0 + 60_000, () => {});
  const old = world.secrets.get('apps/a')!;
  client.metadata.annotations = { [ROTATE_ANNOTATION]: 'now' };
  world.crashBeforeSecretSwitch = true;
  assert.throws(() => world.run(T0 + 30 * 60_000, world.assertInvariant), Crash);
  assert.equal(world.secrets.get('apps/a'), old, 'the Secret still holds the old token');
  assert.notEqual(client.status?.credentialFingerprint, fingerprint(old), 'the status names the new one');

  // The next operator starts twice the overlap later, knowing nothing; its first step is the target's.
  world.now += 10 * 60_000;
  world.state = undefined;
  world.hold = undefined;
  world.finishDueRollout();
  world.reconcileTarget();
  world.assertInvariant();
  let switchedAt: number | undefined;
  let retiredAt: number | undefined;
  world.run(T0 + 60 * 60_000, () => {
    world.assertInvariant();
    if (switchedAt === undefined && world.secrets.get('apps/a') !== old) switchedAt = world.now;
    if (retiredAt === undefined && !Object.values(world.credentials).includes(old)) retiredAt = world.now;
  });
  assert.ok(switchedAt !== undefined && retiredAt !== undefined, 'the Secret switched and the old token left');
  assert.equal(Date.parse(client.status!.issuedAt!), switchedAt, 'issuedAt says when the Secret switched');
  assert.ok(retiredAt - switchedAt >= 5 * 60_000, `the old token left ${(retiredAt - switchedAt) / 1000}s after the Secret switched, within the overlap`);
  assert.equal(world.rotations, 1);
  assert.equal(world.issued, 1, 'the new token was issued once');
  assert.deepEqual(Object.keys(world.credentials), ['apps_a']);
});

test('the Rotating condition follows the steps, and says what blocks it', () => {
  const world = new World();
  const client = world.addClient('a', { target: 'default', rotation: { every: '720h' } });
  world.run(T0 + 60_000, () => {});
  const verdict = (state = world.state, now = world.now) => rotationVerdict(client, { id: world.credentials.apps_a, next: world.credentials.apps_a_next }, state, 'default', now);
  assert.deepEqual([verdict().status, verdict().reason], ['False', 'Scheduled']);
  assert.match(verdict().message, /next rotation is due at 2030-01-31T/);
  const due = scheduledRotationAt(client)!;
  const onSchedule = rotationVerdict(client, { id: world.credentials.apps_a }, world.state, 'default', due);
  assert.deepEqual([onSchedule.reason, onSchedule.message], ['RotationRequested', 'A rotation is due on schedule; target "default" issues a new token']);
  client.metadata.annotations = { [ROTATE_ANNOTATION]: 'x' };
  assert.deepEqual([verdict().status, verdict().reason], ['True', 'RotationRequested']);
  assert.equal(verdict().message, `A rotation is requested (${ROTATE_ANNOTATION}="x"); target "default" issues a new token`);
  world.reconcileTarget();
  assert.deepEqual([verdict().status, verdict().reason], ['True', 'NewTokenRegistering']);
  assert.match(verdict().message, /^A new token \([0-9a-f]{16}\) is being registered with target "default"; the Secret switches to it once every Flipt pod accepts it$/);
  const written = { ...world.state!, registered: new Map([...world.state!.registered, [nextTokenIdFor('apps_a'), fingerprint(world.credentials.apps_a_next!)]]) };
  assert.match(verdict(written).message, /\) is registered with target "default"/);
  world.run(world.now + 20_000, () => {});
  assert.deepEqual([verdict().status, verdict().reason], ['True', 'OldTokenRetiring']);
  assert.match(verdict().message, /stays valid until \S+ \(spec.rotation.overlap\), then leaves Flipt with its next restart$/);
  // From the end of the overlap on, it is only waiting for that restart.
  assert.match(verdict(world.state, overlapEndsAt(client)!).message, /the previous one stays valid no longer: it leaves Flipt with its next restart$/);
  world.run(world.now + 20 * 60_000, () => {});
  assert.deepEqual([verdict().status, verdict().reason], ['False', 'Scheduled']);
  // The new token moved to <id> while its <id>_next key waits in the credentials Secret for the rollout: nothing retiring.
  const moved = world.credentials.apps_a!;
  assert.equal(fingerprint(moved), client.status!.credentialFingerprint);
  assert.equal(rotationVerdict(client, { id: moved, next: moved }, world.state, 'default', world.now).reason, 'Scheduled');
  const problem = { ...world.state!, problem: { reason: 'ConfigMapMissing' as const, message: 'ConfigMap flipt/flipt not found' } };
  client.metadata.annotations = { [ROTATE_ANNOTATION]: 'y' };
  const blocked = rotationVerdict(client, { id: world.credentials.apps_a }, problem, 'default', world.now);
  assert.equal(blocked.reason, 'RotationBlocked');
  assert.match(blocked.message, /ConfigMap flipt\/flipt not found/);
  // No room for a second token: the rotation waits, saying why (capacity.ts words it).
  const full = { ...world.state!, rotationsWithoutRoom: new Map([['apps/a', 'target "default" has no room for the new token beside the current one']]) };
  const noRoom = rotationVerdict(client, { id: world.credentials.apps_a }, full, 'default', world.now);
  assert.deepEqual([noRoom.status, noRoom.reason, noRoom.message], ['False', 'RotationBlocked', 'A rotation is requested (flipt.io/rotate="y"), but target "default" has no room for the new token beside the current one']);
  // A hand-written token already holds the id the new token needs: the rotation waits for it to go.
  const taken = { ...world.state!, conflicts: new Set([nextTokenIdFor('apps_a')]) };
  const held = rotationVerdict(client, { id: world.credentials.apps_a, next: generateToken() }, taken, 'default', world.now);
  assert.deepEqual([held.status, held.reason], ['False', 'RotationBlocked']);
  assert.match(held.message, /has a hand-written token with id apps_a_next, which a rotation needs; remove or rename it there$/);
});

test('no rotation before a first token: a rotate annotation or an old schedule on a client without a token triggers nothing (its first token answers the request)', () => {
  const client: FliptClient = {
    apiVersion: 'flipt.io/v1alpha1',
    kind: 'FliptClient',
    metadata: { name: 'a', namespace: 'apps', annotations: { [ROTATE_ANNOTATION]: '1' } },
    spec: { rotation: { every: '1h' } },
    status: { issuedAt: '2000-01-01T00:00:00Z' },
  };
  assert.equal(rotationTrigger(client, Date.parse('2030-01-01T00:00:00Z')), undefined);
  assert.equal(rotationTrigger({ ...client, status: { ...client.status, credentialFingerprint: 'f'.repeat(16) } }, Date.parse('2030-01-01T00:00:00Z')), 'request');
});

test('an issuedAt that does not parse schedules no rotation (no NaN time reaches status.rotateAt)', () => {
  const client: FliptClient = {
    apiVersion: 'flipt.io/v1alpha1',
    kind: 'FliptClient',
    metadata: { name: 'a', namespace: 'apps' },
    spec: { rotation: { every: '1h' } },
    status: { issuedAt: 'yesterday', credentialFingerprint: 'f'.repeat(16) },
  };
  assert.equal(scheduledRotationAt(client), undefined);
  assert.equal(rotationTrigger(client, T0), undefined);
});
