// Flipt reads a FLIPT_<KEY_PATH> variable over its config file: which variables of its pod template
// undo what a target writes or decide what it reads, read as Flipt reads them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment } from '@kubernetes/client-node';
import { kubernetesMethodOn, readFliptEnv, type FliptEnvVar } from '../../src/fliptinstance/flipt-env.ts';
import type { BooleanSetting } from '../../src/vocabulary/registration.ts';
import { viewWorkload } from '../../src/fliptinstance/workload.ts';
import { exampleTarget } from '../support/target-fixture.ts';

const staticTarget = exampleTarget();
const jwtTarget = exampleTarget({ credentialKind: 'jwt' });
const set = (name: string, value: string | undefined, container = 'flipt'): FliptEnvVar => ({ container, name, value });
/** Flipt's environment as these variables make it, for a config whose authentication.required is `required`. */
/** A JWT target's config holds its jwt method, and the kubernetes method as `kubernetesEnabled` says; Flipt's container is "flipt", beside those named. */
const read = (target: typeof staticTarget, vars: FliptEnvVar[], required: BooleanSetting = true, envFrom: string[] = [], kubernetesEnabled: BooleanSetting = false) =>
  readFliptEnv(
    target,
    { containers: [...new Set(['flipt', ...vars.map((v) => v.container), ...envFrom])], vars, envFrom },
    { authenticationRequired: required, ...(target.credentialKind === 'jwt' ? { kubernetesEnabled } : {}), jwtConfigured: target.credentialKind === 'jwt' },
  );
const names = { configMap: 'flipt', configKey: 'default.yml', credentialsSecret: 'flipt-client-credentials' };
const byVariable = (required: boolean) => ({ authenticationRequired: { required, variable: 'FLIPT_AUTHENTICATION_REQUIRED', reference: false, container: 'flipt' } });

test('the pod template, where no container mounts the config: every variable of every container, written values only as written, and which containers use envFrom', () => {
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
                { name: 'AUTH_REQUIRED', value: 'true' },
                { name: 'FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
                { name: 'FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED', value: '$(OTHER)' },
                { name: 'FLIPT_AUTHENTICATION_SESSION_DOMAIN' },
              ],
            },
            { name: 'sidecar', env: [{ name: 'FLIPT_AUTHENTICATION_REQUIRED', value: 'false' }], envFrom: [{ configMapRef: { name: 'more' } }] },
            { name: 'bare', envFrom: [] },
          ],
        },
      },
    },
  };
  assert.deepEqual(viewWorkload('Deployment', deployment, names).env, {
    containers: ['flipt', 'sidecar', 'bare'],
    vars: [
      set('FLIPT_AUTHENTICATION_REQUIRED', 'true'),
      set('FLIPT_LOG_LEVEL', 'debug'),
      set('AUTH_REQUIRED', 'true'),
      set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', undefined),
      set('FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED', undefined),
      set('FLIPT_AUTHENTICATION_SESSION_DOMAIN', ''),
      set('FLIPT_AUTHENTICATION_REQUIRED', 'false', 'sidecar'),
    ],
    envFrom: ['sidecar'],
  });
  assert.deepEqual(viewWorkload('Deployment', { spec: { selector: {}, template: {} } }, names).env, { containers: [], vars: [], envFrom: [] });
});

