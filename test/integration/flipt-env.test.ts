// Flipt reads a FLIPT_<KEY_PATH> variable over its config file. A variable in Flipt's pod template that
// turns the token method off, or sets authentication.required, is read as Flipt reads it: the clients
// say so (conditions, a Warning Event), and so do the log and the blocked-target metric, and they
// recover once it is gone. A `${env:NAME}` in the config is read from NAME in the pod template. A
// sidecar that does not mount Flipt's config is not read; a container that does must mount the
// credentials Secret.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1EnvVar } from '@kubernetes/client-node';
import { mergePatch } from '../../src/kube/client.ts';
import { waitFor } from '../support/cluster.ts';
import { condition, createFliptClient, getFliptClient } from '../support/fliptclients.ts';
import { Scenario } from '../support/scenario.ts';

let scenario: Scenario;
let app: string;

before(async () => {
  scenario = await Scenario.start({ minInterval: '1s' });
  app = await scenario.createAppNamespace(`env-${Date.now().toString(36)}`);
});
after(async () => scenario?.stop());

/** Flipt's container with exactly these variables (a merge patch replaces the list). */
async function setFliptEnv(env: V1EnvVar[], on = scenario): Promise<void> {
  await on.cluster.clients.apps.patchNamespacedDeployment(
    { name: 'flipt', namespace: on.namespace, body: { spec: { template: { spec: { containers: [{ name: 'flipt', image: 'docker.flipt.io/flipt/flipt:v2.11.0', env }] } } } } },
    mergePatch,
  );
}

async function appliedAs(reason: string, ready: 'True' | 'False', on = scenario, namespace = app): Promise<{ message: string }> {
  let applied: { message: string } | undefined;
  await waitFor(async () => {
    const client = await getFliptClient(on.cluster.clients, namespace, 'web');
    const found = condition(client, 'ConfigApplied');
    applied = found;
    return found?.reason === reason && condition(client, 'Ready')?.status === ready;
  }, `ConfigApplied ${reason}, Ready ${ready}`, 20_000);
  return applied!;
}

