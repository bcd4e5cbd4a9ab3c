// Flipt reads a FLIPT_<KEY_PATH> variable over its config file: which variables of its pod template
// undo what a target writes or decide what it reads, read as Flipt reads them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment } from '@kubernetes/client-node';
import { readFliptEnv, type FliptEnvVar } from '../../src/fliptinstance/flipt-env.ts';
import { viewWorkload } from '../../src/fliptinstance/workload.ts';
import { exampleTarget } from '../support/target-fixture.ts';

const staticTarget = exampleTarget();
const jwtTarget = exampleTarget({ credentialKind: 'jwt' });
const set = (name: string, value: string | undefined, container = 'flipt'): FliptEnvVar => ({ container, name, value });

test('the pod template: FLIPT_AUTHENTICATION_* of every container, written values only as written', () => {
  const deployment: V1Deployment = {
    spec: {
      selector: {},
      template: {
        spec: {
          containers: [
            {
              name: 'flipt',
              env: [
                { name: 'FLIPT_AUTHENTICATION_REQUIRED', value: 'true' },
                { name: 'FLIPT_LOG_LEVEL', value: 'debug' },
                { name: 'FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
                { name: 'FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED', value: '$(OTHER)' },
                { name: 'FLIPT_AUTHENTICATION_SESSION_DOMAIN' },
                { name: 'FLIPT_SECRETS_PROVIDERS_FILE_ENABLED', value: 'false' },
                { name: 'FLIPT_SECRETS_PROVIDERS_VAULT_ENABLED', value: 'true' },
              ],
            },
            { name: 'sidecar', env: [{ name: 'FLIPT_AUTHENTICATION_REQUIRED', value: 'false' }] },
          ],
        },
      },
    },
  };
  assert.deepEqual(viewWorkload('Deployment', deployment).fliptEnv, [
    set('FLIPT_AUTHENTICATION_REQUIRED', 'true'),
    set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', undefined),
    set('FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED', undefined),
    set('FLIPT_AUTHENTICATION_SESSION_DOMAIN', ''),
    set('FLIPT_SECRETS_PROVIDERS_FILE_ENABLED', 'false'),
    set('FLIPT_AUTHENTICATION_REQUIRED', 'false', 'sidecar'),
  ]);
  assert.deepEqual(viewWorkload('Deployment', { spec: { selector: {}, template: {} } }).fliptEnv, []);
});

test('nothing set, or nothing the target depends on: nothing to say', () => {
  assert.deepEqual(readFliptEnv(staticTarget, []), {});
  const irrelevant = [set('FLIPT_AUTHENTICATION_SESSION_DOMAIN', 'x'), set('FLIPT_AUTHENTICATION_METHODS_OIDC_PROVIDERS_G_CLIENT_SECRET', undefined)];
  assert.deepEqual(readFliptEnv(staticTarget, irrelevant), {});
  // The jwt and kubernetes methods are no concern of a static target, the token method none of a JWT target's.
  assert.deepEqual(readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED', 'false'), set('FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', 'true')]), {});
  assert.deepEqual(readFliptEnv(jwtTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', 'false')]), {});
  // An empty value is unset to viper.
  assert.deepEqual(readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', ''), set('FLIPT_AUTHENTICATION_REQUIRED', '')]), {});
});

test('authentication.required is read from a written variable, as strconv.ParseBool reads it', () => {
  for (const value of ['true', '1', 't', 'T', 'TRUE', 'True']) assert.deepEqual(readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', value)]), { authenticationRequired: true }, value);
  for (const value of ['false', '0', 'f', 'F', 'FALSE', 'False']) assert.deepEqual(readFliptEnv(jwtTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', value)]), { authenticationRequired: false }, value);
  // Kubernetes takes the last of a repeated name.
  assert.deepEqual(readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', 'false'), set('FLIPT_AUTHENTICATION_REQUIRED', 'true')]), { authenticationRequired: true });
  const refused = readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', 'yes')]);
  assert.equal(refused.authenticationRequired, undefined);
  assert.equal(refused.override?.blocking, true);
  assert.match(refused.override!.message, /^Deployment flipt\/flipt sets FLIPT_AUTHENTICATION_REQUIRED \(container flipt\) to something other than a boolean, so Flipt refuses to start/);
  assert.doesNotMatch(refused.override!.message, /yes/, "the user's value is not repeated");
  const hidden = readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', undefined)]);
  assert.deepEqual([hidden.authenticationRequired, hidden.override?.blocking], [undefined, false]);
});

test('a static target: the token method turned off, or another storage, blocks; what else is set under it is reported', () => {
  for (const value of ['true', '1', 'T']) assert.deepEqual(readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', value)]), {}, value);
  assert.deepEqual(readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TYPE', 'static')]), {});
  const off = readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', 'false')]).override!;
  assert.equal(off.blocking, true);
  assert.match(off.message, /FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED \(container flipt\), which turns the token method off, so Flipt accepts no static token.*remove them/);
  assert.equal(readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', 'on')]).override?.blocking, true);
  assert.match(readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TYPE', 'db')]).override!.message, /STORAGE_TYPE \(container flipt\) to a token storage other than static, which Flipt refuses for the token method/);
  for (const v of [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', undefined), set('FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TOKENS_CI_CREDENTIAL', 'x')]) {
    const override = readFliptEnv(staticTarget, [v]).override!;
    assert.equal(override.blocking, false, v.name);
    assert.match(override.message, new RegExp(`sets ${v.name} \\(container flipt\\), which Flipt may read over .* the operator cannot tell what it makes of them: move the setting into Flipt's config`));
  }
  // A blocking variable decides, and the message names only what blocks.
  const both = readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TOKENS_CI_CREDENTIAL', 'x'), set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', '0', 'other')]).override!;
  assert.equal(both.blocking, true);
  assert.match(both.message, /ENABLED \(container other\), which turns the token method off/);
  assert.doesNotMatch(both.message, /TOKENS_CI/);
  const many = readFliptEnv(staticTarget, ['A', 'B', 'C', 'D', 'E'].map((n) => set(`FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TOKENS_${n}_CREDENTIAL`, 'x'))).override!;
  assert.match(many.message, /TOKENS_C_CREDENTIAL \(container flipt\), and 2 more, which Flipt may read/);
  assert.doesNotMatch(many.message, /TOKENS_D_/, 'a message every client carries names a few');
});

test('a JWT target: the kubernetes method on, or the jwt method off, blocks; other jwt settings are reported', () => {
  assert.deepEqual(readFliptEnv(jwtTarget, [set('FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', 'false'), set('FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED', 'true')]), {});
  assert.match(readFliptEnv(jwtTarget, [set('FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', '1')]).override!.message, /turns the kubernetes method on, and Flipt cannot run it beside the jwt method/);
  assert.match(readFliptEnv(jwtTarget, [set('FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED', 'f')]).override!.message, /turns the jwt method off, so Flipt accepts no JWT/);
  assert.equal(readFliptEnv(jwtTarget, [set('FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', 'maybe')]).override?.blocking, true);
  for (const v of [set('FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', undefined), set('FLIPT_AUTHENTICATION_METHODS_JWT_JWKS_URL', 'https://elsewhere'), set('FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED', undefined)]) {
    assert.equal(readFliptEnv(jwtTarget, [v]).override?.blocking, false, v.name);
  }
});

test("a value Flipt resolves as ${env:NAME} is unknown here, as one from valueFrom: never blocking, never read as a boolean", () => {
  const reference = '${env:AUTH}';
  const required = readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', reference)]);
  assert.deepEqual([required.authenticationRequired, required.override?.blocking], [undefined, false]);
  for (const [target, name] of [
    [staticTarget, 'FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED'],
    [staticTarget, 'FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TYPE'],
    [staticTarget, 'FLIPT_SECRETS_PROVIDERS_FILE_ENABLED'],
    [jwtTarget, 'FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED'],
    [jwtTarget, 'FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED'],
  ] as const) {
    assert.equal(readFliptEnv(target, [set(name, reference)]).override?.blocking, false, name);
  }
  // Not a reference by Flipt's pattern: the text itself, which is no boolean.
  assert.equal(readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', '${env:1X}')]).override?.blocking, true);
});

test('containers that disagree on FLIPT_AUTHENTICATION_REQUIRED: read as false, whichever comes last', () => {
  assert.deepEqual(readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', 'false'), set('FLIPT_AUTHENTICATION_REQUIRED', 'true', 'sidecar')]), { authenticationRequired: false });
  assert.deepEqual(readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', 'true', 'sidecar'), set('FLIPT_AUTHENTICATION_REQUIRED', 'false')]), { authenticationRequired: false });
  assert.deepEqual(readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', 'true'), set('FLIPT_AUTHENTICATION_REQUIRED', '1', 'sidecar')]), { authenticationRequired: true });
});

test('a method switch that is not a boolean keeps Flipt from starting, whichever method and target kind', () => {
  for (const name of ['FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', 'FLIPT_AUTHENTICATION_METHODS_GITHUB_ENABLED', 'FLIPT_AUTHENTICATION_METHODS_OIDC_ENABLED', 'FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED', 'FLIPT_SECRETS_PROVIDERS_FILE_ENABLED']) {
    for (const target of [staticTarget, jwtTarget]) {
      const override = readFliptEnv(target, [set(name, 'yes')]).override!;
      assert.equal(override.blocking, true, `${name}, ${target.credentialKind}`);
      assert.match(override.message, /to something other than a boolean, so Flipt refuses to start/);
    }
  }
  // A valid one for a method the target does not use is none of its business.
  assert.deepEqual(readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_GITHUB_ENABLED', 'false')]), {});
});

test('secretFile mode: the file secrets provider turned off blocks; other modes and JWT targets do not use it', () => {
  const off = readFliptEnv(staticTarget, [set('FLIPT_SECRETS_PROVIDERS_FILE_ENABLED', 'false')]).override!;
  assert.equal(off.blocking, true);
  assert.match(off.message, /turns the file secrets provider off, so Flipt cannot resolve the tokens' \$\{secret:file:\.\.\.\} references/);
  assert.deepEqual(readFliptEnv(staticTarget, [set('FLIPT_SECRETS_PROVIDERS_FILE_ENABLED', 'true')]), {});
  assert.equal(readFliptEnv(staticTarget, [set('FLIPT_SECRETS_PROVIDERS_FILE_ENABLED', undefined)]).override?.blocking, false);
  assert.deepEqual(readFliptEnv(exampleTarget({ credentialReference: 'env' }), [set('FLIPT_SECRETS_PROVIDERS_FILE_ENABLED', 'false')]), {});
  assert.deepEqual(readFliptEnv(jwtTarget, [set('FLIPT_SECRETS_PROVIDERS_FILE_ENABLED', 'false')]), {});
});

test('a long variable name is shortened in the message every client carries', () => {
  const name = `FLIPT_AUTHENTICATION_METHODS_TOKEN_${'X'.repeat(5000)}`;
  const message = readFliptEnv(staticTarget, [set(name, 'x'), set(name, 'x', 'b'), set(name, 'x', 'c'), set(name, 'x', 'd')]).override!.message;
  assert.ok(message.length < 1000, `${message.length} characters`);
  assert.match(message, /X… \(container flipt\)/);
});

