// Whether a target's published state changed: the reconciler wakes the target's clients only then,
// so a change read as "the same" leaves clients waiting, and the same read as a change wakes them all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rolledOut, sameTargetState, type TargetState } from '../../src/vocabulary/registration.ts';

function state(over: Partial<TargetState> = {}): TargetState {
  return {
    jwtConfigured: false,
    jwtAccepted: false,
    refused: new Map(),
    registered: new Map([['apps_a', 'fa'], ['apps_b', 'fb']]),
    accepted: new Set(['fa', 'fb']),
    conflicts: new Set(),
    rollout: { done: true, detail: 'done' },
    authenticationRequired: true,
    ...over,
  };
}

test('no state published before is a change', () => {
  assert.equal(sameTargetState(undefined, state()), false);
});

test('the same content is the same state, whatever order its maps and sets were filled in', () => {
  const reordered = state({ registered: new Map([['apps_b', 'fb'], ['apps_a', 'fa']]), accepted: new Set(['fb', 'fa']) });
  assert.equal(sameTargetState(state(), reordered), true);
});

test('a change in any map, set or field is a change', () => {
  const refusal = { reason: 'TargetFull' as const, message: 'full' };
  const changes: Array<Partial<TargetState>> = [
    { registered: new Map([['apps_a', 'fa']]) },
    { registered: new Map([['apps_a', 'fa'], ['apps_b', 'fb2']]) },
    { accepted: new Set(['fa']) },
    { conflicts: new Set(['apps_c']) },
    { refused: new Map([['apps/c', refusal]]) },
    { rollout: { done: false, detail: 'rolling' } },
    { configHash: 'h' },
    { rotationsWithoutRoom: new Map([['apps/a', 'no room for the new token']]) },
    { metadataWithoutRoom: new Map([['apps/a', 'no room for the new metadata']]) },
  ];
  for (const change of changes) assert.equal(sameTargetState(state(), state(change)), false, JSON.stringify(Object.keys(change)));
  const refused = state({ refused: new Map([['apps/c', refusal]]) });
  assert.equal(sameTargetState(refused, state({ refused: new Map([['apps/c', { ...refusal, message: 'fuller' }]]) })), false, 'a new refusal message');
  for (const field of ['rotationsWithoutRoom', 'metadataWithoutRoom'] as const) {
    const waiting = state({ [field]: new Map([['apps/a', 'no room']]) });
    assert.equal(sameTargetState(waiting, state({ [field]: new Map([['apps/b', 'no room']]) })), false, `${field}: another client waits`);
    assert.equal(sameTargetState(waiting, state({ [field]: new Map([['apps/a', 'no room, fuller']]) })), false, `${field}: a new message`);
  }
});

test('rolled out: the workload runs the config the target holds and its rollout is done; a target that holds no config yet is not', () => {
  const done = { done: true, detail: 'done' };
  assert.equal(rolledOut({ configHash: 'h', workloadHash: 'h', rollout: done }), true);
  assert.equal(rolledOut({ configHash: 'h', workloadHash: 'h', rollout: { done: false, detail: 'rolling' } }), false);
  assert.equal(rolledOut({ configHash: 'h', workloadHash: 'g', rollout: done }), false);
  assert.equal(rolledOut({ configHash: undefined, workloadHash: undefined, rollout: done }), false);
});