test("only the containers that mount the target's ConfigMap may run Flipt: a sidecar beside it has no say", () => {
  const sidecar = { name: 'git-sync', env: [{ name: 'FLIPT_AUTHENTICATION_REQUIRED', value: 'false' }], envFrom: [{ configMapRef: { name: 'more' } }] };
  const flipt = (mount: string) => ({ name: 'flipt', env: [{ name: 'AUTH', value: 'true' }], volumeMounts: [{ name: mount, mountPath: '/etc/flipt/config' }] });
  const deployment = (volumes: NonNullable<NonNullable<V1Deployment['spec']>['template']['spec']>['volumes'], mount = 'config'): V1Deployment => ({
    spec: { selector: {}, template: { spec: { containers: [flipt(mount), sidecar], volumes } } },
  });
  const onlyFlipt = { containers: ['flipt'], vars: [set('AUTH', 'true')], envFrom: [] };
  const mounted = viewWorkload('Deployment', deployment([{ name: 'config', configMap: { name: 'flipt' } }]), names);
  assert.deepEqual(mounted.env, onlyFlipt);
  assert.deepEqual(mounted.credentials, [{ container: 'flipt', mountPaths: [], envFrom: false }], 'only the containers that mount the config');
  // A projected volume with the ConfigMap among its sources mounts it too.
  const projected = [{ name: 'config', projected: { sources: [{ secret: { name: 'flipt-client-credentials' } }, { configMap: { name: 'flipt' } }] } }];
  assert.deepEqual(viewWorkload('StatefulSet', deployment(projected), names).env, onlyFlipt);
  // Another ConfigMap, or a volume no container mounts, tells nothing: every container is read.
  const everyContainer = { containers: ['flipt', 'git-sync'], vars: [set('AUTH', 'true'), set('FLIPT_AUTHENTICATION_REQUIRED', 'false', 'git-sync')], envFrom: ['git-sync'] };
  assert.deepEqual(viewWorkload('Deployment', deployment([{ name: 'config', configMap: { name: 'other' } }]), names).env, everyContainer);
  assert.deepEqual(viewWorkload('Deployment', deployment([{ name: 'config', configMap: { name: 'flipt' } }], 'elsewhere'), names).env, everyContainer);
  // What that changes: the sidecar's variable no longer makes authentication.required false.
  const settings = { authenticationRequired: { env: 'AUTH' }, jwtConfigured: false };
  assert.deepEqual(readFliptEnv(staticTarget, onlyFlipt, settings).authenticationRequired, { required: true, variable: 'AUTH', reference: true, container: 'flipt' });
  assert.equal(readFliptEnv(staticTarget, everyContainer, settings).authenticationRequired?.required, false);
});

