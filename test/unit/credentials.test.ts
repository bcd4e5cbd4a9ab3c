// Tokens and how a target refers to them (vocabulary/credentials.ts): comparison, entropy, env and inline references.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { credentialKey, credentialReference, envVarFor, generateToken, tokensEqual } from '../../src/vocabulary/credentials.ts';
import { exampleTarget } from '../support/target-fixture.ts';

test('tokensEqual compares equal-length tokens with crypto.timingSafeEqual (constant time)', (t) => {
  const spy = t.mock.method(crypto, 'timingSafeEqual');
  syncBuiltinESMExports();
  try {
    const token = generateToken();
    assert.equal(tokensEqual(token, `${token}`), true);
    assert.equal(tokensEqual(token, generateToken()), false);
    assert.equal(spy.mock.callCount(), 2, 'both comparisons went through timingSafeEqual');
  } finally {
    spy.mock.restore();
    syncBuiltinESMExports();
  }
});

test('generateToken: every one of the 32 bytes varies between tokens', () => {
  const tokens = Array.from({ length: 200 }, () => generateToken());
  for (let byte = 0; byte < 32; byte++) {
    const values = new Set(tokens.map((t) => t.slice(2 * byte, 2 * byte + 2)));
    assert.ok(values.size > 1, `byte ${byte} is the same in 200 tokens`);
  }
});

test('env mode keys the credential by its environment variable; inline mode puts the token itself in the config', () => {
  const token = generateToken();
  const env = { ...exampleTarget(), credentialReference: 'env' as const };
  assert.equal(credentialKey(env, 'ns_app'), envVarFor('ns_app'));
  assert.equal(credentialReference(env, 'ns_app', token), `\${env:${envVarFor('ns_app')}}`);
  const file = { ...exampleTarget(), credentialReference: 'secretFile' as const };
  assert.equal(credentialKey(file, 'ns_app'), 'ns_app');
  assert.equal(credentialReference(file, 'ns_app', token), '${secret:file:ns_app}');
  const inline = { ...exampleTarget(), credentialReference: 'inline' as const };
  assert.equal(credentialReference(inline, 'ns_app', token), token);
});
