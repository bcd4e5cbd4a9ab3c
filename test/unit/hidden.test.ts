// The view tests compare credentials through: equal exactly when the values are, and a failing
// assertion on it prints no credential.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hidden } from '../support/hidden.ts';

const token = 'a'.repeat(63) + 'b';
const other = 'a'.repeat(64);
const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';

function printedBy(check: () => void): string {
  try {
    check();
  } catch (err) {
    return String((err as Error).message);
  }
  assert.fail('the assertion passed');
}

test('equal values give equal views, different ones different views', () => {
  assert.deepEqual(hidden({ t: token, list: [jwt], n: 3, u: undefined }), hidden({ t: token, list: [jwt], n: 3, u: undefined }));
  assert.notDeepEqual(hidden(token), hidden(other));
  assert.notDeepEqual(hidden({ t: token }), hidden({ t: other }));
  assert.notDeepEqual(hidden([jwt]), hidden([jwt, jwt]));
  assert.notDeepEqual(hidden(new Map([['web', token]])), hidden(new Map([['web', other]])));
  assert.notDeepEqual(hidden(token), hidden(undefined));
});

test('a failing assertion on views prints fingerprints, not the values', () => {
  for (const message of [
    printedBy(() => assert.equal(hidden(token), hidden(other))),
    printedBy(() => assert.deepEqual(hidden({ data: { token }, jwt }), hidden({ data: { token: other }, jwt: 'x' }))),
    printedBy(() => assert.deepEqual(hidden(new Map([['web', token]])), hidden(new Map([['web', jwt]])))),
  ]) {
    assert.ok(message.includes('sha256:'), 'the fingerprints are shown');
    for (const secret of [token, other, jwt]) assert.ok(!message.includes(secret), 'no credential in the message');
  }
});

test('objects it cannot see into are refused, not compared as empty', () => {
  assert.throws(() => hidden(Buffer.from(token)), /not Buffer/);
  assert.throws(() => hidden({ at: new Date() }), /not Date/);
});