test("Flipt's pod template turning the token method off: the client is not Ready and says why, until the variable is gone", async () => {
  await createFliptClient(scenario.cluster.clients, app, 'web');
  await appliedAs('Registered', 'True');

  await setFliptEnv([{ name: 'FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', value: 'false' }]);
  const blocked = await appliedAs('FliptEnvOverride', 'False');
  assert.match(blocked.message, new RegExp(`Deployment ${scenario.namespace}/flipt sets FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED \\(container flipt\\), which turns the token method off, so Flipt accepts no static token`));
  const client = await getFliptClient(scenario.cluster.clients, app, 'web');
  assert.equal(condition(client, 'Ready')?.reason, 'FliptEnvOverride');
  await waitFor(async () => {
    const events = await scenario.cluster.clients.events.listNamespacedEvent({ namespace: app });
    return events.items.some((e) => e.reason === 'FliptEnvOverride' && e.type === 'Warning');
  }, 'a Warning Event', 10_000);
  assert.equal(await scenario.metric('flipt_operator_target_blocked', { target: 'default', reason: 'FliptEnvOverride' }), 1);

  // Set in the pod template, authentication.required false is what Flipt runs with, whatever the config says.
  await setFliptEnv([{ name: 'FLIPT_AUTHENTICATION_REQUIRED', value: 'false' }]);
  const open = await appliedAs('AuthenticationNotRequired', 'True');
  assert.match(open.message, /^Registered with target "default" as token env-[a-z0-9]+_web, but Flipt's pod template sets FLIPT_AUTHENTICATION_REQUIRED to false in container flipt, which Flipt reads over authentication\.required/);
  assert.equal(await scenario.metric('flipt_operator_target_blocked', { target: 'default', reason: 'FliptEnvOverride' }), 0);

  // From a Secret, the value is unknown: Ready, with the warning.
  await setFliptEnv([{ name: 'FLIPT_AUTHENTICATION_METHODS_TOKEN_ENABLED', valueFrom: { secretKeyRef: { name: 'somewhere', key: 'enabled' } } }]);
  const unknown = await appliedAs('FliptEnvOverride', 'True');
  assert.match(unknown.message, /the operator cannot tell what it makes of them: move the setting into Flipt's config/);

  await setFliptEnv([]);
  await appliedAs('Registered', 'True');
  const logged = scenario.operator.logRecords().filter((line) => line.msg.startsWith("Flipt's pod template"));
  assert.deepEqual(
    logged.map((l) => l.msg),
    [
      "Flipt's pod template overrides its authentication config",
      "Flipt's pod template no longer overrides its authentication config",
      "Flipt's pod template overrides its authentication config",
      "Flipt's pod template no longer overrides its authentication config",
    ],
    'a line when it starts and one when it ends, not one per reconcile',
  );
});

test("authentication.required: ${env:AUTH_REQUIRED} in Flipt's config is read from the pod template, as Flipt resolves it", async () => {
  const config = await scenario.fliptConfig();
  assert.match(config, /^  required: true$/m, 'the fixture');
  await scenario.cluster.clients.core.patchNamespacedConfigMap(
    { name: 'flipt', namespace: scenario.namespace, body: { data: { 'default.yml': config.replace(/^  required: true$/m, '  required: ${env:AUTH_REQUIRED}') } } },
    mergePatch,
  );
  await setFliptEnv([{ name: 'AUTH_REQUIRED', value: 'true' }]);
  await appliedAs('Registered', 'True');
  await setFliptEnv([{ name: 'AUTH_REQUIRED', value: 'false' }]);
  const open = await appliedAs('AuthenticationNotRequired', 'True');
  assert.match(open.message, /but Flipt's config takes authentication\.required from \$\{env:AUTH_REQUIRED\}, which container flipt of Flipt's pod template leaves unset, empty or false/);
  // Unset, with no envFrom: Flipt reads an empty string, which is false.
  await setFliptEnv([]);
  await appliedAs('AuthenticationNotRequired', 'True');
  await setFliptEnv([{ name: 'AUTH_REQUIRED', valueFrom: { secretKeyRef: { name: 'somewhere', key: 'required' } } }]);
  const unknown = await appliedAs('FliptEnvOverride', 'True');
  assert.match(unknown.message, /sets AUTH_REQUIRED \(container flipt\), which Flipt may read/);
  await setFliptEnv([{ name: 'AUTH_REQUIRED', value: '1' }]);
  await appliedAs('Registered', 'True');
});

test("the containers that mount Flipt's config are Flipt's: a sidecar has no say in what the operator reads, and they must be given the credentials Secret", async () => {
  const config = await scenario.fliptConfig();
  await scenario.cluster.clients.core.patchNamespacedConfigMap(
    { name: 'flipt', namespace: scenario.namespace, body: { data: { 'default.yml': config.replace(/^  required: .*$/m, '  required: ${env:AUTH_REQUIRED}') } } },
    mergePatch,
  );
  const podTemplate = (mounts: { config: boolean; credentials: boolean }) =>
    scenario.cluster.clients.apps.patchNamespacedDeployment(
      {
        name: 'flipt',
        namespace: scenario.namespace,
        body: {
          spec: {
            template: {
              spec: {
                volumes: [
                  { name: 'config', configMap: { name: 'flipt' } },
                  { name: 'client-credentials', secret: { secretName: 'flipt-client-credentials', optional: true } },
                ],
                containers: [
                  {
                    name: 'flipt',
                    image: 'docker.flipt.io/flipt/flipt:v2.11.0',
                    env: [{ name: 'AUTH_REQUIRED', value: 'true' }],
                    volumeMounts: [
                      ...(mounts.config ? [{ name: 'config', mountPath: '/etc/flipt/config/default.yml', subPath: 'default.yml' }] : []),
                      ...(mounts.credentials ? [{ name: 'client-credentials', mountPath: '/etc/flipt/secrets', readOnly: true }] : []),
                    ],
                  },
                  // Sets no AUTH_REQUIRED: were Flipt running here, authentication.required would be false.
                  { name: 'git-sync', image: 'example.invalid/git-sync:1', env: [{ name: 'FLIPT_AUTHENTICATION_REQUIRED', value: 'false' }] },
                ],
              },
            },
          },
        },
      },
      mergePatch,
    );
  // No container mounts the config: every one is read, the sidecar's variable too.
  await podTemplate({ config: false, credentials: true });
  const open = await appliedAs('AuthenticationNotRequired', 'True');
  assert.match(open.message, /Flipt's pod template sets FLIPT_AUTHENTICATION_REQUIRED to false in container git-sync/);
  // Flipt's container mounts its config but not the Secret its ${secret:file:<id>} references name.
  await podTemplate({ config: true, credentials: false });
  const unmounted = await appliedAs('CredentialsNotMounted', 'True');
  assert.match(
    unmounted.message,
    new RegExp(`but No container of Deployment ${scenario.namespace}/flipt that mounts Flipt's config mounts the whole Secret ${scenario.namespace}/flipt-client-credentials at its secrets base path \\(container flipt: /etc/flipt/secrets\\)`),
  );
  await waitFor(async () => {
    const events = await scenario.cluster.clients.events.listNamespacedEvent({ namespace: app });
    return events.items.some((e) => e.reason === 'CredentialsNotMounted' && e.type === 'Warning');
  }, 'a Warning Event', 10_000);
  assert.ok(scenario.operator.logRecords().some((l) => l.msg === "Flipt's pod template does not give Flipt the credentials Secret"), 'a log line');
  await podTemplate({ config: true, credentials: true });
  await appliedAs('Registered', 'True');
  await podTemplate({ config: false, credentials: true });
  await appliedAs('AuthenticationNotRequired', 'True');
});

test("a JWT target whose pod template turns the kubernetes method on: its clients are not Ready, and their JWTs are still refreshed", async () => {
  // One operator per cluster: every operator reconciles every FliptClient.
  await scenario.stop();
  const jwt = await Scenario.start({ credentialKind: 'jwt', minInterval: '1s', jwt: { lifetime: '10s' } });
  try {
    const ns = await jwt.createAppNamespace(`env-jwt-${Date.now().toString(36)}`);
    await createFliptClient(jwt.cluster.clients, ns, 'web');
    await appliedAs('JwtMethodEnabled', 'True', jwt, ns);
    await setFliptEnv([{ name: 'FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED', value: 'true' }], jwt);
    const blocked = await appliedAs('FliptEnvOverride', 'False', jwt, ns);
    assert.match(blocked.message, /FLIPT_AUTHENTICATION_METHODS_KUBERNETES_ENABLED \(container flipt\), which turns the kubernetes method on, and Flipt cannot run it beside the jwt method/);
    assert.equal(await jwt.metric('flipt_operator_target_blocked', { target: 'default', reason: 'FliptEnvOverride' }), 1);
    // Refreshed at two thirds of its 10 s lifetime, blocked or not: Flipt may still run the pods that accept it.
    const held = (await getFliptClient(jwt.cluster.clients, ns, 'web')).status?.credentialFingerprint;
    await waitFor(async () => {
      const now = (await getFliptClient(jwt.cluster.clients, ns, 'web')).status?.credentialFingerprint;
      return now !== undefined && now !== held;
    }, 'a refreshed JWT while blocked', 20_000);
    assert.equal(condition(await getFliptClient(jwt.cluster.clients, ns, 'web'), 'Ready')?.reason, 'FliptEnvOverride', 'still not Ready');
    await setFliptEnv([], jwt);
    await appliedAs('JwtMethodEnabled', 'True', jwt, ns);
  } finally {
    await jwt.stop();
  }
});

