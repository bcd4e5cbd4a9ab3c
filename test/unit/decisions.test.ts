import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bindingVerdict, decideToken, desiredClientSecret, readinessVerdict, refusal, registrationVerdict, replacementSecret, revoked, rolloutQuietUntil, ROLLOUT_QUIET_MS, sameStatus, secretBehindStatus, secretNeedsUpdate, credentialVerdictConditions, finalizerWriteFailedVerdict, reportsRefusedWrite, secretWriteFailedVerdict, statusEvents, statusWriteRefusedNote, withCondition, workloadsVerdict, type WorkloadRestart } from '../../src/fliptclient/decisions.ts';
import type { TargetConfig } from '../../src/config/operator-config.ts';
import { metadataProblems, secretNameFor, servedBy, targetNameOf, type FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { fingerprint, generateToken } from '../../src/vocabulary/credentials.ts';
import { accepts, type TargetState } from '../../src/vocabulary/registration.ts';
import { nextTokenIdFor } from '../../src/vocabulary/rotation.ts';
import { RESTART_GENERATION_ANNOTATION, rolloutState, viewWorkload } from '../../src/fliptinstance/workload.ts';
import { exampleTarget } from '../support/target-fixture.ts';

test('decideToken keeps, adopts, restores, or issues, in that order', () => {
  const a = generateToken();
  const b = generateToken();
  assert.deepEqual(decideToken(fingerprint(a), a, { id: b }), { action: 'keep', token: a });
  assert.deepEqual(decideToken(undefined, a, {}), { action: 'adopt', token: a }, 'Secret written just before a crash');
  assert.deepEqual(decideToken(fingerprint(b), a, { id: b }), { action: 'restore', token: b }, 'Secret edited: the registered token wins');
  assert.deepEqual(decideToken(fingerprint(b), undefined, { id: b }), { action: 'restore', token: b }, 'Secret deleted');
  const lost = decideToken(fingerprint(a), undefined, {});
  assert.equal(lost.action, 'issue');
  assert.equal(lost.action === 'issue' && lost.reason, 'SecretLost');
  const first = decideToken(undefined, undefined, {});
  assert.equal(first.action === 'issue' && first.reason, 'FirstIssue');
  assert.equal(decideToken(undefined, 'not-a-token', {}).action, 'issue', 'a malformed Secret value is never adopted');
});

const snapshot = (over: Partial<TargetState> = {}): TargetState => ({
  registered: new Map(),
  accepted: new Set(),
  refused: new Map(),
  conflicts: new Set(),
  rollout: { done: true, detail: 'done' },
  authenticationRequired: true,
  jwtConfigured: false,
  jwtAccepted: false,
  configHash: 'h',
  workloadHash: 'h',
  ...over,
});

test("revoked: once neither the client's token nor a rotation's new one is in the config, and Flipt was told to restart with it", () => {
  const id = 'app_web';
  assert.equal(revoked(snapshot(), id), true);
  assert.equal(revoked(snapshot({ registered: new Map([['app_other', 'f']]) }), id), true, 'another client registered');
  assert.equal(revoked(snapshot({ registered: new Map([[id, 'f']]) }), id), false, 'its token still in the config');
  assert.equal(revoked(snapshot({ registered: new Map([[nextTokenIdFor(id), 'f']]) }), id), false, "a rotation's new token still in the config");
  assert.equal(revoked(snapshot({ configHash: 'without', workloadHash: 'with' }), id), false, 'Flipt not yet told to restart without it');
});

test('registrationVerdict: problem, conflict, registered, stale, pending', () => {
  assert.equal(registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ problem: { reason: 'ConfigMapMissing', message: 'm' } }), 't').reason, 'ConfigMapMissing');
  assert.equal(registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ conflicts: new Set(['ns_a']) }), 't').reason, 'TokenIdConflict');
  assert.equal(registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ registered: new Map([['ns_a', 'f1']]) }), 't').reason, 'Registered');
  assert.equal(registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ registered: new Map([['ns_a', 'f1']]), authenticationRequired: false }), 't').reason, 'AuthenticationNotRequired');
  assert.equal(registrationVerdict('ns/a', 'ns_a', 'f2', snapshot({ registered: new Map([['ns_a', 'f1']]) }), 't').reason, 'UpdatePending');
  // Mid-rotation the token of record is the new one, under <id>_next until the old one leaves.
  assert.equal(registrationVerdict('ns/a', 'ns_a', 'f2', snapshot({ registered: new Map([['ns_a', 'f1'], ['ns_a_next', 'f2']]) }), 't').reason, 'Registered');
  const pending = registrationVerdict('ns/a', 'ns_a', 'f1', snapshot(), 't');
  assert.equal(pending.reason, 'RegistrationPending');
  assert.match(pending.message, /burst.*restart.minInterval/);
  const full = snapshot({ refused: new Map([['ns/a', { reason: 'TargetFull' as const, message: 'Target "t" is full' }]]) });
  assert.deepEqual([registrationVerdict('ns/a', 'ns_a', 'f1', full, 't').reason, registrationVerdict('ns/b', 'ns_b', 'f1', full, 't').reason], ['TargetFull', 'RegistrationPending']);
  const failed = registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ writeFailure: 'API 422: too large' }), 't');
  assert.deepEqual([failed.reason, failed.message.includes('API 422: too large')], ['TargetWriteFailed', true]);
  assert.equal(registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ writeFailure: 'x', registered: new Map([['ns_a', 'f1']]) }), 't').reason, 'Registered', 'a registered client is not affected');
});

