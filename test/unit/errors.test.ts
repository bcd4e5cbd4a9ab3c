import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describeError, isConflict, isForbidden, isNotFound, statusCode, unlessNotFound } from '../../src/kube/errors.ts';
import { generateToken } from '../../src/vocabulary/credentials.ts';

const conflictBody = JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'Conflict', code: 409, message: 'the object has been modified; please apply your changes to the latest version and try again' });

test("describeError gives the API server's message, whichever client raised the error", () => {
  // client-node's typed APIs: an ApiException with code and body.
  const typed = Object.assign(new Error('HTTP-Code: 409'), { code: 409, body: conflictBody });
  // The plain JSON requests (kube/client.ts requestJson): statusCode and the body's text.
  const plain = Object.assign(new Error('PATCH /apis/flipt.io/v1alpha1/namespaces/a/fliptclients/b/status: 409'), { statusCode: 409, headers: {}, body: conflictBody });
  const message = 'API 409: the object has been modified; please apply your changes to the latest version and try again';
  assert.equal(describeError(typed), message);
  assert.equal(describeError(plain), message);
  assert.ok(isConflict(typed) && isConflict(plain));
});

test('describeError falls back to the status alone, or the first line, when the body says nothing', () => {
  assert.equal(describeError(Object.assign(new Error('x'), { code: 503, body: 'upstream connect error' })), 'API 503');
  assert.equal(describeError(Object.assign(new Error('GET /api/v1/secrets: 403\nmore'), { statusCode: 403, body: '' })), 'API 403: GET /api/v1/secrets: 403');
  assert.equal(describeError(Object.assign(new Error('watch refused'), { statusCode: 410 })), 'API 410: watch refused');
  assert.equal(describeError(new Error('connect ECONNREFUSED 127.0.0.1:6443\n    at ...')), 'connect ECONNREFUSED 127.0.0.1:6443');
  assert.equal(statusCode(new Error('no status')), undefined);
  // A status without a body keeps the error's line; a body that is a Status without a message is the status alone.
  assert.equal(describeError(Object.assign(new Error('boom'), { code: 500 })), 'API 500: boom');
  assert.equal(describeError(Object.assign(new Error('x'), { code: 500, body: { kind: 'Status', reason: 'InternalError' } })), 'API 500');
  // Not an Error at all (a rejected promise may carry anything).
  assert.equal(describeError('plain text'), 'plain text');
  assert.equal(describeError(undefined), 'undefined');
});

test("describeError never passes on anything shaped like a credential, even when the API server's message echoes one", () => {
  const token = 'ab'.repeat(32);
  const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ0ZWFtLWEvd2ViIn0.c2lnbmF0dXJl';
  // Say a webhook refused the Secret and quoted what it refused.
  const body = JSON.stringify({ kind: 'Status', code: 403, message: `admission webhook "secrets.example.com" denied the request: token=${token}, authorization=JWT ${jwt}` });
  const described = describeError(Object.assign(new Error('HTTP-Code: 403'), { code: 403, body }));
  assert.equal(described, 'API 403: admission webhook "secrets.example.com" denied the request: token=[REDACTED], authorization=JWT [REDACTED]');
  assert.equal(describeError(new Error(`connect failed for ${token}`)), 'connect failed for [REDACTED]');
});

test("describeError passes on no Secret data a message quotes as the API server holds it (base64), nor a private key's \"d\"", async () => {
  const { generateKeyPair, exportJWK } = await import('jose');
  const token = generateToken();
  const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ0ZWFtLWEvd2ViIn0.c2lnbmF0dXJl';
  const jwk = await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey);
  const keys = JSON.stringify({ 'key-1': { alg: 'ES256', jwk } });
  const base64 = (text: string) => Buffer.from(text).toString('base64');
  // Say a policy engine refused the write and quoted the object's data in its message.
  const quoted = [base64(token), base64(jwt), base64(keys)];
  for (const data of [...quoted, JSON.stringify(keys)]) {
    const body = JSON.stringify({ kind: 'Status', code: 403, message: `denied by policy: data: {"key": "${data}"}` });
    const described = describeError(Object.assign(new Error('HTTP-Code: 403'), { code: 403, body }));
    assert.ok(described.includes('[REDACTED]'), described);
    for (const secret of [data, token, jwk.d!]) assert.ok(!described.includes(secret), `${secret} in ${described}`);
  }
  // However the run begins: base64 right after a letter or a path's '/' starts 1 to 3 characters before the encoded credential.
  for (const data of [base64(token), base64(`Bearer ${token}`), base64(jwt)]) {
    for (const before of ['/', 'n', 'ab', 'abc', 'data/ab']) {
      const described = describeError(new Error(`denied: ${before}${data}`));
      assert.ok(described.includes('[REDACTED]') && !described.includes(data), `${before}${data}: ${described}`);
    }
  }
  // The shortest of each shape, as it is and as base64 (21 bytes: 28 characters), goes whole, its padding too.
  const shortest: [text: string, redacted: string][] = [
    [`${token}xyz`, '[REDACTED]xyz'], // letters past `f` are no part of a token
    [base64(`${token}xyz`), '[REDACTED]'],
    ...['"d":"' + 'A'.repeat(16), 'eyJ' + 'a'.repeat(8) + '.' + 'b'.repeat(8) + '.', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4eHh4In0.'].flatMap(
      (shape): [string, string][] => [[shape, '[REDACTED]'], [base64(shape), '[REDACTED]']],
    ),
  ];
  for (const [text, redacted] of shortest) assert.equal(describeError(new Error(`denied: ${text}`)), `denied: ${redacted}`, text);
  // Base64 that holds no credential stays as it was: a uid, a digest, a certificate's text.
  const harmless = `uid ${base64('6d2f1c9e-3b8a-4c1f-9a7e-2f4b5c6d7e8f')}, digest ${createHash('sha256').update('x').digest('base64')}, ${base64('-----BEGIN CERTIFICATE-----')}`;
  assert.equal(describeError(new Error(harmless)), harmless);
});

test('unlessNotFound: only a 404 reads as "absent"; any other failure is thrown, never mistaken for a missing object', async () => {
  assert.equal(await unlessNotFound(Promise.reject(Object.assign(new Error('not found'), { code: 404 }))), undefined);
  assert.equal(await unlessNotFound(Promise.reject(Object.assign(new Error('gone'), { statusCode: 404 }))), undefined);
  assert.deepEqual(await unlessNotFound(Promise.resolve({ a: 1 })), { a: 1 });
  for (const err of [
    Object.assign(new Error('forbidden'), { code: 403 }),
    Object.assign(new Error('server error'), { code: 500 }),
    Object.assign(new Error('conflict'), { statusCode: 409 }),
    Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } }),
  ]) {
    await assert.rejects(unlessNotFound(Promise.reject(err)), (thrown: unknown) => thrown === err);
  }
});

test('statusCode, isNotFound and isConflict read only numeric HTTP statuses, each its own', () => {
  assert.equal(statusCode(Object.assign(new Error('x'), { code: 'ECONNRESET' })), undefined, "a Node.js error code is not an HTTP status");
  assert.equal(isNotFound(Object.assign(new Error('x'), { code: 403 })), false);
  assert.equal(isNotFound(Object.assign(new Error('x'), { code: 410 })), false);
  assert.equal(isConflict(Object.assign(new Error('x'), { code: 422 })), false);
  assert.equal(isForbidden(Object.assign(new Error('x'), { code: 403 })), true);
});
