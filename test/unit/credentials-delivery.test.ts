// Whether Flipt's pod template gives the containers that read its config the credentials Secret the
// way the config refers to the tokens: read from the pod template as the kubelet would mount it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Container, V1Deployment, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { credentialsNotDelivered, type CredentialsDelivery } from '../../src/fliptinstance/credentials-delivery.ts';
import { renderFliptConfig } from '../../src/fliptinstance/flipt-config.ts';
import type { FliptEnvVar, PodEnv } from '../../src/fliptinstance/flipt-env.ts';
import { viewWorkload } from '../../src/fliptinstance/workload.ts';
import { exampleTarget } from '../support/target-fixture.ts';

const names = { configMap: 'flipt', configKey: 'default.yml', credentialsSecret: 'flipt-client-credentials' };
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
      { name: 'creds', mountPath: '/etc/flipt/by-pod', subPathExpr: '$(POD_NAME)' },
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

test("the view: a container mounts Flipt's config when the file is in what it mounts (the config key, at the path the volume gives it)", () => {
  const mounting = (volume: V1Volume, mount: V1VolumeMount) => view([{ name: 'c', volumeMounts: [mount] }], [volume]).credentials?.map((d) => d.container);
  const whole = { name: 'config', mountPath: '/etc/flipt/config' };
  assert.deepEqual(mounting(configVolume, whole), ['c']);
  assert.deepEqual(mounting(configVolume, readsConfig), ['c']);
  assert.equal(mounting(configVolume, { ...readsConfig, subPath: 'other.yml' }), undefined, 'another key of the ConfigMap');
  assert.equal(mounting({ name: 'config', configMap: { name: 'flipt', items: [{ key: 'other.yml', path: 'other.yml' }] } }, whole), undefined, 'items without the config key');
  const renamed: V1Volume = { name: 'config', configMap: { name: 'flipt', items: [{ key: 'default.yml', path: 'flipt.yml' }] } };
  assert.deepEqual(mounting(renamed, whole), ['c']);
  assert.deepEqual(mounting(renamed, { ...readsConfig, subPath: 'flipt.yml' }), ['c']);
  assert.equal(mounting(renamed, readsConfig), undefined, 'the key is at flipt.yml in that volume');
  assert.deepEqual(mounting({ name: 'config', projected: { sources: [{ secret: { name: 'x' } }, { configMap: { name: 'flipt' } }] } }, whole), ['c']);
  assert.equal(mounting({ name: 'config', configMap: { name: 'other' } }, whole), undefined);
});

const staticTarget = exampleTarget();
const noEnv: PodEnv = { containers: ['flipt'], vars: [], envFrom: [] };
const envOf = (vars: FliptEnvVar[], envFrom: string[] = []): PodEnv => ({ containers: ['flipt'], vars, envFrom });
const at = (...mountPaths: string[]): CredentialsDelivery[] => [{ container: 'flipt', mountPaths, envFrom: false }];