test('the credentials Secret not given to Flipt as its config refers to it: a registered client is warned, after a variable that makes Flipt refuse the token, before the authentication warnings', () => {
  const registered = new Map([['ns_a', 'f1']]);
  const credentialsNotDelivered = { reason: 'CredentialsNotMounted' as const, message: 'Deployment flipt/flipt mounts Y' };
  const warned = registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ registered, credentialsNotDelivered }), 't');
  assert.deepEqual(warned, { status: 'True', reason: 'CredentialsNotMounted', message: 'Registered with target "t" as token ns_a, but Deployment flipt/flipt mounts Y' });
  const blocking = { reason: 'FliptEnvOverride' as const, blocking: true, message: 'Deployment flipt/flipt sets X' };
  assert.equal(registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ registered, credentialsNotDelivered, envOverride: blocking }), 't').reason, 'FliptEnvOverride');
  assert.equal(registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ registered, credentialsNotDelivered, envOverride: { ...blocking, blocking: false } }), 't').reason, 'CredentialsNotMounted');
  assert.equal(registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ registered, credentialsNotDelivered, authenticationRequired: false }), 't').reason, 'CredentialsNotMounted');
  assert.equal(registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ credentialsNotDelivered }), 't').reason, 'RegistrationPending');
  const applied = (reason: string) => [{ type: 'ConfigApplied' as const, status: 'True' as const, reason, message: 'm', lastTransitionTime: '' }];
  assert.deepEqual(statusEvents('u', applied('Registered'), applied('CredentialsNotMounted'), false, undefined).events.map((e) => `${e.type} ${e.reason}`), ['Warning CredentialsNotMounted']);
});

test('new metadata the target has no room for: the client stays registered and Ready, its ConfigApplied says why, once as a Warning Event', () => {
  const registered = new Map([['ns_a', 'f1']]);
  const metadataWithoutRoom = new Map([['ns/a', 'target "t" has no room for the new metadata']]);
  const applied = registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ registered, metadataWithoutRoom }), 't');
  assert.deepEqual(applied, { status: 'True', reason: 'MetadataNotApplied', message: 'Registered with target "t" as token ns_a, but target "t" has no room for the new metadata' });
  assert.equal(registrationVerdict('ns/b', 'ns_b', 'f1', snapshot({ registered: new Map([['ns_b', 'f1']]), metadataWithoutRoom }), 't').reason, 'Registered', 'only that client');
  assert.equal(readinessVerdict({ status: 'True', reason: 'Issued', message: '' }, applied, snapshot({ registered, accepted: new Set(['f1']) }), 'Deployment flipt/flipt', true).reason, 'Ready');
  const condition = (reason: string) => [{ type: 'ConfigApplied' as const, status: 'True' as const, reason, message: 'm', lastTransitionTime: '' }];
  assert.deepEqual(statusEvents('u', condition('Registered'), condition('MetadataNotApplied'), false, undefined).events.map((e) => `${e.type} ${e.reason}`), ['Warning MetadataNotApplied']);
  assert.deepEqual(statusEvents('u', condition('MetadataNotApplied'), condition('MetadataNotApplied'), false, undefined).events, []);
});

test("Flipt's environment overriding the token method: a registered client is not Ready when Flipt is known to refuse its token, warned when unknown", () => {
  const registered = new Map([['ns_a', 'f1']]);
  const blocking = { reason: 'FliptEnvOverride' as const, blocking: true, message: 'Deployment flipt/flipt sets X' };
  const blocked = registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ registered, envOverride: blocking, authenticationRequired: false }), 't');
  assert.deepEqual(blocked, { status: 'False', reason: 'FliptEnvOverride', message: 'Registered with target "t" as token ns_a, but Deployment flipt/flipt sets X' });
  assert.equal(readinessVerdict({ status: 'True', reason: 'Issued', message: '' }, blocked, snapshot({ registered }), 'Deployment flipt/flipt', true).reason, 'FliptEnvOverride');
  const warning = registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ registered, envOverride: { ...blocking, blocking: false } }), 't');
  assert.deepEqual([warning.status, warning.reason], ['True', 'FliptEnvOverride']);
  assert.equal(registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ registered, envOverride: { ...blocking, blocking: false }, authenticationRequired: false }), 't').reason, 'AuthenticationNotRequired');
  // Not registered yet: waiting says more than the override.
  assert.equal(registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ envOverride: blocking }), 't').reason, 'RegistrationPending');
  // ConfigApplied turning FliptEnvOverride is a Warning Event, once.
  const applied = (reason: string) => [{ type: 'ConfigApplied' as const, status: 'True' as const, reason, message: 'm', lastTransitionTime: '' }];
  assert.deepEqual(statusEvents('u', applied('Registered'), applied('FliptEnvOverride'), false, undefined).events.map((e) => `${e.type} ${e.reason}`), ['Warning FliptEnvOverride']);
  assert.deepEqual(statusEvents('u', applied('FliptEnvOverride'), applied('FliptEnvOverride'), false, undefined).events, []);
  // Turning blocking (Ready False with the reason) is announced too, once though both conditions carry it.
  const ready = (status: 'True' | 'False', reason: string) => ({ type: 'Ready' as const, status, reason, message: 'm', lastTransitionTime: '' });
  const [warned, blockedNow] = [[ready('True', 'Ready'), ...applied('FliptEnvOverride')], [ready('False', 'FliptEnvOverride'), ...applied('FliptEnvOverride')]];
  assert.deepEqual(statusEvents('u', warned, blockedNow, false, undefined).events.map((e) => `${e.type} ${e.reason}`), ['Warning FliptEnvOverride']);
  assert.deepEqual(statusEvents('u', [ready('True', 'Ready'), ...applied('Registered')], blockedNow, false, undefined).events.map((e) => `${e.type} ${e.reason}`), ['Warning FliptEnvOverride']);
  // Ready waits while the target says a variable blocks, or blocked until a rollout without it.
  const issued = { status: 'True' as const, reason: 'Issued', message: '' };
  const registeredVerdict = { status: 'True' as const, reason: 'Registered', message: '' };
  assert.equal(readinessVerdict(issued, registeredVerdict, snapshot({ registered, envBlocks: true }), 'Deployment flipt/flipt', true).reason, 'RolloutInProgress');
  assert.equal(readinessVerdict(issued, registeredVerdict, snapshot({ registered }), 'Deployment flipt/flipt', true).reason, 'Ready');
});

