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
              ],
            },
            { name: 'sidecar', env: [{ name: 'FLIPT_AUTHENTICATION_REQUIRED', value: 'false' }] },
          ],
        },
      },
    },
  };
  assert.deepEqual(viewWorkload('Deployment', deployment).authenticationEnv, [
    set('FLIPT_AUTHENTICATION_REQUIRED', 'true'),
    set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', undefined),
    set('FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED', undefined),
    set('FLIPT_AUTHENTICATION_SESSION_DOMAIN', ''),
    set('FLIPT_AUTHENTICATION_REQUIRED', 'false', 'sidecar'),
  ]);
  assert.deepEqual(viewWorkload('Deployment', { spec: { selector: {}, template: {} } }).authenticationEnv, []);
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
  assert.match(readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TYPE', 'db')]).override!.message, /STORAGE_TYPE \(container flipt\) to a token storage other than static, so Flipt refuses to start/);
  for (const v of [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', undefined), set('FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TOKENS_CI_CREDENTIAL', 'x')]) {
    const override = readFliptEnv(staticTarget, [v]).override!;
    assert.equal(override.blocking, false, v.name);
    assert.match(override.message, new RegExp(`sets ${v.name} \\(container flipt\\), which Flipt reads over .* the operator cannot tell what it does: move the setting into Flipt's config`));
  }
  // A blocking variable decides, and the message names only what blocks.
  const both = readFliptEnv(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TOKENS_CI_CREDENTIAL', 'x'), set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', '0', 'other')]).override!;
  assert.equal(both.blocking, true);
  assert.match(both.message, /ENABLED \(container other\), which turns the token method off/);
  assert.doesNotMatch(both.message, /TOKENS_CI/);
  const many = readFliptEnv(staticTarget, ['A', 'B', 'C', 'D', 'E'].map((n) => set(`FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TOKENS_${n}_CREDENTIAL`, 'x'))).override!;
  assert.match(many.message, /TOKENS_C_CREDENTIAL \(container flipt\), and 2 more, which Flipt reads/);
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