test('secretFile: the whole Secret mounted at the base path Flipt reads, or a CredentialsNotMounted message', () => {
  assert.equal(credentialsNotDelivered(staticTarget, at('/etc/flipt/secrets'), noEnv, '/etc/flipt/secrets'), undefined);
  assert.equal(credentialsNotDelivered(staticTarget, at('/run/secrets'), noEnv, '/run//secrets/./'), undefined, 'the same directory, as Flipt cleans it');
  const missing = credentialsNotDelivered(staticTarget, at(), noEnv, '/etc/flipt/secrets');
  assert.deepEqual(missing, {
    reason: 'CredentialsNotMounted',
    message:
      "No container of Deployment flipt/flipt that mounts Flipt's config mounts the whole Secret flipt/flipt-client-credentials at its secrets base path (container flipt: /etc/flipt/secrets), where Flipt reads the config's ${secret:file:<id>} references, so Flipt refuses to start on a config that holds a token; mount it there (a secret volume without items, no subPath)",
  });
  assert.match(credentialsNotDelivered(staticTarget, at('/etc/flipt/secrets'), noEnv, '/run/secrets')!.message, /\(container flipt: \/run\/secrets, where it has the Secret at \/etc\/flipt\/secrets\)/);
  // Flipt runs in one of the containers that mount its config: one that can read the tokens is enough.
  const reader = { container: 'reader', mountPaths: [], envFrom: false };
  const both = { ...noEnv, containers: ['flipt', 'reader'] };
  assert.equal(credentialsNotDelivered(staticTarget, [...at('/etc/flipt/secrets'), reader], both, '/etc/flipt/secrets'), undefined);
  assert.match(credentialsNotDelivered(staticTarget, [...at(), reader], both, '/etc/flipt/secrets')!.message, /\(container flipt: \/etc\/flipt\/secrets; container reader: \/etc\/flipt\/secrets\)/);
  // Paths come from the pod template, unbounded: a message shows at most 100 characters of one.
  const long = `/${'d'.repeat(300)}`;
  assert.match(credentialsNotDelivered(staticTarget, at(), noEnv, long)!.message, new RegExp(`container flipt: /${'d'.repeat(99)}…\\)`));
  // Not this target's business: JWTs, inline tokens, or no container known to run Flipt.
  assert.equal(credentialsNotDelivered(exampleTarget({ credentialKind: 'jwt' }), at(), noEnv, '/etc/flipt/secrets'), undefined);
  assert.equal(credentialsNotDelivered(exampleTarget({ credentialReference: 'inline' }), at(), noEnv, '/etc/flipt/secrets'), undefined);
  assert.equal(credentialsNotDelivered(staticTarget, undefined, noEnv, '/etc/flipt/secrets'), undefined);
  assert.equal(credentialsNotDelivered(staticTarget, at(), noEnv, undefined), undefined, 'the config not rendered yet');
});

test('secretFile: the base path as Flipt resolves it in the container: its FLIPT_ variable over the config, ${env:NAME} from NAME, and no claim where unreadable', () => {
  const variable = (value: string | undefined) => ({ container: 'flipt', name: 'FLIPT_SECRETS_PROVIDERS_FILE_BASE_PATH', value });
  assert.equal(credentialsNotDelivered(staticTarget, at('/run/secrets'), envOf([variable('/run/secrets')]), '/etc/flipt/secrets'), undefined);
  assert.match(credentialsNotDelivered(staticTarget, at('/etc/flipt/secrets'), envOf([variable('/run/secrets')]), '/etc/flipt/secrets')!.message, /container flipt: \/run\/secrets,/);
  // An empty variable is unset to viper; Kubernetes takes the last of a repeated name.
  assert.equal(credentialsNotDelivered(staticTarget, at('/etc/flipt/secrets'), envOf([variable('')]), '/etc/flipt/secrets'), undefined);
  assert.match(credentialsNotDelivered(staticTarget, at(), envOf([variable('')]), '/etc/flipt/secrets')?.message ?? '', /container flipt: \/etc\/flipt\/secrets\)/);
  assert.equal(credentialsNotDelivered(staticTarget, at('/b'), envOf([variable('/a'), variable('/b')]), '/etc/flipt/secrets'), undefined);
  // Only the container's own variable of that name counts: not another container's, not another name's.
  const sidecars = envOf([variable('/run/secrets'), { container: 'flipt', name: 'OTHER', value: '/elsewhere' }, { container: 'sidecar', name: variable('').name, value: '/elsewhere' }]);
  assert.equal(credentialsNotDelivered(staticTarget, at('/run/secrets'), sidecars, '/etc/flipt/secrets'), undefined);
  // A written variable decides even in a container with envFrom.
  assert.match(credentialsNotDelivered(staticTarget, at(), envOf([variable('/run/secrets')], ['flipt']), '/etc/flipt/secrets')?.message ?? '', /container flipt: \/run\/secrets\)/);
  const reference = { env: 'SECRETS_DIR' };
  assert.equal(credentialsNotDelivered(staticTarget, at('/run/secrets'), envOf([{ container: 'flipt', name: 'SECRETS_DIR', value: '/run/secrets' }]), reference), undefined);
  assert.match(credentialsNotDelivered(staticTarget, at(), envOf([{ container: 'flipt', name: 'SECRETS_DIR', value: '/run/secrets' }]), reference)!.message, /container flipt: \/run\/secrets\)/);
  const unreadable: Array<[PodEnv, string | { env: string }]> = [
    [envOf([variable(undefined)]), '/etc/flipt/secrets'],
    [envOf([variable('${env:DIR}')]), '/etc/flipt/secrets'],
    [envOf([], ['flipt']), '/etc/flipt/secrets'], // envFrom may set the variable
    [envOf([]), reference], // empty: Flipt's validation refuses it
    [envOf([{ container: 'flipt', name: 'SECRETS_DIR', value: undefined }]), reference],
    [envOf([]), 'secrets'], // relative to Flipt's working directory
  ];
  for (const [env, setting] of unreadable) assert.equal(credentialsNotDelivered(staticTarget, at(), env, setting), undefined, JSON.stringify([env, setting]));
});

