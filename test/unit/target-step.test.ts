// The restart gate, rule by rule, as a pure function of what the target holds, the FliptClients and
// an injected clock: no cluster, no timers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocument } from 'yaml';
import type { TargetConfig } from '../../src/config/operator-config.ts';
import { targetInputsOf } from '../../src/fliptinstance/plan.ts';
import { afterFailedWrite, decideTargetStep, maxHoldMs, progressWindowMs, type ObservedTarget, type TargetStep } from '../../src/fliptinstance/step.ts';
import { fingerprint, generateToken, tokenIdFor } from '../../src/vocabulary/credentials.ts';
import { requiresAuthentication } from '../../src/vocabulary/registration.ts';
import { clientKey, type FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { exampleTarget } from '../support/target-fixture.ts';

const target: TargetConfig = exampleTarget();
const T0 = Date.parse('2030-01-01T00:00:00Z');
const SOURCE = 'authentication:\n  required: true\n';

interface Fixture {
  clients: FliptClient[];
  tokens: Map<string, string>;
}

/** FliptClients in namespace "apps": `issued` have a token in their Secret and status, `pending` are still being issued. */
function fixture(issued: string[], pending: string[] = []): Fixture {
  const tokens = new Map<string, string>();
  const clients: FliptClient[] = [];
  for (const name of issued) {
    const token = generateToken();
    tokens.set(clientKey('apps', name), token);
    clients.push({ apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { name, namespace: 'apps' }, spec: { target: 'default' }, status: { credentialFingerprint: fingerprint(token) } });
  }
  for (const name of pending) clients.push({ apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { name, namespace: 'apps' }, spec: { target: 'default' } });
  return { clients, tokens };
}

/** A target nobody has touched yet: Flipt's own config, a finished rollout, no credentials. */
function fresh(f: Fixture, over: Partial<ObservedTarget> = {}): ObservedTarget {
  return {
    configMap: { text: SOURCE, managedRecord: undefined, managedIds: [], jwtRecord: undefined, otherDataBytes: 0, otherAnnotationBytes: 0 },
    credentials: {},
    workload: { configHash: undefined, restartedAtMs: undefined, changedSinceOurRestart: false, rollout: { done: true, detail: '1 replicas updated and available' }, env: { containers: ['flipt'], vars: [], envFrom: [] } },
    clients: f.clients,
    clientSecretToken: (c) => f.tokens.get(clientKey(c.metadata.namespace, c.metadata.name)),
    ...over,
  };
}

/** The target as the API server holds it once the step was applied (the rollout still running, unless `rolledOut`). */
function afterApply(observed: ObservedTarget, step: TargetStep, now: number, rolledOut = false): ObservedTarget {
  const ids = step.config ? (JSON.parse(step.config.managedRecord) as string[]) : observed.configMap!.managedIds;
  return {
    ...observed,
    configMap: step.config ? { text: step.config.text, managedRecord: step.config.managedRecord, managedIds: ids, jwtRecord: step.config.jwtRecord, otherDataBytes: 0, otherAnnotationBytes: 0 } : observed.configMap!,
    credentials: step.credentials ?? observed.credentials,
    workload: step.restart
      ? { configHash: step.restart.configHash, restartedAtMs: now, changedSinceOurRestart: false, rollout: rolledOut ? { done: true, detail: 'done' } : { done: false, detail: '0 of 1 replicas updated' }, env: observed.workload?.env ?? { containers: ['flipt'], vars: [], envFrom: [] } }
      : observed.workload!,
    ...(step.hold !== undefined ? { hold: step.hold } : {}),
    previous: step.state,
  };
}

const rolledOut = (o: ObservedTarget): ObservedTarget => ({ ...o, workload: { ...o.workload!, rollout: { done: true, detail: 'done' } } });

/** The target with exactly these variables in Flipt's container. */
const withEnv = (o: ObservedTarget, env: { name: string; value: string | undefined; container?: string }[]): ObservedTarget => {
  const vars = env.map((e) => ({ container: 'flipt', ...e }));
  return { ...o, workload: { ...o.workload!, env: { containers: [...new Set(['flipt', ...vars.map((v) => v.container)])], vars, envFrom: [] } } };
};

test('missing ConfigMap or workload: a problem to report, nothing written', () => {
  const f = fixture(['a']);
  const noConfigMap = decideTargetStep(target, { ...fresh(f), configMap: undefined }, T0);
  assert.equal(noConfigMap.state.problem?.reason, 'ConfigMapMissing');
  assert.match(noConfigMap.state.problem!.message, /ConfigMap flipt\/flipt not found/);
  const { workload: _, ...withoutWorkload } = fresh(f);
  const noWorkload = decideTargetStep(target, withoutWorkload, T0);
  assert.equal(noWorkload.state.problem?.reason, 'WorkloadMissing');
  for (const step of [noConfigMap, noWorkload]) assert.deepEqual([step.credentials, step.config, step.restart], [undefined, undefined, undefined]);
});

test('nothing to manage: Flipt is left alone', () => {
  const step = decideTargetStep(target, fresh(fixture([])), T0);
  assert.deepEqual([step.credentials, step.config, step.restart, step.requeueAfterMs], [undefined, undefined, undefined, undefined]);
});

test('no client left, but a credential still in the Secret: it is dropped once Flipt runs a config without it', () => {
  const gone = tokenIdFor('apps', 'gone');
  let observed = fresh(fixture([]), { credentials: { [gone]: generateToken() } });
  for (let i = 0; i < 3 && gone in observed.credentials; i++) {
    observed = rolledOut(afterApply(observed, decideTargetStep(target, observed, T0 + i * 60_000), T0 + i * 60_000));
  }
  assert.deepEqual(observed.credentials, {});
});

test('an issued client: credentials, config and one restart in one step; Ready waits for the rollout', () => {
  const f = fixture(['a']);
  const step = decideTargetStep(target, fresh(f), T0);
  const id = tokenIdFor('apps', 'a');
  assert.equal(step.credentials?.[id], f.tokens.get('apps/a'));
  assert.match(step.config!.text, new RegExp(`\\$\\{secret:file:${id}\\}`));
  assert.deepEqual(JSON.parse(step.config!.managedRecord), [id]);
  assert.equal(step.restart?.tokens, 1);
  assert.equal(step.state.registered.get(id), fingerprint(f.tokens.get('apps/a')!));
  assert.equal(step.state.rollout.done, false, 'not rolled out: the restart was just triggered');
});

test('same restart key: no restart, no write; a later resync does nothing', () => {
  const f = fixture(['a']);
  const first = decideTargetStep(target, fresh(f), T0);
  const applied = rolledOut(afterApply(fresh(f), first, T0));
  for (const now of [T0 + 1, T0 + 60_000, T0 + 86_400_000]) {
    const again = decideTargetStep(target, applied, now);
    assert.deepEqual([again.credentials, again.config, again.restart, again.requeueAfterMs], [undefined, undefined, undefined, undefined], `at +${now - T0} ms`);
    assert.equal(again.state.configHash, first.restart!.configHash);
    assert.equal(again.state.workloadHash, first.restart!.configHash);
    assert.equal(again.state.rollout.done, true);
  }
});

test('restarts are restart.minInterval apart: a change inside the interval waits for its end', () => {
  const f = fixture(['a']);
  const first = afterApply(fresh(f), decideTargetStep(target, fresh(f), T0), T0, true);
  const more = fixture(['b']);
  const withB = { ...first, clients: [...f.clients, ...more.clients], clientSecretToken: (c: FliptClient) => f.tokens.get(clientKey(c.metadata.namespace, c.metadata.name)) ?? more.tokens.get(clientKey(c.metadata.namespace, c.metadata.name)) };
  const held = decideTargetStep(target, withB, T0 + 4_000);
  assert.deepEqual([held.credentials, held.config, held.restart], [undefined, undefined, undefined], 'nothing written inside the interval');
  assert.equal(held.requeueAfterMs, 6_000);
  assert.equal(held.state.registered.has(tokenIdFor('apps', 'b')), false);
  assert.equal(held.state.registered.has(tokenIdFor('apps', 'a')), true, 'what is registered stays reported');
  const due = decideTargetStep(target, withB, T0 + 10_000);
  assert.ok(due.restart && due.config && due.credentials, 'applied at the end of the interval');
  assert.equal(due.restart.tokens, 2);
});

test('a burst still being issued is held while issuing makes progress, however slow; the hold is bounded', () => {
  const window = progressWindowMs(target);
  assert.equal(window, 10_000, 'restart.minInterval, at least 5 s');
  assert.equal(progressWindowMs({ ...target, restart: { minInterval: 1_000 } }), 5_000);
  const f = fixture(['a', 'b'], ['c', 'd', 'e']);
  const held = decideTargetStep(target, fresh(f), T0);
  assert.deepEqual([held.credentials, held.config, held.restart], [undefined, undefined, undefined]);
  assert.deepEqual(held.hold, { since: T0, progressAt: T0, issued: 2 });
  assert.equal(held.requeueAfterMs, window);
  // One more client issued 9 s later (a slow machine): still held, the window starts again.
  const slower = fixture(['a', 'b', 'c'], ['d', 'e']);
  const progressed = decideTargetStep(target, { ...fresh(slower), hold: held.hold! }, T0 + 9_000);
  assert.equal(progressed.restart, undefined);
  assert.deepEqual(progressed.hold, { since: T0, progressAt: T0 + 9_000, issued: 3 });
  assert.equal(progressed.requeueAfterMs, window);
  // Once everything is issued, one step applies all of it, and the hold ends.
  const done = fixture(['a', 'b', 'c', 'd', 'e']);
  const all = decideTargetStep(target, { ...fresh(done), hold: progressed.hold! }, T0 + 12_000);
  assert.equal(all.restart?.tokens, 5);
  assert.equal(all.hold, undefined);
  // Issuing stalls (clients that never finish): applied without them once the window passes with no progress.
  const stalled = decideTargetStep(target, { ...fresh(slower), hold: progressed.hold! }, T0 + 9_000 + window);
  assert.equal(stalled.restart?.tokens, 3, 'applied without the stragglers');
  // Progress that never ends is bounded too.
  const endless = { since: T0, progressAt: T0 + maxHoldMs(target) - 1, issued: 2 };
  assert.equal(decideTargetStep(target, { ...fresh(f), hold: endless }, T0 + maxHoldMs(target)).restart?.tokens, 2);
  assert.equal(maxHoldMs(target), 300_000);
});

test('a refused client never holds the burst', () => {
  const f = fixture(['a'], ['refused']);
  f.clients[1]!.status = { conditions: [{ type: 'CredentialIssued', status: 'False', reason: 'SecretConflict', message: '', lastTransitionTime: '' }] };
  f.clients.push({ apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { name: 'evil', namespace: 'apps' }, spec: { target: 'default', metadata: { x: '${env:A}' } } });
  assert.equal(decideTargetStep(target, fresh(f), T0).restart?.tokens, 1);
});

test('a JWT target holds no burst: its new clients need no config write and no restart', () => {
  const jwtTarget = exampleTarget({ credentialKind: 'jwt' });
  const f = fixture([], ['c', 'd', 'e']);
  const step = decideTargetStep(jwtTarget, fresh(f), T0);
  assert.equal(step.hold, undefined);
  assert.match(step.config?.text ?? '', /jwks_url:/, 'the jwt method is written at once');
  assert.ok(step.restart);
});

test("what wakes a target includes a client's credential kind and when it switched (the static tokens kept for a switch depend on them)", () => {
  const f = fixture(['a']);
  const client = f.clients[0]!;
  const before = targetInputsOf(client);
  const switched: FliptClient = { ...client, status: { ...client.status, credentialKind: 'jwt' } };
  assert.notEqual(targetInputsOf(switched), before);
  assert.notEqual(targetInputsOf({ ...switched, status: { ...switched.status, credentialKindSince: new Date(T0).toISOString() } }), targetInputsOf(switched));
  assert.equal(targetInputsOf({ ...client, status: { ...client.status, expiresAt: new Date(T0).toISOString() } }), before, 'a JWT refresh time alone does not');
});

test('Flipt rolled on a config that is not ours (helm upgrade while we were away): one restart; replaced alone: none', () => {
  const f = fixture(['a']);
  const ours = rolledOut(afterApply(fresh(f), decideTargetStep(target, fresh(f), T0), T0));
  // The chart recreated the ConfigMap (no record of ours) and rolled Flipt on it.
  const replaced = { ...ours, configMap: { text: SOURCE, managedRecord: undefined, managedIds: [], jwtRecord: undefined, otherDataBytes: 0, otherAnnotationBytes: 0 } };
  const rolled = decideTargetStep(target, { ...replaced, workload: { ...ours.workload!, changedSinceOurRestart: true } }, T0 + 60_000);
  assert.ok(rolled.config, 'our config is written back');
  assert.ok(rolled.restart, 'and Flipt restarted so its pods read it');
  assert.equal(rolled.restart.configHash, ours.workload!.configHash, 'though the restart key is the same');
  // The ConfigMap replaced, Flipt not rolled: its pods still run our config.
  const notRolled = decideTargetStep(target, replaced, T0 + 60_000);
  assert.ok(notRolled.config);
  assert.equal(notRolled.restart, undefined);
});

test("Flipt rolled on a config rewritten by someone who kept our record (kubectl apply, a GitOps sync): one restart; rewritten alone: none", () => {
  const f = fixture(['a']);
  const ours = rolledOut(afterApply(fresh(f), decideTargetStep(target, fresh(f), T0), T0));
  // The text replaced without our tokens; the annotation, never in the applier's last-applied, stays.
  const rewritten = { ...ours, configMap: { ...ours.configMap!, text: SOURCE } };
  const rolled = decideTargetStep(target, { ...rewritten, workload: { ...ours.workload!, changedSinceOurRestart: true } }, T0 + 60_000);
  assert.ok(rolled.config, 'our config is written back');
  assert.ok(rolled.restart, 'and Flipt restarted so its pods read it');
  assert.equal(rolled.restart.configHash, ours.workload!.configHash, 'though the restart key is the same');
  assert.equal(decideTargetStep(target, rewritten, T0 + 60_000).restart, undefined, 'Flipt not rolled: its pods still run our config');
});

test('Flipt rolled on a config without our record, but nothing of ours is in it: no restart', () => {
  // Only a credential no client needs any more is left: nothing the pods should have read from us.
  const leftover = fresh(fixture([]), { credentials: { [tokenIdFor('apps', 'gone')]: generateToken() } });
  const key = decideTargetStep(target, leftover, T0).state.configHash;
  const rolled = { ...leftover, workload: { ...leftover.workload!, configHash: key, changedSinceOurRestart: true } };
  const step = decideTargetStep(target, rolled, T0 + 60_000);
  assert.equal(step.restart, undefined);
});

test('credentials no config refers to any more are kept until Flipt has rolled out without them', () => {
  const f = fixture(['a', 'b']);
  const both = rolledOut(afterApply(fresh(f), decideTargetStep(target, fresh(f), T0), T0));
  const idB = tokenIdFor('apps', 'b');
  f.clients[1]!.metadata.deletionTimestamp = new Date(T0);
  const revoke = decideTargetStep(target, both, T0 + 60_000);
  assert.ok(revoke.restart && revoke.config);
  assert.equal(revoke.state.registered.has(idB), false, 'no longer registered');
  assert.equal(revoke.credentials, undefined, 'the credential stays while old pods may hold it');
  const rolling = afterApply(both, revoke, T0 + 60_000);
  assert.equal(rolling.credentials[idB], f.tokens.get('apps/b'));
  assert.equal(decideTargetStep(target, rolling, T0 + 61_000).credentials, undefined, 'still rolling: still kept');
  const dropped = decideTargetStep(target, rolledOut(rolling), T0 + 62_000);
  assert.deepEqual(Object.keys(dropped.credentials ?? {}), [tokenIdFor('apps', 'a')], 'dropped once the rollout finished');
  assert.equal(dropped.restart, undefined, 'dropping an unreferenced credential needs no restart');
});

test('a hand-written token with a client id: the conflict is reported, the hand-written token left alone', () => {
  const f = fixture(['a']);
  const id = tokenIdFor('apps', 'a');
  const source = `authentication:\n  methods:\n    token:\n      storage:\n        tokens:\n          ${id}:\n            credential: mine\n`;
  const step = decideTargetStep(target, fresh(f, { configMap: { text: source, managedRecord: undefined, managedIds: [], jwtRecord: undefined, otherDataBytes: 0, otherAnnotationBytes: 0 } }), T0);
  assert.ok(step.state.conflicts.has(id));
  assert.equal(step.state.registered.has(id), false);
  assert.match(step.config?.text ?? source, /credential: mine/);
});

test("the ConfigMap applied again with the operator's text but not its record: the record is written back, nothing else", () => {
  const f = fixture(['a', 'b']);
  const registered = rolledOut(afterApply(fresh(f), decideTargetStep(target, fresh(f), T0), T0));
  const ids = [tokenIdFor('apps', 'a'), tokenIdFor('apps', 'b')];
  assert.deepEqual(registered.configMap!.managedIds, ids);
  const lost = { ...registered, configMap: { ...registered.configMap!, managedRecord: undefined, managedIds: [] } };
  const step = decideTargetStep(target, lost, T0 + 60_000);
  assert.deepEqual([...step.state.conflicts], [], 'its own tokens are no conflict');
  assert.deepEqual([...step.state.registered.keys()].sort(), ids, 'and stay registered');
  assert.equal(step.config?.text, registered.configMap!.text, 'the text as it is');
  assert.deepEqual(JSON.parse(step.config!.managedRecord), ids, 'with the record');
  assert.equal(step.restart, undefined, 'no restart');
  assert.equal(step.credentials, undefined);
  // Had Flipt rolled meanwhile, its pods may have read what was there before this text: restarted once.
  const rolled = decideTargetStep(target, { ...lost, workload: { ...lost.workload!, changedSinceOurRestart: true } }, T0 + 60_000);
  assert.ok(rolled.restart);
});

test('a held step keeps what the last step found: conflicts, refusals, and whether authentication is required', () => {
  const limited = exampleTarget({ limits: { clientsPerNamespace: 2 } });
  const f = fixture(['a', 'b', 'c']);
  const source = `authentication:\n  required: false\n  methods:\n    token:\n      storage:\n        tokens:\n          ${tokenIdFor('apps', 'a')}:\n            credential: mine\n`;
  const first = decideTargetStep(limited, fresh(f, { configMap: { text: source, managedRecord: undefined, managedIds: [], jwtRecord: undefined, otherDataBytes: 0, otherAnnotationBytes: 0 } }), T0);
  const found = { conflicts: [...first.state.conflicts], refused: [...first.state.refused.keys()], authenticationRequired: first.state.authenticationRequired };
  assert.deepEqual(found, { conflicts: [tokenIdFor('apps', 'a')], refused: ['apps/c'], authenticationRequired: false });
  const observed = rolledOut(afterApply(fresh(f), first, T0, true));
  f.clients.push(...fixture([], ['d']).clients);
  const held = decideTargetStep(limited, { ...observed, clients: f.clients }, T0 + 60_000);
  assert.ok(held.hold, 'held for the client being issued');
  assert.deepEqual({ conflicts: [...held.state.conflicts], refused: [...held.state.refused.keys()], authenticationRequired: held.state.authenticationRequired }, found);
});

test('the record lost and a client deleted meanwhile: its entry leaves the config with its credential, never a reference to a dropped key', () => {
  const f = fixture(['a', 'b']);
  const registered = rolledOut(afterApply(fresh(f), decideTargetStep(target, fresh(f), T0), T0));
  const [a, b] = [tokenIdFor('apps', 'a'), tokenIdFor('apps', 'b')];
  const lost = { ...registered, configMap: { ...registered.configMap!, managedRecord: undefined, managedIds: [] }, clients: f.clients.filter((c) => c.metadata.name === 'a') };
  const step = decideTargetStep(target, lost, T0 + 60_000);
  assert.deepEqual(JSON.parse(step.config!.managedRecord), [a]);
  assert.ok(!step.config!.text.includes(b), 'b leaves the config');
  assert.ok(step.restart, 'with a restart, as any revocation');
  const { previous: _, ...firstStep } = lost;
  const accepted = [...decideTargetStep(target, firstStep, T0 + 60_000).state.accepted];
  assert.deepEqual(accepted, [fingerprint(f.tokens.get('apps/a')!)], "on an operator's first step too, a (registered by the finished rollout, found without the record) stays accepted through that restart");
  const rolled = rolledOut(afterApply(lost, step, T0 + 60_000));
  const cleanup = decideTargetStep(target, rolled, T0 + 70_000);
  assert.deepEqual(Object.keys(cleanup.credentials ?? {}), [a], 'its credential dropped once the rollout is done, with nothing referring to it');
});

test('a config that is not a YAML mapping is a problem, not a crash', () => {
  const step = decideTargetStep(target, fresh(fixture(['a']), { configMap: { text: '- a\n- b\n', managedRecord: undefined, managedIds: [], jwtRecord: undefined, otherDataBytes: 0, otherAnnotationBytes: 0 } }), T0);
  assert.equal(step.state.problem?.reason, 'InvalidFliptConfig');
  assert.equal(step.restart, undefined);
});

test('YAML that does not parse is a problem, not a crash: on a first step (nothing accepted to carry over) and on a JWT target', () => {
  const broken = { text: 'authentication: [\n', managedRecord: undefined, managedIds: [], jwtRecord: undefined, otherDataBytes: 0, otherAnnotationBytes: 0 };
  const first = decideTargetStep(target, fresh(fixture(['a']), { configMap: broken }), T0);
  assert.deepEqual([first.state.problem?.reason, first.restart, first.config, [...first.state.accepted]], ['InvalidFliptConfig', undefined, undefined, []]);
  const jwt = decideTargetStep(exampleTarget({ credentialKind: 'jwt' }), fresh(fixture(['a']), { configMap: broken }), T0);
  assert.deepEqual([jwt.state.problem?.reason, jwt.config], ['InvalidFliptConfig', undefined]);
});

test('the last client gone and the credentials Secret emptied by hand: the ids the ConfigMap records as ours still leave the config', () => {
  const f = fixture(['a']);
  const registered = rolledOut(afterApply(fresh(f), decideTargetStep(target, fresh(f), T0), T0));
  assert.deepEqual(registered.configMap!.managedIds, [tokenIdFor('apps', 'a')]);
  const later = T0 + 3_600_000;
  const step = decideTargetStep(target, { ...registered, clients: [], credentials: {} }, later);
  assert.ok(step.config, 'the config is rewritten');
  assert.ok(!step.config.text.includes(tokenIdFor('apps', 'a')), 'without the revoked token');
  assert.deepEqual(JSON.parse(step.config.managedRecord), []);
});

test("an operator's first step that restarts Flipt: what the finished rollout registered stays accepted; a rollout still running or of another config counts for nothing", () => {
  const f = fixture(['a']);
  const applied = rolledOut(afterApply(fresh(f), decideTargetStep(target, fresh(f), T0), T0));
  const more = fixture(['b']);
  const clientSecretToken = (c: FliptClient) => f.tokens.get(clientKey(c.metadata.namespace, c.metadata.name)) ?? more.tokens.get(clientKey(c.metadata.namespace, c.metadata.name));
  // A new operator: no previous step; b was created while none ran.
  const { previous: _, ...started } = { ...applied, clients: [...f.clients, ...more.clients], clientSecretToken };
  const step = decideTargetStep(target, started, T0 + 60_000);
  assert.ok(step.restart, 'b needs a restart');
  assert.deepEqual([...step.state.accepted], [fingerprint(f.tokens.get('apps/a')!)], 'a stays accepted through it, b is not yet');
  const stillRolling = decideTargetStep(target, { ...started, workload: { ...started.workload!, rollout: { done: false, detail: '0 of 1 updated' } } }, T0 + 60_000);
  assert.deepEqual([...stillRolling.state.accepted], [], 'a rollout still running: which pods run what is unknown');
  const otherConfig = decideTargetStep(target, { ...started, workload: { ...started.workload!, configHash: 'another' } }, T0 + 60_000);
  assert.deepEqual([...otherConfig.state.accepted], [], 'pods rolled out on another config');
});

test('while a rollout runs, what the pods accepted before counts only as long as the config still registers it', () => {
  const f = fixture(['a']);
  const first = afterApply(fresh(f), decideTargetStep(target, fresh(f), T0), T0);
  const revoked = 'f'.repeat(16);
  const step = decideTargetStep(target, { ...first, previous: { ...first.previous!, accepted: new Set([revoked]) } }, T0 + 1_000);
  assert.equal(step.state.rollout.done, false);
  assert.equal(step.state.accepted.has(revoked), false);
});

test("Flipt's environment: a written FLIPT_AUTHENTICATION_REQUIRED decides over the config, and an override is published with the state, at every step", () => {
  const f = fixture(['a']);
  const notRequired = withEnv(fresh(f), [{ name: 'FLIPT_AUTHENTICATION_REQUIRED', value: 'false' }]);
  const first = decideTargetStep(target, notRequired, T0);
  assert.ok(first.config && first.restart, 'the config is written as usual: the operator never writes authentication.required');
  assert.deepEqual([first.state.authenticationRequired, requiresAuthentication(first.state)], [true, false], 'the config says true, Flipt reads false');
  assert.equal(first.state.envOverride, undefined);
  const next = decideTargetStep(target, afterApply(notRequired, first, T0), T0 + 1);
  assert.equal(requiresAuthentication(next.state), false, 'and on a step that writes nothing');
  const required = decideTargetStep(target, withEnv(fresh(f, { configMap: { ...fresh(f).configMap!, text: 'authentication:\n  required: false\n' } }), [{ name: 'FLIPT_AUTHENTICATION_REQUIRED', value: 'true' }]), T0);
  assert.deepEqual([required.state.authenticationRequired, requiresAuthentication(required.state)], [false, true], 'the config says false, Flipt reads true');
  const off = decideTargetStep(target, withEnv(fresh(f), [{ name: 'FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', value: 'false' }]), T0);
  assert.deepEqual([off.state.envOverride?.reason, off.state.envOverride?.blocking, requiresAuthentication(off.state)], ['FliptEnvOverride', true, true]);
  assert.ok(off.config && off.restart, 'the target is still written: the override is for someone to remove');
  const { workload: _, ...noWorkload } = fresh(f);
  assert.equal(decideTargetStep(target, noWorkload, T0).state.envOverride, undefined);
});

test("Flipt's environment is read afresh on a held step: a variable removed during a burst no longer counts", () => {
  const f = fixture(['a'], ['b']);
  const held = decideTargetStep(target, withEnv(fresh(f), [{ name: 'FLIPT_AUTHENTICATION_REQUIRED', value: 'false' }]), T0);
  assert.ok(held.hold, 'the burst is held');
  assert.equal(requiresAuthentication(held.state), false);
  const removed = decideTargetStep(target, { ...fresh(f), hold: held.hold!, previous: held.state }, T0 + 1_000);
  assert.ok(removed.hold, 'still held');
  assert.equal(requiresAuthentication(removed.state), true, "the config's true, not the variable the previous step saw");
});

test("a variable that makes Flipt refuse the credentials blocks Ready while it is set, and after it is gone until a rollout without it has finished; what the pods accept stays a fact of the rollout", () => {
  const f = fixture(['a']);
  const fp = fingerprint(f.tokens.get(clientKey('apps', 'a'))!);
  const blockedEnv = [{ name: 'FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', value: 'false' }];
  const first = decideTargetStep(target, withEnv(fresh(f), blockedEnv), T0);
  const applied = withEnv(rolledOut(afterApply(withEnv(fresh(f), blockedEnv), first, T0)), blockedEnv);
  const blocked = decideTargetStep(target, applied, T0 + 1_000);
  assert.equal(blocked.state.rollout.done, true);
  assert.equal(blocked.state.envBlocks, true, 'rolled out, but Flipt runs with the token method off');
  assert.equal(blocked.state.accepted.has(fp), true, 'the rollout finished: rotations and switches may go on');
  // The variable removed: the pod template changed, its rollout runs.
  const rolling = { ...applied, workload: { ...applied.workload!, env: { containers: ['flipt'], vars: [], envFrom: [] }, rollout: { done: false, detail: '0 of 1 replicas updated' } }, previous: blocked.state };
  const removed = decideTargetStep(target, rolling, T0 + 2_000);
  assert.equal(removed.state.envOverride, undefined);
  assert.equal(removed.state.envBlocks, true, 'old pods still run with the variable');
  const done = decideTargetStep(target, { ...rolledOut(rolling), previous: removed.state }, T0 + 3_000);
  assert.equal(done.state.envBlocks, undefined);
  assert.equal(done.state.accepted.has(fp), true);
});

test("a JWT target blocked by a variable set after its jwt method: the method stays accepted as the rollout says, so JWTs are still refreshed", () => {
  const jwtTarget = exampleTarget({ credentialKind: 'jwt' });
  const f = fixture(['a']);
  const env = [{ name: 'FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', value: 'true' }];
  const first = decideTargetStep(jwtTarget, fresh(f), T0);
  const rolled = withEnv(rolledOut(afterApply(fresh(f), first, T0)), env);
  const step = decideTargetStep(jwtTarget, rolled, T0 + 1_000);
  assert.deepEqual([step.state.jwtConfigured, step.state.jwtAccepted, step.state.envBlocks, step.state.jwtProblem], [true, true, true, undefined]);
});

test("the kubernetes method as Flipt's environment decides it: the jwt method is added only beside one that is off", () => {
  const jwtTarget = exampleTarget({ credentialKind: 'jwt' });
  const f = fixture(['a']);
  const withConfig = (enabled: string, env: { name: string; value: string | undefined; container?: string }[]) =>
    withEnv(fresh(f, { configMap: { ...fresh(f).configMap!, text: `authentication:\n  required: true\n  methods:\n    kubernetes:\n      enabled: ${enabled}\n` } }), env);
  const K = 'FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED';
  // Added: the variable turns the config's method off, or the config's ${env:NAME} reads false.
  for (const [enabled, env] of [['true', [{ name: K, value: 'false' }]], ['${env:K8S_AUTH}', [{ name: 'K8S_AUTH', value: 'false' }]], ['${env:K8S_AUTH}', []]] as const) {
    const step = decideTargetStep(jwtTarget, withConfig(enabled, [...env]), T0);
    assert.deepEqual([step.state.problem, step.state.jwtProblem], [undefined, undefined], `${enabled} with ${JSON.stringify(env)}`);
    assert.match(step.config?.text ?? '', /jwks_url/, 'the jwt method is written');
  }
  // Not added: Flipt would refuse to start with both, or the operator cannot tell.
  // The last column: whether Ready is blocked too (only where Flipt would not start whatever the operator does).
  const cases = [
    ['false', [{ name: K, value: 'true' }], /pod template for target "default" sets FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED \(container flipt\), which turns the kubernetes method on.*remove the variable/, false],
    ['false', [{ name: K, value: undefined }], /sets FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED \(container flipt\), to a value the operator cannot read as false/, false],
    ['true', [], /config for target "default" enables the kubernetes method, and Flipt cannot enable the jwt method beside it: set authentication\.methods\.kubernetes\.enabled: false/, false],
    ['true', [{ name: K, value: 'false', container: 'sidecar' }], /enables the kubernetes method, and container flipt of its pod template does not turn it off, and Flipt cannot enable the jwt method beside it/, false],
    ['${env:K8S_AUTH}', [{ name: 'K8S_AUTH', value: 'true' }], /takes authentication\.methods\.kubernetes\.enabled from \$\{env:K8S_AUTH\}, which container flipt of Flipt's pod template sets to true, and Flipt cannot enable the jwt method/, false],
    ['${env:K8S_AUTH}', [{ name: 'K8S_AUTH', value: undefined }], /from \$\{env:K8S_AUTH\}, which the operator cannot read as false \(K8S_AUTH \(container flipt\)\)/, false],
    ['${env:K8S_AUTH}', [{ name: 'K8S_AUTH', value: 'yes' }], /from \$\{env:K8S_AUTH\}, which the operator cannot read as false/, true],
  ] as const;
  for (const [enabled, env, message, blocked] of cases) {
    const step = decideTargetStep(jwtTarget, withConfig(enabled, [...env]), T0);
    assert.equal(step.state.jwtProblem?.reason, 'KubernetesMethodEnabled', `${enabled} with ${JSON.stringify(env)}`);
    assert.match(step.state.jwtProblem!.message, message);
    assert.equal(step.state.envOverride?.blocking ?? false, blocked, `${enabled} with ${JSON.stringify(env)}: Ready blocked`);
    assert.equal(step.state.problem, undefined);
    assert.doesNotMatch(step.config?.text ?? '', /jwt/, 'no jwt method is written');
  }
});

test("a JWT target's kubernetes method turned on through ${env:NAME} after its jwt method was written: Ready waits, the method stays and JWTs are still refreshed", () => {
  const jwtTarget = exampleTarget({ credentialKind: 'jwt' });
  const f = fixture(['a']);
  const config = (env: { name: string; value: string | undefined }[], envFrom: string[] = []) => {
    const o = withEnv(fresh(f, { configMap: { ...fresh(f).configMap!, text: 'authentication:\n  required: true\n  methods:\n    kubernetes:\n      enabled: ${env:K8S_AUTH}\n' } }), env);
    return { ...o, workload: { ...o.workload!, env: { ...o.workload!.env, containers: ['flipt', ...envFrom], envFrom } } };
  };
  const off = [{ name: 'K8S_AUTH', value: 'false' }];
  const first = decideTargetStep(jwtTarget, config(off), T0);
  assert.match(first.config?.text ?? '', /jwks_url/);
  const written = rolledOut(afterApply(config(off), first, T0));
  const settled = decideTargetStep(jwtTarget, written, T0 + 1_000);
  assert.deepEqual([settled.state.jwtConfigured, settled.state.jwtAccepted, settled.state.envOverride], [true, true, undefined]);
  for (const [env, envFrom, blocking] of [[[{ name: 'K8S_AUTH', value: 'true' }], [], true], [[{ name: 'K8S_AUTH', value: undefined }], [], false], [[], ['sidecar'], false]] as const) {
    const flipped = { ...config([...env], [...envFrom]), configMap: written.configMap, credentials: written.credentials, previous: settled.state };
    const step = decideTargetStep(jwtTarget, { ...flipped, workload: { ...flipped.workload!, configHash: written.workload!.configHash } }, T0 + 2_000);
    const what = JSON.stringify([env, envFrom]);
    assert.deepEqual([step.state.jwtProblem, step.state.jwtConfigured, step.state.jwtAccepted], [undefined, true, true], what);
    assert.equal(step.state.envOverride?.blocking, blocking, what);
    assert.equal(step.config, undefined, `${what}: the jwt method is left in place`);
  }
  // On a step that waits for the interval between restarts too.
  const flipped = { ...config([{ name: 'K8S_AUTH', value: 'true' }]), configMap: written.configMap, credentials: written.credentials, previous: settled.state };
  const waiting = decideTargetStep(jwtTarget, { ...flipped, workload: { ...flipped.workload!, configHash: 'older', restartedAtMs: T0 + 2_000 } }, T0 + 2_000);
  assert.ok(waiting.requeueAfterMs! > 0 && !waiting.restart, 'the restart waits');
  assert.equal(waiting.state.envOverride?.blocking, true);
  // The config itself turning it on: the method stays too (pods that run it validate JWTs), and the problem is the config's.
  const literal = decideTargetStep(jwtTarget, { ...written, configMap: { ...written.configMap!, text: written.configMap!.text!.replace('${env:K8S_AUTH}', 'true') }, previous: settled.state }, T0 + 3_000);
  assert.deepEqual([literal.state.jwtProblem?.reason, literal.state.jwtConfigured, literal.state.jwtAccepted], ['KubernetesMethodEnabled', true, true]);
  assert.match(literal.state.jwtProblem!.message, /enables the kubernetes method beside the jwt method the operator wrote, and Flipt refuses to start with both/);
  assert.equal(literal.config, undefined, 'the operator writes nothing to the config');
});

test('a JWT target whose FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED=false is removed after its jwt method was written: the method stays and is still counted as accepted', () => {
  const jwtTarget = exampleTarget({ credentialKind: 'jwt' });
  const f = fixture(['a']);
  const source = 'authentication:\n  required: true\n  methods:\n    kubernetes:\n      enabled: true\n';
  const withOff = withEnv(fresh(f, { configMap: { ...fresh(f).configMap!, text: source } }), [{ name: 'FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', value: 'false' }]);
  const first = decideTargetStep(jwtTarget, withOff, T0);
  assert.match(first.config?.text ?? '', /jwks_url/, 'off in every container: the jwt method goes in');
  const written = rolledOut(afterApply(withOff, first, T0));
  const settled = decideTargetStep(jwtTarget, written, T0 + 1_000);
  const removed = decideTargetStep(jwtTarget, { ...withEnv(written, []), previous: settled.state }, T0 + 2_000);
  assert.deepEqual([removed.state.jwtProblem?.reason, removed.state.jwtConfigured, removed.state.jwtAccepted], ['KubernetesMethodEnabled', true, true]);
  assert.match(removed.state.jwtProblem!.message, /beside the jwt method the operator wrote/);
  assert.equal(removed.config, undefined);
});

test('authentication.required through ${env:NAME}: the step reads NAME from the pod template', () => {
  const f = fixture(['a']);
  const config = (env: { name: string; value: string | undefined }[]) => withEnv(fresh(f, { configMap: { ...fresh(f).configMap!, text: 'authentication:\n  required: ${env:AUTH_REQUIRED}\n' } }), env);
  const off = decideTargetStep(target, config([{ name: 'AUTH_REQUIRED', value: 'false' }]), T0).state;
  assert.deepEqual([off.authenticationRequired, off.authenticationRequiredByEnv, requiresAuthentication(off)], [{ env: 'AUTH_REQUIRED' }, { required: false, variable: 'AUTH_REQUIRED', reference: true, container: 'flipt' }, false]);
  assert.equal(requiresAuthentication(decideTargetStep(target, config([{ name: 'AUTH_REQUIRED', value: 'true' }]), T0).state), true);
  const unreadable = decideTargetStep(target, config([{ name: 'AUTH_REQUIRED', value: undefined }]), T0).state;
  assert.deepEqual([requiresAuthentication(unreadable), unreadable.envOverride?.blocking], [true, false], 'no claim that tokens protect nothing, a warning instead');
});

test('a failed write keeps what the target held, with Flipt\'s environment as this step read it', () => {
  const f = fixture(['a']);
  const before = decideTargetStep(target, withEnv(fresh(f), [{ name: 'FLIPT_AUTHENTICATION_REQUIRED', value: 'false' }, { name: 'FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', value: 'false' }]), T0).state;
  const now = decideTargetStep(target, withEnv(fresh(f), [{ name: 'FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TOKENS_X_CREDENTIAL', value: 'x' }]), T0 + 1).state;
  const published = afterFailedWrite(before, now, 'API 500');
  assert.equal(published.writeFailure, 'API 500');
  assert.deepEqual(published.registered, before.registered, 'the target as it was');
  assert.deepEqual([published.authenticationRequiredByEnv, published.envOverride?.blocking, published.envBlocks], [undefined, false, undefined], 'the environment as it is');
  assert.equal(afterFailedWrite(undefined, before, 'x').envBlocks, true);
});

test("a failed first write (nothing published before it) never claims Flipt runs the planned config: a deleted client's finalizer waits", () => {
  const f = fixture(['a', 'b']);
  const both = rolledOut(afterApply(fresh(f), decideTargetStep(target, fresh(f), T0), T0));
  f.clients[1]!.metadata.deletionTimestamp = new Date(T0);
  const { previous: _none, ...restarted } = both;
  const revoke = decideTargetStep(target, restarted, T0 + 60_000);
  assert.ok(revoke.restart && revoke.config, 'the revoking write');
  const published = afterFailedWrite(undefined, revoke.state, 'API 500');
  assert.equal(published.writeFailure, 'API 500');
  assert.equal(published.registered.has(tokenIdFor('apps', 'b')), false, 'as planned');
  assert.notEqual(published.configHash, published.workloadHash, 'but Flipt was not restarted on it');
  assert.ok(published.accepted.has(fingerprint(f.tokens.get('apps/a')!)), 'the others stay accepted');
});

test("the credentials Secret as Flipt's pod template gives it: read at every step, a held one included, with the base path of the config the target holds; kept through a failed write", () => {
  const f = fixture(['a'], ['b']);
  const config = 'authentication:\n  required: true\nsecrets:\n  providers:\n    file:\n      enabled: true\n      base_path: /run/secrets\n';
  const mounted = (...mountPaths: string[]) => (o: ObservedTarget): ObservedTarget => ({ ...o, workload: { ...o.workload!, credentials: [{ container: 'flipt', mountPaths, envFrom: false }] } });
  const ready = fixture(['a']);
  const withConfig = (fx: Fixture) => fresh(fx, { configMap: { ...fresh(fx).configMap!, text: config } });
  const first = decideTargetStep(target, mounted('/etc/flipt/secrets')(withConfig(ready)), T0);
  assert.ok(first.config && first.restart, 'the target is still written: Flipt may read the Secret in a way the operator does not see');
  assert.equal(first.state.secretsBasePath, '/run/secrets');
  assert.equal(first.state.credentialsNotDelivered?.reason, 'CredentialsNotMounted');
  assert.match(first.state.credentialsNotDelivered!.message, /\(container flipt: \/run\/secrets, where it has the Secret at \/etc\/flipt\/secrets\)/);
  assert.equal(decideTargetStep(target, mounted('/run/secrets')(withConfig(ready)), T0).state.credentialsNotDelivered, undefined);
  // No container mounts the config: nothing to say.
  assert.equal(decideTargetStep(target, withConfig(ready), T0).state.credentialsNotDelivered, undefined);
  // A held step reads the pod template afresh, against the base path the last render found.
  const held = decideTargetStep(target, { ...mounted()(withConfig(f)), previous: first.state }, T0 + 1_000);
  assert.ok(held.hold, 'the burst is held');
  assert.match(held.state.credentialsNotDelivered?.message ?? '', /\(container flipt: \/run\/secrets\)/);
  const fixed = decideTargetStep(target, { ...mounted('/run/secrets')(withConfig(f)), hold: held.hold!, previous: held.state }, T0 + 2_000);
  assert.ok(fixed.hold, 'still held');
  assert.equal(fixed.state.credentialsNotDelivered, undefined);
  assert.deepEqual(afterFailedWrite(fixed.state, first.state, 'API 500').credentialsNotDelivered, first.state.credentialsNotDelivered, 'the pod template as this step read it');
});

test('a JWT target accepts JWTs once the rollout of its jwt method has finished, and goes on accepting them through a later rollout of a config that keeps it', () => {
  const jwtTarget = exampleTarget({ credentialKind: 'jwt' });
  const f = fixture(['a']);
  const first = decideTargetStep(jwtTarget, fresh(f), T0);
  assert.deepEqual([first.state.jwtConfigured, first.state.jwtAccepted], [true, false], 'written: configured, not yet accepted by any pod');
  const rolling = afterApply(fresh(f), first, T0);
  const during = decideTargetStep(jwtTarget, rolling, T0 + 1_000);
  assert.deepEqual([during.state.jwtConfigured, during.state.jwtAccepted], [true, false], 'the ConfigMap has it; the pods are still rolling');
  const done = decideTargetStep(jwtTarget, { ...rolledOut(rolling), previous: during.state }, T0 + 2_000);
  assert.deepEqual([done.state.jwtConfigured, done.state.jwtAccepted], [true, true]);
  // Another rollout (someone restarted Flipt): the pods had the method before, and the config still has it.
  const again = { ...rolledOut(rolling), workload: { ...rolling.workload!, rollout: { done: false, detail: '0 of 1 replicas updated' } }, previous: done.state };
  assert.equal(decideTargetStep(jwtTarget, again, T0 + 3_000).state.jwtAccepted, true);
});

test('a burst hold survives a step that finds the ConfigMap or the workload missing', () => {
  const f = fixture(['a'], ['b']);
  const hold = { since: T0, progressAt: T0, issued: 1 };
  assert.deepEqual(decideTargetStep(target, { ...fresh(f), configMap: undefined, hold }, T0 + 1_000).hold, hold);
  const { workload: _, ...withoutWorkload } = fresh(f);
  assert.deepEqual(decideTargetStep(target, { ...withoutWorkload, hold }, T0 + 1_000).hold, hold);
});

test('rolloutSince: when the step restarts Flipt, then the restart the workload records while it rolls, and nothing once it is done', () => {
  const f = fixture(['a']);
  const first = decideTargetStep(target, fresh(f), T0);
  assert.ok(first.restart);
  assert.equal(first.state.rolloutSince, T0);
  const rolling = afterApply(fresh(f), first, T0 - 500);
  assert.equal(decideTargetStep(target, rolling, T0 + 1_000).state.rolloutSince, T0 - 500);
  assert.equal(decideTargetStep(target, rolledOut(rolling), T0 + 2_000).state.rolloutSince, undefined);
});

test("a JWT target whose ConfigMap lost the record of the operator's jwt method (its text kept) takes the method as its own again; one that says anything else is someone else's", () => {
  const jwtTarget = exampleTarget({ credentialKind: 'jwt' });
  const f = fixture(['a']);
  const first = decideTargetStep(jwtTarget, fresh(f), T0);
  const done = rolledOut(afterApply(fresh(f), first, T0));
  const lost = { ...done, configMap: { ...done.configMap!, jwtRecord: undefined } };
  const step = decideTargetStep(jwtTarget, lost, T0 + 1_000);
  assert.equal(step.state.jwtProblem, undefined);
  assert.equal(step.config?.text, done.configMap!.text, 'the text stays as it is');
  assert.equal(step.config?.jwtRecord, first.config!.jwtRecord, 'the record is written back');
  assert.equal(step.restart, undefined);
  // A jwt method with one setting more is not the operator's, record or not.
  const more = { ...lost, configMap: { ...lost.configMap, text: lost.configMap.text!.replace('      enabled: true\n      jwks_url:', '      enabled: true\n      public_key_file: /k.pem\n      jwks_url:') } };
  assert.notEqual(more.configMap.text, lost.configMap.text);
  assert.equal(decideTargetStep(jwtTarget, more, T0 + 1_000).state.jwtProblem?.reason, 'JwtMethodConflict');
  const off = { ...lost, configMap: { ...lost.configMap, text: lost.configMap.text!.replace('    jwt:\n      enabled: true\n', '    jwt:\n      enabled: false\n') } };
  assert.notEqual(off.configMap.text, lost.configMap.text);
  assert.equal(decideTargetStep(jwtTarget, off, T0 + 1_000).state.jwtProblem?.reason, 'JwtMethodConflict', 'turned off by hand: not taken over');
  // Any one setting other than the operator's: someone else's identity provider.
  const edits: Array<[string, (string | number)[], unknown]> = [
    ['another key set', ['jwks_url'], 'https://idp.example/jwks.json'],
    ['another issuer', ['validate_claims', 'issuer'], 'https://idp.example'],
    ['another audience', ['validate_claims', 'audiences'], ['someone-else']],
    ['a second audience', ['validate_claims', 'audiences'], [jwtTarget.jwt.audience, 'someone-else']],
    ['one claim more', ['validate_claims', 'subject'], 'x'],
  ];
  for (const [what, path, value] of edits) {
    const doc = parseDocument(lost.configMap.text!);
    doc.setIn(['authentication', 'methods', 'jwt', ...path], value);
    const other = { ...lost, configMap: { ...lost.configMap, text: doc.toString() } };
    assert.equal(decideTargetStep(jwtTarget, other, T0 + 1_000).state.jwtProblem?.reason, 'JwtMethodConflict', what);
  }
});

test("the operator's own jwt method follows its settings, and keeps its record while a problem leaves it as it is", () => {
  const jwtTarget = exampleTarget({ credentialKind: 'jwt' });
  const f = fixture(['a']);
  const first = decideTargetStep(jwtTarget, fresh(f), T0);
  const done = rolledOut(afterApply(fresh(f), first, T0));
  // The operator's Service moved: the method it wrote is rewritten with the new key set.
  const moved = { ...jwtTarget, jwt: { ...jwtTarget.jwt, jwksUrl: 'http://fco.other.svc:8443/.well-known/jwks.json' } };
  const step = decideTargetStep(moved, done, T0 + 60_000);
  assert.equal(step.state.jwtProblem, undefined);
  assert.match(step.config?.text ?? '', /jwks_url: http:\/\/fco\.other\.svc:8443/);
  assert.ok(step.restart);
  // No key set in the operator config: a problem; the method and its record stay as written.
  const unset = decideTargetStep({ ...jwtTarget, jwt: { ...jwtTarget.jwt, jwksUrl: undefined } }, done, T0 + 60_000);
  assert.equal(unset.state.jwtProblem?.reason, 'JwksUrlMissing');
  assert.equal(unset.config ? unset.config.jwtRecord : done.configMap!.jwtRecord, first.config!.jwtRecord);
});
