// Whether Flipt's pod template gives the containers that read its config the credentials Secret the
// way the config refers to the tokens: read from the pod template as the kubelet would mount it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Container, V1Deployment, V1Volume } from '@kubernetes/client-node';
import { credentialsNotDelivered, type CredentialsDelivery } from '../../src/fliptinstance/credentials-delivery.ts';
import { renderFliptConfig } from '../../src/fliptinstance/flipt-config.ts';
import type { FliptEnvVar, PodEnv } from '../../src/fliptinstance/flipt-env.ts';
import { viewWorkload } from '../../src/fliptinstance/workload.ts';
import { exampleTarget } from '../support/target-fixture.ts';

const names = { configMap: 'flipt', credentialsSecret: 'flipt-client-credentials' };
const configVolume: V1Volume = { name: 'config', configMap: { name: 'flipt' } };
const readsConfig = { name: 'config', mountPath: '/etc/flipt/config/default.yml', subPath: 'default.yml' };

function view(containers: V1Container[], volumes: V1Volume[]) {
  const deployment: V1Deployment = { spec: { selector: {}, template: { spec: { containers, volumes } } } };
  return viewWorkload('Deployment', deployment, names);
}

test('the view: where each container that mounts the config mounts every key of the credentials Secret, and whether it takes them as variables', () => {
  const secretVolumes: V1Volume[] = [
    configVolume,
    { name: 'creds', secret: { secretName: 'flipt-client-credentials', optional: true } },
    { name: 'some-keys', secret: { secretName: 'flipt-client-credentials', items: [{ key: 'a_b', path: 'a_b' }] } },
    { name: 'projected', projected: { sources: [{ configMap: { name: 'other' } }, { secret: { name: 'flipt-client-credentials' } }] } },
    { name: 'projected-some', projected: { sources: [{ secret: { name: 'flipt-client-credentials', items: [{ key: 'a_b', path: 'a_b' }] } }] } },
    { name: 'other', secret: { secretName: 'something-else' } },
  ];
  const flipt: V1Container = {
    name: 'flipt',
    volumeMounts: [
      readsConfig,
      { name: 'creds', mountPath: '/etc/flipt/secrets/' },
      { name: 'some-keys', mountPath: '/etc/flipt/some' },
      { name: 'projected', mountPath: '/etc/flipt/projected' },
      { name: 'projected-some', mountPath: '/etc/flipt/projected-some' },
      { name: 'creds', mountPath: '/etc/flipt/one', subPath: 'a_b' },
      { name: 'other', mountPath: '/etc/flipt/other' },
    ],
    envFrom: [{ secretRef: { name: 'flipt-client-credentials' } }],
  };
  const prefixed: V1Container = { name: 'prefixed', volumeMounts: [readsConfig], envFrom: [{ prefix: 'X_', secretRef: { name: 'flipt-client-credentials' } }] };
  const sidecar: V1Container = { name: 'sidecar', volumeMounts: [{ name: 'creds', mountPath: '/etc/flipt/secrets' }] };
  assert.deepEqual(view([flipt, prefixed, sidecar], secretVolumes).credentials, [
    { container: 'flipt', mountPaths: ['/etc/flipt/secrets', '/etc/flipt/projected'], envFrom: true },
    { container: 'prefixed', mountPaths: [], envFrom: false },
  ]);
  // No container mounts the config: the operator cannot tell which one runs Flipt.
  assert.equal(view([{ ...flipt, volumeMounts: flipt.volumeMounts!.slice(1) }], secretVolumes).credentials, undefined);
});

const staticTarget = exampleTarget();
const noEnv: PodEnv = { containers: ['flipt'], vars: [], envFrom: [] };
const envOf = (vars: FliptEnvVar[], envFrom: string[] = []): PodEnv => ({ containers: ['flipt'], vars, envFrom });
const at = (...mountPaths: string[]): CredentialsDelivery[] => [{ container: 'flipt', mountPaths, envFrom: false }];