test('env: envFrom of the whole Secret without a prefix, or a CredentialsNotMounted message', () => {
  const envTarget = exampleTarget({ credentialReference: 'env' });
  assert.equal(credentialsNotDelivered(envTarget, [{ container: 'flipt', mountPaths: [], envFrom: true }], noEnv, '/etc/flipt/secrets'), undefined);
  const missing = credentialsNotDelivered(envTarget, [{ container: 'flipt', mountPaths: ['/etc/flipt/secrets'], envFrom: false }], noEnv, '/etc/flipt/secrets');
  assert.equal(missing?.reason, 'CredentialsNotMounted');
  assert.match(missing!.message, /^No container of Deployment flipt\/flipt that mounts Flipt's config \(flipt\) takes Secret flipt\/flipt-client-credentials with envFrom \(without a prefix\), .*so Flipt reads them empty and accepts none/);
  // The advice is what to paste: optional, so Flipt starts before the operator creates the Secret.
  assert.ok(missing!.message.endsWith("add envFrom: [{secretRef: {name: flipt-client-credentials, optional: true}}] to Flipt's container"), missing!.message);
  const two = [{ container: 'flipt', mountPaths: [], envFrom: true }, { container: 'reader', mountPaths: [], envFrom: false }];
  assert.equal(credentialsNotDelivered(envTarget, two, noEnv, '/etc/flipt/secrets'), undefined, 'one that can read the tokens is enough');
});

test("the config's base path, as the render reads it: Flipt's default, the value, or the variable a reference names", () => {
  const render = (source: string) => renderFliptConfig({ source, previouslyManaged: [], heldCredentials: {}, tokens: [], credentialReference: 'secretFile', jwtMethod: undefined, removeJwtMethod: false }).secretsBasePath;
  assert.equal(render('authentication:\n  required: true\n'), '/etc/flipt/secrets');
  // viper takes a key whose value is null for one the file does not set: Flipt's default applies.
  assert.equal(render('secrets:\n  providers:\n    file:\n      enabled: true\n      base_path:\n'), '/etc/flipt/secrets');
  assert.equal(render('secrets:\n  providers:\n    file:\n      base_path: ~\n'), '/etc/flipt/secrets');
  assert.equal(render('secrets:\n  providers:\n    file:\n      enabled: true\n      base_path: /run/secrets\n'), '/run/secrets');
  assert.deepEqual(render('secrets:\n  providers:\n    file:\n      base_path: ${env:SECRETS_DIR}\n'), { env: 'SECRETS_DIR' });
});
