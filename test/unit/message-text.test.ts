// Text from Flipt's pod template in condition messages: bounded, and each entry listed once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listed, shown } from '../../src/fliptinstance/message-text.ts';

test('a name or path is shown up to 100 characters, then cut with an ellipsis', () => {
  assert.equal(shown('x'.repeat(100)), 'x'.repeat(100));
  assert.equal(shown('x'.repeat(101)), `${'x'.repeat(100)}…`);
});

test('at most three entries are listed, each once, then how many more', () => {
  assert.equal(listed(['a', 'b', 'a', 'c'], ', '), 'a, b, c');
  assert.equal(listed(['a', 'b', 'c', 'd'], ', '), 'a, b, c, and 1 more');
  assert.equal(listed(['a', 'b', 'c', 'd', 'e'], '; '), 'a; b; c; and 2 more');
});
