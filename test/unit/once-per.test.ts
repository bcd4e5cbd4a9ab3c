import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OncePer } from '../../src/util/once-per.ts';

test('OncePer: open the first time, shut for the interval, open again once it has passed', () => {
  let now = 1_000;
  const gate = new OncePer(60_000, () => now);
  assert.equal(gate.due(), true);
  assert.equal(gate.due(), false);
  now += 59_999;
  assert.equal(gate.due(), false);
  now += 1;
  assert.equal(gate.due(), true, 'a full interval after the last opening');
  now += 30_000;
  assert.equal(gate.due(), false, 'counted from the last opening, not the first');
});
