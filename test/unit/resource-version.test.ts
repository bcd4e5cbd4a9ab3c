import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareResourceVersions } from '../../src/kube/resource-version.ts';

test('compareResourceVersions orders positive integers of any length, and refuses anything else', () => {
  assert.equal(compareResourceVersions('9', '10'), -1, 'by value, not as text');
  assert.equal(compareResourceVersions('123456789012345678901234567890', '123456789012345678901234567889'), 1, 'beyond 2^53');
  assert.equal(compareResourceVersions('42', '42'), 0);
  for (const bad of [undefined, '', '0', '007', 'abc', '-1', '1.5']) assert.equal(compareResourceVersions(bad, '5'), undefined, String(bad));
});

test('compareResourceVersions refuses a malformed second argument as well', () => {
  for (const bad of [undefined, '', '0', '007', 'abc', '-1', '1.5']) assert.equal(compareResourceVersions('5', bad), undefined, String(bad));
});
