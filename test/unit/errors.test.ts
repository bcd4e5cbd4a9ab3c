import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeError, isConflict, statusCode } from '../../src/kube/errors.ts';

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
});