test('authentication.required: the variable in the pod template decides over the config, and the message says which to change', () => {
  const registered = new Map([['ns_a', 'f1']]);
  const byEnv = registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ registered, authenticationRequired: true, authenticationRequiredByEnv: { required: false, variable: 'FLIPT_AUTHENTICATION_REQUIRED', reference: false, container: 'flipt' } }), 't');
  assert.deepEqual(byEnv, {
    status: 'True',
    reason: 'AuthenticationNotRequired',
    message: `Registered with target "t" as token ns_a, but Flipt's pod template sets FLIPT_AUTHENTICATION_REQUIRED to false in container flipt, which Flipt reads over authentication.required, so it accepts requests without any token; remove the variable or set it to true`,
  });
  const byConfig = registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ registered, authenticationRequired: false }), 't');
  assert.equal(byConfig.message, `Registered with target "t" as token ns_a, but Flipt's config has authentication.required false, so it accepts requests without any token; set authentication.required: true`);
  assert.equal(registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ registered, authenticationRequired: false, authenticationRequiredByEnv: { required: true, variable: 'FLIPT_AUTHENTICATION_REQUIRED', reference: false, container: 'flipt' } }), 't').reason, 'Registered');
  const byReference = registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ registered, authenticationRequired: { env: 'AUTH' }, authenticationRequiredByEnv: { required: false, variable: 'AUTH', reference: true, container: 'flipt' } }), 't');
  assert.equal(
    byReference.message,
    `Registered with target "t" as token ns_a, but Flipt's config takes authentication.required from \${env:AUTH}, which container flipt of Flipt's pod template leaves unset, empty or false, so it accepts requests without any token; set AUTH to true there, or authentication.required: true`,
  );
  // The config may name any variable, FLIPT_AUTHENTICATION_REQUIRED too: the message follows where the reading came from, not the name.
  const sameName = registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ registered, authenticationRequired: { env: 'FLIPT_AUTHENTICATION_REQUIRED' }, authenticationRequiredByEnv: { required: false, variable: 'FLIPT_AUTHENTICATION_REQUIRED', reference: true, container: 'flipt' } }), 't');
  assert.match(sameName.message, /config takes authentication\.required from \$\{env:FLIPT_AUTHENTICATION_REQUIRED\}/);
  // A reference nothing can resolve is no claim that tokens protect nothing (the environment's warning says why).
  assert.equal(registrationVerdict('ns/a', 'ns_a', 'f1', snapshot({ registered, authenticationRequired: { env: 'AUTH' } }), 't').reason, 'Registered');
});

test('readinessVerdict summarises in order and needs the rollout', () => {
  const ok = { status: 'True' as const, reason: 'x', message: '' };
  const bad = { status: 'False' as const, reason: 'Nope', message: '' };
  assert.equal(readinessVerdict(bad, ok, snapshot(), 'w', true).reason, 'Nope');
  assert.equal(readinessVerdict(ok, bad, snapshot(), 'w', true).reason, 'Nope');
  assert.equal(readinessVerdict(ok, ok, snapshot(), 'w', true, { ...bad, reason: 'ServiceAccountConflict' }).reason, 'ServiceAccountConflict');
  assert.equal(readinessVerdict(ok, ok, snapshot(), 'w', true).status, 'True');
  assert.equal(readinessVerdict(ok, ok, snapshot({ workloadHash: 'old' }), 'w', false).reason, 'RolloutInProgress');
  // The same message at every step of a rollout: a client's status is not written again for each pod.
  const during = (detail: string) => readinessVerdict(ok, ok, snapshot({ rollout: { done: false, detail } }), 'w', false);
  assert.equal(during('1 of 2 replicas updated').message, during('2 of 2 replicas updated').message);
  // Accepted by every running pod: Ready even while a restart for other clients rolls out.
  const rolling = snapshot({ rollout: { done: false, detail: '1 of 2 replicas updated' }, workloadHash: 'old', accepted: new Set(['f1']) });
  assert.equal(readinessVerdict(ok, ok, rolling, 'w', accepts(rolling, 'f1')).status, 'True');
  assert.equal(accepts(rolling, 'f2'), false);
});

test('bindingVerdict names the other claimants', () => {
  assert.equal(bindingVerdict(['a'], {}).status, 'True');
  const v = bindingVerdict(['a', 'b'], { a: ['other'], b: [] });
  assert.equal(v.reason, 'ServiceAccountConflict');
  assert.match(v.message, /a \(also claimed by other\)/);
});