test('secretFile: the whole Secret mounted at the base path Flipt reads, or a CredentialsNotMounted message', () => {
  assert.equal(credentialsNotDelivered(staticTarget, at('/etc/flipt/secrets'), noEnv, '/etc/flipt/secrets'), undefined);
  assert.equal(credentialsNotDelivered(staticTarget, at('/run/secrets'), noEnv, '/run/secrets/'), undefined, 'a trailing slash is the same directory');
  const missing = credentialsNotDelivered(staticTarget, at(), noEnv, '/etc/flipt/secrets');
  assert.deepEqual(missing, {
    reason: 'CredentialsNotMounted',
    message:
      "Deployment flipt/flipt mounts Secret flipt/flipt-client-credentials in container flipt, which mounts Flipt's config, at no /etc/flipt/secrets, the secrets base path, where Flipt reads the config's ${secret:file:<id>} references, so Flipt refuses to start on a config that holds a token; mount the whole Secret there (a secret volume without items, no subPath)",
  });
  assert.match(credentialsNotDelivered(staticTarget, at('/etc/flipt/secrets'), noEnv, '/run/secrets')!.message, /at no \/run\/secrets, the secrets base path/);
  // Every container that mounts the config may run Flipt: each must be able to read the tokens.
  const two: CredentialsDelivery[] = [...at('/etc/flipt/secrets'), { container: 'reader', mountPaths: [], envFrom: false }];
  assert.match(credentialsNotDelivered(staticTarget, two, { ...noEnv, containers: ['flipt', 'reader'] }, '/etc/flipt/secrets')!.message, /in container reader,/);
  // Not this target's business: JWTs, inline tokens, or no container known to run Flipt.
  assert.equal(credentialsNotDelivered(exampleTarget({ credentialKind: 'jwt' }), at(), noEnv, '/etc/flipt/secrets'), undefined);
  assert.equal(credentialsNotDelivered(exampleTarget({ credentialReference: 'inline' }), at(), noEnv, '/etc/flipt/secrets'), undefined);
  assert.equal(credentialsNotDelivered(staticTarget, undefined, noEnv, '/etc/flipt/secrets'), undefined);
  assert.equal(credentialsNotDelivered(staticTarget, at(), noEnv, undefined), undefined, 'the config not rendered yet');
});

test('secretFile: the base path as Flipt resolves it in the container: its FLIPT_ variable over the config, ${env:NAME} from NAME, and no claim where unreadable', () => {
  const variable = (value: string | undefined) => ({ container: 'flipt', name: 'FLIPT_SECRETS_PROVIDERS_FILE_BASE_PATH', value });
  assert.equal(credentialsNotDelivered(staticTarget, at('/run/secrets'), envOf([variable('/run/secrets')]), '/etc/flipt/secrets'), undefined);
  assert.match(credentialsNotDelivered(staticTarget, at('/etc/flipt/secrets'), envOf([variable('/run/secrets')]), '/etc/flipt/secrets')!.message, /at no \/run\/secrets,/);
  // An empty variable is unset to viper; Kubernetes takes the last of a repeated name.
  assert.equal(credentialsNotDelivered(staticTarget, at('/etc/flipt/secrets'), envOf([variable('')]), '/etc/flipt/secrets'), undefined);
  assert.match(credentialsNotDelivered(staticTarget, at(), envOf([variable('')]), '/etc/flipt/secrets')?.message ?? '', /at no \/etc\/flipt\/secrets,/);
  assert.equal(credentialsNotDelivered(staticTarget, at('/b'), envOf([variable('/a'), variable('/b')]), '/etc/flipt/secrets'), undefined);
  const reference = { env: 'SECRETS_DIR' };
  assert.equal(credentialsNotDelivered(staticTarget, at('/run/secrets'), envOf([{ container: 'flipt', name: 'SECRETS_DIR', value: '/run/secrets' }]), reference), undefined);
  assert.match(credentialsNotDelivered(staticTarget, at(), envOf([{ container: 'flipt', name: 'SECRETS_DIR', value: '/run/secrets' }]), reference)!.message, /at no \/run\/secrets,/);
  for (const unreadable of [envOf([variable(undefined)]), envOf([variable('${env:DIR}')]), envOf([]), envOf([], ['flipt']), envOf([{ container: 'flipt', name: 'SECRETS_DIR', value: undefined }])]) {
    const setting = unreadable.vars.some((v) => v.name.startsWith('FLIPT_')) ? '/etc/flipt/secrets' : reference;
    assert.equal(credentialsNotDelivered(staticTarget, at(), unreadable, setting), undefined, JSON.stringify(unreadable));
  }
});

test('env: envFrom of the whole Secret without a prefix, or a CredentialsNotMounted message', () => {
  const envTarget = exampleTarget({ credentialReference: 'env' });
  assert.equal(credentialsNotDelivered(envTarget, [{ container: 'flipt', mountPaths: [], envFrom: true }], noEnv, '/etc/flipt/secrets'), undefined);
  const missing = credentialsNotDelivered(envTarget, [{ container: 'flipt', mountPaths: ['/etc/flipt/secrets'], envFrom: false }], noEnv, '/etc/flipt/secrets');
  assert.equal(missing?.reason, 'CredentialsNotMounted');
  assert.match(missing!.message, /^Deployment flipt\/flipt gives container flipt, which mounts Flipt's config, no envFrom of Secret flipt\/flipt-client-credentials, .*so Flipt reads them empty and accepts none/);
});

test("the config's base path, as the render reads it: Flipt's default, the value, or the variable a reference names", () => {
  const render = (source: string) => renderFliptConfig({ source, previouslyManaged: [], tokens: [], credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false }).secretsBasePath;
  assert.equal(render('authentication:\n  required: true\n'), '/etc/flipt/secrets');
  assert.equal(render('secrets:\n  providers:\n    file:\n      enabled: true\n      base_path: /run/secrets\n'), '/run/secrets');
  assert.deepEqual(render('secrets:\n  providers:\n    file:\n      base_path: ${env:SECRETS_DIR}\n'), { env: 'SECRETS_DIR' });
});
