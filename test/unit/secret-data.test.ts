// Reading one value of a cached Secret: decoded once, and only the Secret's own keys count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSecretData, encodeSecretData, secretValue } from '../../src/kube/secret-data.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

test('a value is decoded from base64, and reading it again gives the same', () => {
  const secret = { data: { token: b64('abc'), other: b64('é') } };
  assert.equal(secretValue(secret, 'token'), 'abc');
  assert.equal(secretValue(secret, 'token'), 'abc');
  assert.equal(secretValue(secret, 'other'), 'é');
});

test('a missing key, a Secret without data, and no Secret read as undefined', () => {
  assert.equal(secretValue({ data: { token: b64('abc') } }, 'next'), undefined);
  assert.equal(secretValue({}, 'token'), undefined);
  assert.equal(secretValue(undefined, 'token'), undefined);
});

test("keys named like Object's own properties are only the Secret's keys", () => {
  const data = JSON.parse(`{"__proto__": "${b64('p')}", "token": "${b64('t')}"}`) as Record<string, string>;
  assert.equal(secretValue({ data }, '__proto__'), 'p');
  for (const key of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
    const secret = { data: { token: b64('t') } };
    assert.equal(secretValue(secret, key), undefined, key);
    assert.equal(secretValue(secret, key), undefined, `${key}, read again`);
  }
});

test('encodeSecretData and decodeSecretData round-trip UTF-8 text', () => {
  const values = { token: 'a'.repeat(64), note: 'ünïcödé ✓' };
  const encoded = encodeSecretData(values);
  assert.equal(encoded.note, Buffer.from('ünïcödé ✓', 'utf8').toString('base64'));
  assert.deepEqual(decodeSecretData(encoded), values);
  assert.equal(secretValue({ data: encoded }, 'note'), 'ünïcödé ✓');
  assert.deepEqual(decodeSecretData(undefined), {});
});