test('withCondition keeps lastTransitionTime while the status holds', () => {
  const t0 = new Date('2030-01-01T00:00:00Z');
  const t1 = new Date('2030-01-01T00:01:00Z');
  const first = withCondition([], 'Ready', { status: 'False', reason: 'A', message: '' }, 1, t0);
  const same = withCondition(first, 'Ready', { status: 'False', reason: 'B', message: '' }, 2, t1);
  assert.equal(same[0]!.lastTransitionTime, t0.toISOString());
  assert.equal(same[0]!.reason, 'B');
  const flipped = withCondition(same, 'Ready', { status: 'True', reason: 'Ready', message: '' }, 2, t1);
  assert.equal(flipped[0]!.lastTransitionTime, t1.toISOString());
});

test('rolloutState follows kubectl rollout status', () => {
  const deployment = (generation: number, status: Record<string, number>) => ({ metadata: { generation }, spec: { replicas: 2 }, status });
  assert.equal(rolloutState('Deployment', deployment(2, { observedGeneration: 1 }) as never).done, false);
  assert.equal(rolloutState('Deployment', deployment(2, { observedGeneration: 2, updatedReplicas: 1, replicas: 2, availableReplicas: 1 }) as never).done, false);
  // An old pod still terminating may still serve with the old config: not done.
  assert.deepEqual(rolloutState('Deployment', deployment(2, { observedGeneration: 2, updatedReplicas: 2, replicas: 3, availableReplicas: 2 }) as never), { done: false, detail: '1 old replicas pending termination' });
  assert.equal(rolloutState('Deployment', deployment(2, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 1 }) as never).done, false, 'every pod updated, one not yet available');
  assert.equal(rolloutState('Deployment', deployment(2, { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 2 }) as never).done, true);
  // The controller has not seen the newest template yet: what it reports is of the one before.
  assert.equal(rolloutState('Deployment', deployment(2, { observedGeneration: 1, updatedReplicas: 2, replicas: 2, availableReplicas: 2 }) as never).done, false);
  assert.deepEqual(rolloutState('Deployment', deployment(2, { observedGeneration: 2, updatedReplicas: 1, replicas: 1, availableReplicas: 1 }) as never), { done: false, detail: '1 of 2 replicas updated' }, 'a replica still to be created');
  assert.equal(rolloutState('Deployment', { metadata: { generation: 2 }, spec: {}, status: { observedGeneration: 2 } } as never).done, false, 'replicas unset means one');
  const sts = (status: Record<string, unknown>) => ({ metadata: { generation: 3 }, spec: { replicas: 2 }, status: { observedGeneration: 3, updatedReplicas: 2, readyReplicas: 2, ...status } });
  assert.equal(rolloutState('StatefulSet', sts({ currentRevision: 'r1', updateRevision: 'r2' }) as never).done, false);
  assert.equal(rolloutState('StatefulSet', sts({ currentRevision: 'r2', updateRevision: 'r2', readyReplicas: 1 }) as never).done, false, 'every pod updated, one not yet ready');
  assert.equal(rolloutState('StatefulSet', sts({ currentRevision: 'r2', updateRevision: 'r2' }) as never).done, true);
});

test('viewWorkload: the generation our own restart produced is ours; a later one is someone else rolling Flipt', () => {
  const names = { configMap: 'flipt', configKey: 'default.yml', credentialsSecret: 'flipt-client-credentials' };
  const at = (generation: number, ours?: number) =>
    viewWorkload('Deployment', { metadata: { generation, ...(ours !== undefined ? { annotations: { [RESTART_GENERATION_ANNOTATION]: String(ours) } } : {}) }, spec: { selector: {}, template: {} } }, names).changedSinceOurRestart;
  assert.equal(at(4, 4), false);
  assert.equal(at(5, 4), true);
  assert.equal(at(1), true, 'never restarted by us: any generation is someone else\'s');
  const restartedAt = '2030-01-01T00:00:05.000Z';
  const view = viewWorkload('Deployment', { metadata: { generation: 1 }, spec: { selector: {}, template: { metadata: { annotations: { 'flipt.io/restarted-at': restartedAt } } } } }, names);
  assert.equal(view.restartedAtMs, Date.parse(restartedAt));
  assert.equal(viewWorkload('Deployment', { metadata: { generation: 1 }, spec: { selector: {}, template: { metadata: { annotations: { 'flipt.io/restarted-at': 'yesterday' } } } } }, names).restartedAtMs, undefined);
});

const target: TargetConfig = exampleTarget({ allowedNamespaces: ['apps'] });

const withMetadata = (metadata: Record<string, unknown>, namespace = 'apps'): FliptClient => ({
  apiVersion: 'flipt.io/v1alpha1',
  kind: 'FliptClient',
  metadata: { name: 'c', namespace },
  spec: { target: 'default', metadata: metadata as Record<string, string> },
});

test('refusal: a name that is no DNS label comes first, and no target serves it (a CRD without the name rule lets one through)', () => {
  for (const name of ['a.b', 'A', 'a_b', '-a', 'a-', 'x'.repeat(64), '']) {
    const client = { ...withMetadata({ note: '${env:HOME}' }), metadata: { name, namespace: 'apps' } };
    assert.equal(refusal(client, target, ['default'])?.reason, 'InvalidName', JSON.stringify(name));
    assert.equal(servedBy(target, client), false, JSON.stringify(name));
    assert.equal(servedBy(target, { ...client, spec: { target: 'default' } }), false, `${JSON.stringify(name)}, with nothing else wrong`);
  }
  for (const name of ['a', 'a-b', '0', 'x'.repeat(63)]) {
    const client = { ...withMetadata({}), metadata: { name, namespace: 'apps' } };
    assert.equal(refusal(client, target, ['default']), undefined, name);
    assert.equal(servedBy(target, client), true, name);
  }
});