test('nothing set, or nothing the target depends on: nothing to say', () => {
  assert.deepEqual(read(staticTarget, []), {});
  const irrelevant = [set('FLIPT_AUTHENTICATION_SESSION_DOMAIN', 'x'), set('FLIPT_AUTHENTICATION_METHODS_OIDC_PROVIDERS_G_CLIENT_SECRET', undefined)];
  assert.deepEqual(read(staticTarget, irrelevant), {});
  // The jwt and kubernetes methods are no concern of a static target, the token method none of a JWT target's.
  assert.deepEqual(read(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED', 'false'), set('FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', 'true')]), {});
  assert.deepEqual(read(jwtTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', 'false')]), {});
  // An empty value is unset to viper.
  assert.deepEqual(read(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', ''), set('FLIPT_AUTHENTICATION_REQUIRED', '')]), {});
});

test('authentication.required is read from a written variable, as strconv.ParseBool reads it', () => {
  for (const value of ['true', '1', 't', 'T', 'TRUE', 'True']) assert.deepEqual(read(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', value)]), byVariable(true), value);
  for (const value of ['false', '0', 'f', 'F', 'FALSE', 'False']) assert.deepEqual(read(jwtTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', value)]), byVariable(false), value);
  // Kubernetes takes the last of a repeated name.
  assert.deepEqual(read(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', 'false'), set('FLIPT_AUTHENTICATION_REQUIRED', 'true')]), byVariable(true));
  const refused = read(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', 'yes')]);
  assert.equal(refused.authenticationRequired, undefined);
  assert.equal(refused.override?.blocking, true);
  assert.match(refused.override!.message, /^Deployment flipt\/flipt sets FLIPT_AUTHENTICATION_REQUIRED \(container flipt\) to something other than a boolean, so Flipt refuses to start/);
  assert.doesNotMatch(refused.override!.message, /yes/, "the user's value is not repeated");
  assert.equal(refused.override!.message.split('FLIPT_AUTHENTICATION_REQUIRED').length, 2, `the variable is named once:\n${refused.override!.message}`);
  const hidden = read(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', undefined)]);
  assert.deepEqual([hidden.authenticationRequired, hidden.override?.blocking], [undefined, false]);
  assert.equal(hidden.override!.message.split('FLIPT_AUTHENTICATION_REQUIRED').length, 2, `the variable is named once:\n${hidden.override!.message}`);
});

test('a static target: the token method turned off, or another storage, blocks; what else is set under it is reported', () => {
  for (const value of ['true', '1', 'T']) assert.deepEqual(read(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', value)]), {}, value);
  assert.deepEqual(read(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TYPE', 'static')]), {});
  const off = read(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', 'false')]).override!;
  assert.equal(off.blocking, true);
  assert.match(off.message, /FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED \(container flipt\), which turns the token method off, so Flipt accepts no static token.*remove them/);
  assert.equal(read(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', 'on')]).override?.blocking, true);
  assert.match(read(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TYPE', 'db')]).override!.message, /STORAGE_TYPE \(container flipt\) to a token storage other than static, which Flipt refuses for the token method/);
  for (const v of [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', undefined), set('FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TOKENS_CI_CREDENTIAL', 'x')]) {
    const override = read(staticTarget, [v]).override!;
    assert.equal(override.blocking, false, v.name);
    assert.match(override.message, new RegExp(`sets ${v.name} \\(container flipt\\), which Flipt may read for .* the operator cannot tell what it makes of them: move the setting into Flipt's config`));
  }
  // A blocking variable decides, and the message names only what blocks.
  const both = read(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TOKENS_CI_CREDENTIAL', 'x'), set('FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', '0', 'other')]).override!;
  assert.equal(both.blocking, true);
  assert.match(both.message, /ENABLED \(container other\), which turns the token method off/);
  assert.doesNotMatch(both.message, /TOKENS_CI/);
  const many = read(staticTarget, ['A', 'B', 'C', 'D', 'E'].map((n) => set(`FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TOKENS_${n}_CREDENTIAL`, 'x'))).override!;
  assert.match(many.message, /TOKENS_C_CREDENTIAL \(container flipt\), and 2 more, which Flipt may read/);
  assert.doesNotMatch(many.message, /TOKENS_D_/, 'a message every client carries names a few');
});

test('a JWT target: the kubernetes method on, or the jwt method off, blocks; other jwt settings are reported', () => {
  assert.deepEqual(read(jwtTarget, [set('FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', 'false'), set('FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED', 'true')]), {});
  assert.match(read(jwtTarget, [set('FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', '1')]).override!.message, /turns the kubernetes method on, and Flipt cannot run it beside the jwt method/);
  assert.match(read(jwtTarget, [set('FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED', 'f')]).override!.message, /turns the jwt method off, so Flipt accepts no JWT/);
  assert.equal(read(jwtTarget, [set('FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', 'maybe')]).override?.blocking, true);
  for (const v of [set('FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', undefined), set('FLIPT_AUTHENTICATION_METHODS_JWT_JWKS_URL', 'https://elsewhere'), set('FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED', undefined)]) {
    assert.equal(read(jwtTarget, [v]).override?.blocking, false, v.name);
  }
});

test("a value Flipt resolves as ${env:NAME} is unknown here, as one from valueFrom: never blocking, never read as a boolean", () => {
  const reference = '${env:AUTH}';
  const required = read(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', reference)]);
  assert.deepEqual([required.authenticationRequired, required.override?.blocking], [undefined, false]);
  for (const [target, name] of [
    [staticTarget, 'FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED'],
    [staticTarget, 'FLIPT_AUTHENTICATION_METHODS_TOKEN_STORAGE_TYPE'],
    [staticTarget, 'FLIPT_SECRETS_PROVIDERS_FILE_ENABLED'],
    [jwtTarget, 'FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED'],
    [jwtTarget, 'FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED'],
  ] as const) {
    assert.equal(read(target, [set(name, reference)]).override?.blocking, false, name);
  }
  // Not a reference by Flipt's pattern: the text itself, which is no boolean.
  assert.equal(read(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', '${env:1X}')]).override?.blocking, true);
});

test('containers that disagree on FLIPT_AUTHENTICATION_REQUIRED: read as false, whichever comes last', () => {
  assert.deepEqual(read(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', 'false'), set('FLIPT_AUTHENTICATION_REQUIRED', 'true', 'sidecar')]), byVariable(false));
  assert.deepEqual(read(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', 'true', 'sidecar'), set('FLIPT_AUTHENTICATION_REQUIRED', 'false')]), byVariable(false));
  assert.deepEqual(read(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', 'true'), set('FLIPT_AUTHENTICATION_REQUIRED', '1', 'sidecar')]), byVariable(true));
});

test('a method switch that is not a boolean keeps Flipt from starting, whichever method and target kind', () => {
  for (const name of ['FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', 'FLIPT_AUTHENTICATION_METHODS_GITHUB_ENABLED', 'FLIPT_AUTHENTICATION_METHODS_OIDC_ENABLED', 'FLIPT_AUTHENTICATION_METHODS_JWT_ENABLED', 'FLIPT_SECRETS_PROVIDERS_FILE_ENABLED']) {
    for (const target of [staticTarget, jwtTarget]) {
      const override = read(target, [set(name, 'yes')]).override!;
      assert.equal(override.blocking, true, `${name}, ${target.credentialKind}`);
      assert.match(override.message, /to something other than a boolean, so Flipt refuses to start/);
    }
  }
  // A valid one for a method the target does not use is none of its business.
  assert.deepEqual(read(staticTarget, [set('FLIPT_AUTHENTICATION_METHODS_GITHUB_ENABLED', 'false')]), {});
});

test('secretFile mode: the file secrets provider turned off blocks; other modes and JWT targets do not use it', () => {
  const off = read(staticTarget, [set('FLIPT_SECRETS_PROVIDERS_FILE_ENABLED', 'false')]).override!;
  assert.equal(off.blocking, true);
  assert.match(off.message, /turns the file secrets provider off, so Flipt cannot resolve the tokens' \$\{secret:file:\.\.\.\} references/);
  assert.deepEqual(read(staticTarget, [set('FLIPT_SECRETS_PROVIDERS_FILE_ENABLED', 'true')]), {});
  assert.equal(read(staticTarget, [set('FLIPT_SECRETS_PROVIDERS_FILE_ENABLED', undefined)]).override?.blocking, false);
  assert.deepEqual(read(exampleTarget({ credentialReference: 'env' }), [set('FLIPT_SECRETS_PROVIDERS_FILE_ENABLED', 'false')]), {});
  assert.deepEqual(read(jwtTarget, [set('FLIPT_SECRETS_PROVIDERS_FILE_ENABLED', 'false')]), {});
});

test('a long variable name is shortened in the message every client carries', () => {
  const name = `FLIPT_AUTHENTICATION_METHODS_TOKEN_${'X'.repeat(5000)}`;
  const message = read(staticTarget, [set(name, 'x'), set(name, 'x', 'b'), set(name, 'x', 'c'), set(name, 'x', 'd')]).override!.message;
  assert.ok(message.length < 1000, `${message.length} characters`);
  assert.match(message, /X… \(container flipt\)/);
});


test('authentication.required: ${env:NAME} in the config is what NAME says in the pod template, as Flipt resolves it', () => {
  const reference = { env: 'AUTH_REQUIRED' };
  const byReference = (required: boolean) => ({ authenticationRequired: { required, variable: 'AUTH_REQUIRED', reference: true, container: 'flipt' } });
  for (const value of ['true', '1', 'T']) assert.deepEqual(read(staticTarget, [set('AUTH_REQUIRED', value)], reference), byReference(true), value);
  // Flipt decodes weakly: an empty string is false.
  for (const value of ['false', '0', '']) assert.deepEqual(read(staticTarget, [set('AUTH_REQUIRED', value)], reference), byReference(false), value || '(empty)');
  // Set by no container and no envFrom: Flipt gets an empty string.
  assert.deepEqual(read(staticTarget, [set('OTHER', 'true')], reference), byReference(false));
  // Each container is read as if Flipt ran there, and false in any one is false: Flipt's own container, unset, reads empty.
  assert.deepEqual(read(staticTarget, [set('AUTH_REQUIRED', 'true', 'sidecar')], reference), byReference(false));
  assert.deepEqual(read(staticTarget, [set('AUTH_REQUIRED', 'true', 'sidecar'), set('AUTH_REQUIRED', 'true')], reference), byReference(true));
  assert.deepEqual(read(staticTarget, [set('AUTH_REQUIRED', 'true'), set('AUTH_REQUIRED', 'false', 'sidecar')], reference).authenticationRequired, { required: false, variable: 'AUTH_REQUIRED', reference: true, container: 'sidecar' });
  // Two containers reading false: the message names the first.
  assert.equal(read(staticTarget, [set('AUTH_REQUIRED', 'false', 'a'), set('AUTH_REQUIRED', 'false', 'b'), set('AUTH_REQUIRED', 'true')], reference).authenticationRequired?.container, 'a');
  // The config itself false: what to change first, so no variable is blamed.
  assert.deepEqual(read(staticTarget, [set('FLIPT_AUTHENTICATION_REQUIRED', 'false', 'sidecar')], false), {});
  // A written FLIPT_AUTHENTICATION_REQUIRED decides over the config, the reference included, even one the operator cannot read.
  assert.deepEqual(read(staticTarget, [set('AUTH_REQUIRED', 'false'), set('FLIPT_AUTHENTICATION_REQUIRED', 'true')], reference), byVariable(true));
  const hiddenVariable = read(staticTarget, [set('AUTH_REQUIRED', 'true'), set('FLIPT_AUTHENTICATION_REQUIRED', undefined)], reference);
  assert.deepEqual([hiddenVariable.authenticationRequired, hiddenVariable.override?.blocking], [undefined, false]);
  // A literal config value is not looked up.
  assert.deepEqual(read(staticTarget, [set('AUTH_REQUIRED', 'false')], true), {});
});

test('authentication.required through ${env:NAME}: unreadable is a warning and no claim; a value that is no boolean keeps Flipt from starting', () => {
  const reference = { env: 'AUTH_REQUIRED' };
  const fromValueFrom = read(staticTarget, [set('AUTH_REQUIRED', undefined)], reference);
  assert.equal(fromValueFrom.authenticationRequired, undefined);
  assert.equal(fromValueFrom.override?.blocking, false);
  assert.match(fromValueFrom.override!.message, /^Deployment flipt\/flipt sets AUTH_REQUIRED \(container flipt\), which Flipt may read for settings the operator writes or reads/);
  const fromEnvFrom = read(staticTarget, [], reference, ['flipt']);
  assert.equal(fromEnvFrom.authenticationRequired, undefined);
  assert.match(fromEnvFrom.override!.message, /sets AUTH_REQUIRED \(through envFrom of container flipt, perhaps\)/);
  // A container's env decides over its own envFrom.
  assert.deepEqual(read(staticTarget, [set('AUTH_REQUIRED', 'true'), set('AUTH_REQUIRED', 'true', 'sidecar')], reference, ['sidecar']).authenticationRequired, { required: true, variable: 'AUTH_REQUIRED', reference: true, container: 'flipt' });
  // Another container's envFrom may set it for Flipt there: the unsafe reading is not hidden behind a sidecar's value.
  const elsewhere = read(staticTarget, [set('AUTH_REQUIRED', 'true', 'sidecar')], reference, ['flipt']);
  assert.deepEqual([elsewhere.authenticationRequired, elsewhere.override?.blocking], [undefined, false]);
  assert.match(elsewhere.override!.message, /sets AUTH_REQUIRED \(through envFrom of container flipt, perhaps\)/);
  for (const value of ['yes', '${env:OTHER}']) {
    const refused = read(staticTarget, [set('AUTH_REQUIRED', value)], reference);
    assert.equal(refused.override?.blocking, true, value);
    assert.match(refused.override!.message, /sets AUTH_REQUIRED \(container flipt\), which Flipt's config takes authentication\.required from, to something other than a boolean, so Flipt refuses to start/);
    assert.ok(!refused.override!.message.includes(value), "the user's value is not repeated");
  }
  const long = `A${'X'.repeat(300)}`;
  assert.equal(read(staticTarget, [set(long, 'false')], { env: long }).authenticationRequired?.variable, `A${'X'.repeat(99)}…`, 'a name in every client\'s status is cut');
});

test('the kubernetes method as Flipt runs it: each container as if Flipt ran there, a FLIPT_ variable over the config, ${env:NAME} as NAME says; off only when off in every container', () => {
  const K = 'FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED';
  const on = (setting: BooleanSetting, vars: FliptEnvVar[], envFrom: string[] = []) => {
    const r = kubernetesMethodOn(setting, { containers: [...new Set(['flipt', ...vars.map((v) => v.container), ...envFrom])], vars, envFrom });
    return [r.on, r.fromEnv, r.decidedBy?.container, r.decidedBy?.via];
  };
  assert.deepEqual(on(true, []), [true, false, 'flipt', 'config']);
  assert.deepEqual(on(false, []), [false, false, undefined, undefined]);
  assert.deepEqual(on(true, [set(K, 'false')]), [false, true, undefined, undefined]);
  assert.deepEqual(on(false, [set(K, 't')]), [true, true, 'flipt', 'variable']);
  // A sidecar turning it off does not turn it off in Flipt's container, which reads the config.
  assert.deepEqual(on(true, [set(K, 'false', 'sidecar')]), [true, true, 'flipt', 'config']);
  assert.deepEqual(on(false, [set(K, 'false'), set(K, 'true', 'sidecar')]), [true, true, 'sidecar', 'variable']);
  // Empty: the config decides. Unreadable or no boolean (Flipt does not start then): not known to be off.
  assert.deepEqual(on(true, [set(K, '')]), [true, false, 'flipt', 'config']);
  for (const value of [undefined, 'yes', '${env:X}']) assert.deepEqual(on(false, [set(K, value)]), [undefined, true, 'flipt', 'variable'], String(value));
  // The reading says which: unreadable (valueFrom, a reference Flipt resolves), or one Flipt refuses.
  for (const [value, reading] of [[undefined, undefined], ['${env:X}', undefined], ['yes', 'refused']] as const) {
    assert.equal(kubernetesMethodOn(false, { containers: ['flipt'], vars: [set(K, value)], envFrom: [] }).decidedBy?.value, reading, String(value));
  }
  assert.deepEqual(on(false, [set(K, undefined), set(K, 'true', 'sidecar')]), [true, true, 'sidecar', 'variable']);
  const reference = { env: 'K8S_AUTH' };
  assert.deepEqual(on(reference, [set('K8S_AUTH', 'true')]), [true, true, 'flipt', 'reference']);
  assert.deepEqual(on(reference, [set('K8S_AUTH', 'false')]), [false, true, undefined, undefined]);
  assert.deepEqual(on(reference, []), [false, true, undefined, undefined], 'unset: empty, which is false');
  assert.deepEqual(on(reference, [set('K8S_AUTH', undefined)]), [undefined, true, 'flipt', 'reference']);
  assert.deepEqual(on(reference, [], ['flipt']), [undefined, true, 'flipt', 'reference']);
  assert.deepEqual(on(reference, [set('K8S_AUTH', 'yes')]), [undefined, true, 'flipt', 'reference'], 'no boolean: not known to be off');
  assert.deepEqual(on(reference, [set('K8S_AUTH', 'true'), set(K, '0')]), [false, true, undefined, undefined]);
});

test("a JWT target: ${env:NAME} in the kubernetes method's enabled, where no variable decides over it, blocks when NAME turns it on or is no boolean", () => {
  const reference = { env: 'K8S_AUTH' };
  const on = read(jwtTarget, [set('K8S_AUTH', 'true')], true, [], reference).override!;
  assert.equal(on.blocking, true);
  assert.match(on.message, /sets K8S_AUTH \(container flipt\), which Flipt's config takes authentication\.methods\.kubernetes\.enabled from, to true, and Flipt cannot run the kubernetes method beside the jwt method/);
  const refused = read(jwtTarget, [set('K8S_AUTH', 'yes')], true, [], reference).override!;
  assert.equal(refused.blocking, true);
  assert.match(refused.message, /takes authentication\.methods\.kubernetes\.enabled from, to something other than a boolean, so Flipt refuses to start/);
  assert.equal(read(jwtTarget, [set('K8S_AUTH', undefined)], true, [], reference).override?.blocking, false, 'unreadable: a warning');
  for (const vars of [[set('K8S_AUTH', 'false')], [], [set('K8S_AUTH', 'true'), set('FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', 'false')]]) {
    assert.deepEqual(read(jwtTarget, vars, true, [], reference), {}, JSON.stringify(vars));
  }
  // A static target does not read the kubernetes method.
  assert.deepEqual(read(staticTarget, [set('K8S_AUTH', 'true')], true, [], reference), {});
});

test('a JWT target: a variable that turns the kubernetes method on beside the written jwt method blocks; with no jwt method written, nothing does', () => {
  const K = 'FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED';
  const sidecarOn = read(jwtTarget, [set(K, 'true', 'sidecar')], true, [], false).override!;
  assert.equal(sidecarOn.blocking, true);
  assert.match(sidecarOn.message, /sets FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED \(container sidecar\), which turns the kubernetes method on, and Flipt cannot run it beside the jwt method/);
  // A container that runs it as the config says: the jwt method plan reports that (KubernetesMethodEnabled), not the environment.
  assert.deepEqual(read(jwtTarget, [set(K, 'false', 'sidecar')], true, [], true), {});
  assert.deepEqual(read(jwtTarget, [set(K, 'false'), set(K, 'false', 'sidecar')], true, [], true), {}, 'off in every container');
  // Two settings naming one unreadable variable: listed once.
  const twice = read(jwtTarget, [set('X', undefined)], { env: 'X' }, [], { env: 'X' }).override!;
  assert.equal(twice.message.match(/X \(container flipt\)/g)?.length, 1);
  // The config alone enabling it is the jwt method plan's concern (KubernetesMethodEnabled), not the environment's.
  assert.deepEqual(read(jwtTarget, [], true, [], true), {});
  const notWritten = readFliptEnv(jwtTarget, { containers: ['flipt'], vars: [set(K, 'true')], envFrom: [] }, { authenticationRequired: true, kubernetesEnabled: false, jwtConfigured: false });
  assert.deepEqual(notWritten, {}, 'no jwt method beside it: Flipt runs fine, the plan says why it adds none');
});