test("a client's Secret is spec.secret.name, or <name>-flipt; its target spec.target, or default for an object stored without the CRD's default", () => {
  const client = withMetadata({});
  assert.equal(secretNameFor(client), 'c-flipt');
  assert.equal(secretNameFor({ ...client, spec: { ...client.spec, secret: { name: 'payments-flipt-token' } } }), 'payments-flipt-token');
  assert.equal(targetNameOf(client), 'default');
  assert.equal(targetNameOf({ ...client, spec: { target: 'payments' } }), 'payments');
  assert.equal(targetNameOf({ ...client, spec: {} }), 'default');
});

test('refusal: metadata Flipt would interpret first, naming the key; then the target', () => {
  for (const value of ['${env:HOME}', '${secret:file:x}', '${secret:x}', 'x ${env:A}', '$${env:A}', '${ENV:A}', 'a\nb', 'ls\u2028', 'nel\u0085', 'del\u007f', '\ufeff']) {
    const verdict = refusal(withMetadata({ team: 'ok', note: value }), target, ['default']);
    assert.equal(verdict?.reason, 'InvalidMetadata', JSON.stringify(value));
    assert.match(verdict!.message, /key "note"/);
    assert.ok(!verdict!.message.includes(value), 'the value itself is not repeated');
  }
  assert.equal(refusal(withMetadata({ 'Team.Name': 'x' }), target, ['default'])?.reason, 'InvalidMetadata');
  assert.equal(refusal(withMetadata({ 'fliptclient-name': 'x' }), target, ['default'])?.reason, 'InvalidMetadata');
  assert.equal(refusal(withMetadata({ n: 1 }), target, ['default'])?.reason, 'InvalidMetadata', 'a non-string value');
  assert.equal(refusal(withMetadata({ n: 'x'.repeat(257) }), target, ['default'])?.reason, 'InvalidMetadata');
  assert.equal(refusal(withMetadata(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v']))), target, ['default'])?.reason, 'InvalidMetadata');
  assert.equal(refusal(withMetadata({ team: '$HOME {env:x} ünïcödé' }), target, ['default']), undefined, 'text that only looks close is fine');
  assert.equal(refusal(withMetadata({ note: '${env:HOME}' }), undefined, ['default'])?.reason, 'InvalidMetadata', 'the spec is named before the target');
  assert.equal(refusal(withMetadata({}), undefined, ['default'])?.reason, 'UnknownTarget');
  assert.match(refusal(withMetadata({}), undefined, ['default', 'payments'])!.message, /\(known: default, payments\); set spec\.target to one of them$/);
  assert.match(refusal(withMetadata({}), undefined, [])!.message, /\(known: none\)/, 'an operator with no target says so');
  assert.equal(refusal(withMetadata({}, 'elsewhere'), target, ['default'])?.reason, 'NamespaceNotAllowed');
  assert.deepEqual(metadataProblems(undefined), []);
});

test('statusEvents: a Ready transition is announced once, even when the next reconcile sees the stale status', () => {
  const at = '2026-01-01T00:00:00Z';
  const rolling = [{ type: 'Ready' as const, status: 'False' as const, reason: 'RolloutInProgress', message: 'waiting', lastTransitionTime: at }];
  const ready = [{ type: 'Ready' as const, status: 'True' as const, reason: 'Ready', message: 'Flipt runs with this credential', lastTransitionTime: at }];
  const first = statusEvents('uid-1', rolling, ready, false, undefined);
  assert.deepEqual(first.events, [{ type: 'Normal', reason: 'Ready', message: 'Flipt runs with this credential' }]);
  // The cache still shows RolloutInProgress: the same transition again announces nothing.
  assert.deepEqual(statusEvents('uid-1', rolling, ready, false, first.announced).events, []);
  // Progress is no Event; a later Ready transition is one again; a recreated client (new uid) is new.
  const progress = statusEvents('uid-1', ready, rolling, false, first.announced);
  assert.deepEqual(progress.events, []);
  assert.deepEqual(statusEvents('uid-1', rolling, ready, false, progress.announced).events.map((e) => e.reason), ['Ready']);
  assert.deepEqual(statusEvents('uid-2', rolling, ready, false, first.announced).events.map((e) => e.reason), ['Ready']);
  // A refusal and a warning reason are Warnings; a warning of another condition is announced as it appears.
  const refused = [{ type: 'Ready' as const, status: 'False' as const, reason: 'UnknownTarget', message: 'no such target', lastTransitionTime: at }];
  assert.deepEqual(statusEvents('uid-3', [], refused, true, undefined).events.map((e) => `${e.type}/${e.reason}`), ['Warning/UnknownTarget']);
  const blocked = [...ready, { type: 'Rotating' as const, status: 'False' as const, reason: 'RotationBlocked', message: 'target full', lastTransitionTime: at }];
  assert.deepEqual(statusEvents('uid-1', ready, blocked, false, first.announced).events.map((e) => `${e.type}/${e.reason}`), ['Warning/RotationFailed']);
  assert.deepEqual(statusEvents('uid-1', blocked, blocked, false, first.announced).events, []);
  // Still not Ready, for a new reason: a transition too.
  const full = [{ type: 'Ready' as const, status: 'False' as const, reason: 'TargetFull', message: 'target full', lastTransitionTime: at }];
  assert.deepEqual(statusEvents('uid-1', rolling, full, true, first.announced).events.map((e) => `${e.type}/${e.reason}`), ['Warning/TargetFull']);
  // A restarted operator remembers nothing announced: a Ready it did not change is no transition, whatever other conditions come first.
  const applied = { type: 'ConfigApplied' as const, status: 'True' as const, reason: 'Registered', message: 'registered', lastTransitionTime: at };
  assert.deepEqual(statusEvents('uid-1', [applied, ...full], [applied, ...full], true, undefined).events, []);
});

test('rolloutQuietUntil: a waiting client goes from issued to Ready in one write unless the rollout lasts', () => {
  const now = 1_000_000;
  const ready = (reason: string, status: 'True' | 'False' = 'False', observedGeneration = 1) => [{ type: 'Ready' as const, status, reason, message: '', lastTransitionTime: 'x', observedGeneration }];
  const rolling = (rolloutSince: number | undefined) => snapshot({ rollout: { done: false, detail: '' }, ...(rolloutSince !== undefined ? { rolloutSince } : {}) });
  assert.equal(rolloutQuietUntil(ready('RegistrationPending'), ready('RolloutInProgress'), rolling(now - 1_000), now), now - 1_000 + ROLLOUT_QUIET_MS);
  assert.equal(rolloutQuietUntil(ready('UpdatePending'), ready('RolloutInProgress'), rolling(now), now), now + ROLLOUT_QUIET_MS);
  // A rollout that lasts is reported; so is every other change, and a waiting client of a newer generation.
  assert.equal(rolloutQuietUntil(ready('RegistrationPending'), ready('RolloutInProgress'), rolling(now - ROLLOUT_QUIET_MS), now), undefined);
  assert.equal(rolloutQuietUntil(ready('RegistrationPending'), ready('RolloutInProgress'), rolling(undefined), now), undefined);
  assert.equal(rolloutQuietUntil(ready('WorkloadMissing'), ready('RolloutInProgress'), rolling(now), now), undefined);
  assert.equal(rolloutQuietUntil(ready('RegistrationPending'), ready('Ready', 'True'), rolling(now), now), undefined);
  assert.equal(rolloutQuietUntil(ready('RegistrationPending'), ready('RolloutInProgress', 'False', 2), rolling(now), now), undefined);
  assert.equal(rolloutQuietUntil([], ready('RolloutInProgress'), rolling(now), now), undefined);
});

test('sameStatus compares by value: the API server returns keys sorted, not in the order written', () => {
  const ours = { observedGeneration: 1, conditions: [{ type: 'Ready' as const, status: 'True' as const, reason: 'Ready', message: 'm', observedGeneration: 1, lastTransitionTime: 't' }], secretName: 's', rotateAt: undefined };
  const served = JSON.parse('{"conditions":[{"lastTransitionTime":"t","message":"m","observedGeneration":1,"reason":"Ready","status":"True","type":"Ready"}],"observedGeneration":1,"secretName":"s"}');
  assert.equal(sameStatus(ours, served), true);
  assert.equal(sameStatus({ ...ours, secretName: 'other' }, served), false);
  assert.equal(sameStatus({ ...ours, conditions: [{ ...ours.conditions[0]!, reason: 'Other' }] }, served), false);
});

test('secretBehindStatus: only a status naming a credential the Secret lacks sends the reconciler to the API server', () => {
  const [held, other] = [generateToken(), generateToken()];
  const secret = { data: { token: Buffer.from(held).toString('base64') } };
  const client = (credentialFingerprint?: string): FliptClient => ({
    apiVersion: 'flipt.io/v1alpha1',
    kind: 'FliptClient',
    metadata: { name: 'web', namespace: 'apps' },
    spec: { target: 'default' },
    ...(credentialFingerprint ? { status: { credentialFingerprint } } : {}),
  });
  assert.equal(secretBehindStatus(secret, client(fingerprint(held))), false, 'the Secret holds what the status names');
  assert.equal(secretBehindStatus(secret, client()), false, 'the status names nothing yet');
  assert.equal(secretBehindStatus(undefined, client()), false, 'nothing named, nothing cached');
  assert.equal(secretBehindStatus(secret, client(fingerprint(other))), true, 'the Secret holds another token');
  assert.equal(secretBehindStatus(undefined, client(fingerprint(held))), true, 'the Secret is not in the cache');
});

test("replacementSecret: our data, labels and owner; the resourceVersion (the replace's precondition) and what others added are kept", () => {
  const existing = {
    metadata: {
      name: 'app-flipt',
      namespace: 'team',
      resourceVersion: '42',
      uid: 'u-1',
      labels: { 'app.kubernetes.io/managed-by': 'someone-else', 'backup.example/include': 'true' },
      annotations: { 'reflector.example/allowed': 'true' },
    },
    data: { token: 'b2xk', extra: 'eA==' },
  };
  const desired = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'app-flipt', namespace: 'team', labels: { 'app.kubernetes.io/managed-by': 'flipt-client-operator', 'flipt.io/client': 'app' }, ownerReferences: [{ apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', name: 'app', uid: 'c-1', controller: true }] },
    type: 'Opaque',
    data: { token: 'bmV3' },
  };
  assert.deepEqual(replacementSecret(existing, desired), {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: 'app-flipt',
      namespace: 'team',
      resourceVersion: '42',
      uid: 'u-1',
      labels: { 'app.kubernetes.io/managed-by': 'flipt-client-operator', 'backup.example/include': 'true', 'flipt.io/client': 'app' },
      annotations: { 'reflector.example/allowed': 'true' },
      ownerReferences: desired.metadata.ownerReferences,
    },
    type: 'Opaque',
    data: { token: 'bmV3' },
  });
});

test("decideToken after a rotation's switch: the Secret still on the old token switches; a Secret lost meanwhile is restored (not a second switch, whose overlap would start again)", () => {
  const old = generateToken();
  const next = generateToken();
  assert.deepEqual(decideToken(fingerprint(next), old, { id: old, next }), { action: 'switch', token: next });
  assert.deepEqual(decideToken(fingerprint(next), undefined, { id: old, next }), { action: 'restore', token: next });
  assert.deepEqual(decideToken(fingerprint(next), generateToken(), { id: old, next }), { action: 'restore', token: next }, 'edited to something else');
});

test("desiredClientSecret: the wire format pods mount: token, authorization, the target's url when configured, our labels over the spec's, a controller owner", () => {
  const client: FliptClient = {
    apiVersion: 'flipt.io/v1alpha1',
    kind: 'FliptClient',
    metadata: { name: 'a', namespace: 'apps', uid: 'uid-a' },
    spec: { secret: { labels: { team: 'payments', 'flipt.io/client': 'spoofed' }, annotations: { note: 'mounted by web' } } },
  };
  const token = generateToken();
  const decoded = (secret: ReturnType<typeof desiredClientSecret>) => Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
  const withUrl = desiredClientSecret(client, 'a-flipt', token, exampleTarget({ url: 'http://flipt.flipt.svc:8080' }));
  assert.deepEqual(decoded(withUrl), { token, authorization: `Bearer ${token}`, url: 'http://flipt.flipt.svc:8080' });
  assert.deepEqual(withUrl.metadata?.labels, { team: 'payments', 'flipt.io/client': 'a', 'app.kubernetes.io/managed-by': 'flipt-client-operator' });
  assert.deepEqual(withUrl.metadata?.annotations, { note: 'mounted by web' });
  assert.deepEqual(withUrl.metadata?.ownerReferences, [{ apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', name: 'a', uid: 'uid-a', controller: true, blockOwnerDeletion: true }]);
  assert.deepEqual(Object.keys(decoded(desiredClientSecret(client, 'a-flipt', token, exampleTarget()))), ['token', 'authorization'], 'no url configured, no url key');
  const expiresAt = Date.parse('2030-01-01T01:00:00Z');
  assert.deepEqual(decoded(desiredClientSecret(client, 'a-flipt', token, exampleTarget(), expiresAt)), { token, authorization: `JWT ${token}`, expiresAt: '2030-01-01T01:00:00.000Z' }, 'a JWT');
});

test('secretNeedsUpdate: a key the operator no longer writes (a url the target dropped) is an update; our exact Secret is not', () => {
  const client: FliptClient = { apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { name: 'a', namespace: 'apps', uid: 'uid-a' }, spec: {} };
  const desired = desiredClientSecret(client, 'a-flipt', generateToken(), exampleTarget());
  assert.equal(secretNeedsUpdate(structuredClone(desired), desired), false);
  const stale = structuredClone(desired);
  stale.data = { ...stale.data, url: Buffer.from('http://old.example').toString('base64') };
  assert.equal(secretNeedsUpdate(stale, desired), true);
  // The labels and annotations the spec asks for, and the owner: a client recreated under the same name takes its Secret over.
  const wanted = desiredClientSecret({ ...client, spec: { secret: { labels: { team: 'a' }, annotations: { note: 'x' } } } }, 'a-flipt', generateToken(), exampleTarget());
  const current = structuredClone(wanted);
  assert.equal(secretNeedsUpdate(current, wanted), false);
  assert.equal(secretNeedsUpdate({ ...current, metadata: { ...current.metadata, labels: { ...current.metadata!.labels, team: 'b' } } }, wanted), true, 'a label');
  assert.equal(secretNeedsUpdate({ ...current, metadata: { ...current.metadata, annotations: {} } }, wanted), true, 'an annotation');
  assert.equal(secretNeedsUpdate({ ...current, metadata: { ...current.metadata, annotations: { note: 'x', other: 'y' } } }, wanted), false, "others' annotations are theirs");
  const recreated = { ...current, metadata: { ...current.metadata, ownerReferences: current.metadata!.ownerReferences!.map((r) => ({ ...r, uid: 'uid-of-the-deleted-one' })) } };
  assert.equal(secretNeedsUpdate(recreated, wanted), true, 'the owner');
});

test('metadataProblems: a lower-case key with a dot, and a paragraph separator in a value, are refused', () => {
  assert.match(metadataProblems({ 'team.name': 'x' }).join('; '), /key "team\.name"/, 'viper would read the dot as nesting');
  assert.match(metadataProblems({ note: 'ps\u2029' }).join('; '), /key "note"/, "Go's YAML reader breaks lines at U+2029");
  assert.deepEqual(metadataProblems({ team_name: 'x', 'cost-center': '42' }), []);
});

test('secretWriteFailed: CredentialIssued and Ready say why, with the API server\'s reason; ConfigApplied keeps what it said; a Warning Event', () => {
  const at = new Date('2026-01-01T00:00:00Z');
  const verdict = secretWriteFailedVerdict('team-a', 'web-flipt', 'Forbidden: denied by policy');
  assert.deepEqual(verdict, {
    status: 'False',
    reason: 'SecretWriteFailed',
    message: 'Writing Secret team-a/web-flipt failed (Forbidden: denied by policy); the operator retries with backoff',
  });
  const applied = { type: 'ConfigApplied' as const, status: 'True' as const, reason: 'Registered', message: 'registered', lastTransitionTime: at.toISOString() };
  const client = { metadata: { name: 'web', namespace: 'team-a', generation: 3 }, spec: {}, status: { conditions: [applied] } } as unknown as FliptClient;
  const conditions = credentialVerdictConditions(client, verdict, at);
  assert.deepEqual(conditions.map((c) => [c.type, c.status, c.reason, c.observedGeneration]), [
    ['Ready', 'False', 'SecretWriteFailed', 3],
    ['CredentialIssued', 'False', 'SecretWriteFailed', 3],
    ['ConfigApplied', 'True', 'Registered', undefined],
  ]);
  assert.deepEqual(statusEvents('uid-1', [applied], conditions, true, undefined).events.map((e) => `${e.type}/${e.reason}`), ['Warning/SecretWriteFailed']);
  assert.deepEqual(statusEvents('uid-1', [applied], conditions, false, undefined).events.map((e) => `${e.type}/${e.reason}`), ['Warning/SecretWriteFailed'], 'a warning reason, refused or not');
});

test('finalizerWriteFailed: says whether adding or removing failed, what that holds back, and the API server\'s reason; a Warning Event', () => {
  const adding = finalizerWriteFailedVerdict('team-a', 'web', 'add', 'API 403: no updates here');
  assert.deepEqual(adding, {
    status: 'False',
    reason: 'FinalizerWriteFailed',
    message: 'Adding the finalizer of FliptClient team-a/web failed (API 403: no updates here); its token is registered only once the finalizer holds. The operator retries with backoff',
  });
  const removing = finalizerWriteFailedVerdict('team-a', 'web', 'remove', 'API 403: no updates here');
  assert.equal(removing.message, 'Removing the finalizer of FliptClient team-a/web failed (API 403: no updates here); the FliptClient is deleted once the finalizer is off. The operator retries with backoff');
  const client = { metadata: { name: 'web', namespace: 'team-a', generation: 1 }, spec: {} } as unknown as FliptClient;
  const conditions = credentialVerdictConditions(client, adding, new Date('2026-01-01T00:00:00Z'));
  assert.deepEqual(statusEvents('uid-1', [], conditions, true, undefined).events.map((e) => `${e.type}/${e.reason}`), ['Warning/FinalizerWriteFailed']);
  assert.deepEqual(statusEvents('uid-1', [], conditions, false, undefined).events.map((e) => `${e.type}/${e.reason}`), ['Warning/FinalizerWriteFailed'], 'a warning reason, refused or not');
});

test('reportsRefusedWrite: a refusal is reported once per reason; throttling and lost connections are only retried', () => {
  const verdict = secretWriteFailedVerdict('team-a', 'web-flipt', 'API 403: denied');
  const at = new Date('2026-01-01T00:00:00Z');
  const fresh = { metadata: { name: 'web', namespace: 'team-a', generation: 1 }, spec: {} } as unknown as FliptClient;
  for (const status of [400, 403, 422, 500, 503]) assert.equal(reportsRefusedWrite(fresh, verdict, status), true, `HTTP ${status}`);
  assert.equal(reportsRefusedWrite(fresh, verdict, 429), false, 'throttled');
  assert.equal(reportsRefusedWrite(fresh, verdict, undefined), false, 'no answer from the API server');
  const reported = { ...fresh, status: { conditions: credentialVerdictConditions(fresh, verdict, at) } } as FliptClient;
  assert.equal(reportsRefusedWrite(reported, { ...verdict, message: 'the same refusal in other words' }, 403), false, 'already shown: not written again on each retry');
  assert.equal(reportsRefusedWrite(reported, finalizerWriteFailedVerdict('team-a', 'web', 'add', 'API 403: denied'), 403), true, 'another reason');
  const elsewhere = { ...fresh, status: { conditions: [{ type: 'CredentialIssued', status: 'False', reason: verdict.reason, message: '', lastTransitionTime: at.toISOString() }] } } as FliptClient;
  assert.equal(reportsRefusedWrite(elsewhere, verdict, 403), true, 'only Ready says whether the client shows it');
});

test('workloadsVerdict: a forbidden restart is named first, then a missing workload; Restarted only when every one was', () => {
  const restarted: WorkloadRestart = { kind: 'Deployment', name: 'web', outcome: 'restarted' };
  const missing: WorkloadRestart = { kind: 'StatefulSet', name: 'db', outcome: 'missing' };
  const forbidden: WorkloadRestart = { kind: 'Deployment', name: 'api', outcome: 'forbidden' };
  assert.deepEqual(workloadsVerdict('team-a', [restarted], 'fp'), { status: 'True', reason: 'Restarted', message: 'Deployment web restarted for credential fp' });
  assert.equal(workloadsVerdict('team-a', [restarted, missing], 'fp').reason, 'RestartTargetMissing');
  assert.match(workloadsVerdict('team-a', [restarted, missing], 'fp').message, /^StatefulSet db not found in namespace team-a/);
  const both = workloadsVerdict('team-a', [missing, forbidden, restarted], 'fp');
  assert.equal(both.reason, 'RestartForbidden');
  assert.match(both.message, /may not patch Deployment api in namespace team-a; .* "patch" on apps deployments:/);
});

test('statusWriteRefusedNote: a refused status says so in an Event; a lost connection, throttling, a conflict or a deleted client are only retried', () => {
  for (const status of [400, 403, 422, 500, 503]) {
    assert.equal(
      statusWriteRefusedNote('team', 'web', status, `HTTP ${status}: denied`),
      `Writing the status of FliptClient team/web failed (HTTP ${status}: denied): its conditions are older than the operator's view. The operator retries with backoff`,
    );
  }
  for (const status of [undefined, 404, 409, 429]) assert.equal(statusWriteRefusedNote('team', 'web', status, 'x'), undefined, `HTTP ${status}`);
});
