// The Helm chart (charts/flipt-client-operator) installs what deploy/ installs: the same CRD bytes, the
// same RBAC rules (one least-privilege Role per configured target), a config the operator loads, and
// objects the real API server accepts. Each test renders into its own release namespace and release
// name, so cluster-scoped objects of different renders never collide.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import {
  AuthorizationV1Api,
  KubernetesObjectApi,
  type KubernetesObject,
  type V1ClusterRole,
  type V1ClusterRoleBinding,
  type V1ConfigMap,
  type V1Deployment,
  type V1LabelSelector,
  type V1NetworkPolicy,
  type V1NetworkPolicyPeer,
  type V1Pod,
  type V1PodDisruptionBudget,
  type V1PolicyRule,
  type V1Role,
  type V1RoleBinding,
  type V1Service,
} from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { ConfigError, OperatorConfigSchema, parseOperatorConfig, type OperatorConfig } from '../../src/config/operator-config.ts';
import { isNotFound } from '../../src/kube/errors.ts';
import { installCrd, testCluster, waitFor, type TestCluster } from '../support/cluster.ts';
import { applyObjects, deployManifest } from '../support/deploy-rbac.ts';
import { createFliptTarget } from '../support/flipt-target.ts';
import { helm, helmTemplate } from '../support/helm.ts';
import { startOperator, writeOperatorConfig } from '../support/operator-process.ts';
import { prometheusOperatorCrd } from '../support/promtool.ts';
import { scratchDir } from '../support/scratch.ts';

const CHART = 'charts/flipt-client-operator';
const CONFIG_DIR = '/etc/flipt-client-operator';
const CLUSTER_SCOPED = new Set(['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'Namespace']);

/** A typed client-node model as the plain JSON it stands for, to compare with an object literal. */
const plain = (value: unknown): unknown => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

/** A release in its own namespace, named like it: the full name is `<release>-flipt-client-operator`. */
function release() {
  const name = unique('fco-helm');
  return { name, namespace: name, fullname: `${name}-flipt-client-operator`, serviceAccount: `${name}-flipt-client-operator` };
}

async function render(rel: ReturnType<typeof release>, values: object = {}) {
  const objects = await helmTemplate(CHART, values, rel.namespace, rel.name);
  const ofKind = <T extends KubernetesObject>(kind: string) => objects.filter((o) => o.kind === kind) as T[];
  const one = <T extends KubernetesObject>(kind: string): T => {
    const found = ofKind<T>(kind);
    assert.equal(found.length, 1, `exactly one ${kind} (got ${found.length})`);
    return found[0]!;
  };
  const configMap = one<V1ConfigMap>('ConfigMap');
  const configText = configMap.data?.['config.yaml'];
  assert.ok(configText, 'the ConfigMap holds config.yaml');
  // The operator gets POD_NAMESPACE from the Downward API; the chart leaves the lease namespace to it.
  const config = parseOperatorConfig(configText, `${CHART} ConfigMap`, { POD_NAMESPACE: rel.namespace });
  return { objects, ofKind, one, configMap, configText, config };
}

/** Every (apiGroup, resource, resourceName, verb) a rule list grants, sorted: equal sets grant equal access. */
function grants(rules: V1PolicyRule[] | undefined): string[] {
  const out = new Set<string>();
  for (const rule of rules ?? []) {
    for (const group of rule.apiGroups ?? ['']) {
      for (const resource of rule.resources ?? []) {
        for (const name of rule.resourceNames?.length ? rule.resourceNames : ['*']) {
          for (const verb of rule.verbs) out.add(`${group}/${resource}/${name}:${verb}`);
        }
      }
    }
  }
  assert.ok(out.size > 0, 'a non-empty rule list');
  return [...out].sort();
}

function byName<T extends KubernetesObject>(objects: KubernetesObject[], kind: string, name: string): T {
  const found = objects.find((o) => o.kind === kind && o.metadata?.name === name);
  assert.ok(found, `deploy/ has ${kind} ${name}`);
  return found as T;
}

/** The Roles a render puts in a namespace, each with the RoleBindings that refer to it. */
function rolesIn(objects: KubernetesObject[], namespace: string) {
  return (objects.filter((o) => o.kind === 'Role' && o.metadata?.namespace === namespace) as V1Role[]).map((role) => {
    const bindings = (objects.filter((o) => o.kind === 'RoleBinding' && o.metadata?.namespace === namespace) as V1RoleBinding[]).filter(
      (b) => b.roleRef.kind === 'Role' && b.roleRef.name === role.metadata!.name,
    );
    return { role, bindings };
  });
}

function assertBoundToOperator(binding: V1RoleBinding | V1ClusterRoleBinding, rel: ReturnType<typeof release>) {
  assert.deepEqual(
    binding.subjects?.map((s) => ({ kind: s.kind, name: s.name, namespace: s.namespace })),
    [{ kind: 'ServiceAccount', name: rel.serviceAccount, namespace: rel.namespace }],
    `${binding.kind} ${binding.metadata?.name} binds the release's ServiceAccount`,
  );
}

async function ensureNamespace(cluster: TestCluster, name: string): Promise<void> {
  await cluster.clients.core.createNamespace({ body: { metadata: { name } } }).catch((err) => {
    if ((err as { code?: number }).code !== 409) throw err;
  });
}

test("the chart's CRD is byte-for-byte crds/flipt.io_fliptclients.yaml", () => {
  const source = readFileSync(new URL('../../crds/flipt.io_fliptclients.yaml', import.meta.url));
  const chart = readFileSync(new URL(`../../${CHART}/crds/flipt.io_fliptclients.yaml`, import.meta.url));
  assert.ok(
    chart.equals(source),
    `${CHART}/crds/flipt.io_fliptclients.yaml differs from crds/flipt.io_fliptclients.yaml: cp crds/flipt.io_fliptclients.yaml ${CHART}/crds/`,
  );
});

test('default values render what deploy/ installs: same RBAC rules, same config, ports from the config', async () => {
  const rel = release();
  const { objects, ofKind, one, configMap, config } = await render(rel);
  const deployConfig = parseOperatorConfig(readFileSync(new URL('../../deploy/config.yaml', import.meta.url), 'utf8'), 'deploy/config.yaml', {
    POD_NAMESPACE: rel.namespace,
  });
  assert.deepEqual(config, deployConfig, 'the default config is deploy/config.yaml');
  assert.equal(config.leaderElection.namespace, rel.namespace, 'the lease namespace is left to POD_NAMESPACE');
  assert.equal(config.exchange.tls, undefined, 'no TLS without exchange.tls.secretName');
  const target = config.targets[0]!;

  // Namespaces: everything namespaced is in the release namespace, except the target's Role and RoleBinding.
  for (const o of objects) {
    const where = `${o.kind} ${o.metadata?.name}`;
    if (CLUSTER_SCOPED.has(o.kind!)) assert.equal(o.metadata?.namespace, undefined, `${where} is cluster-scoped`);
    else if (o.metadata?.namespace !== rel.namespace) {
      assert.ok(['Role', 'RoleBinding'].includes(o.kind!) && o.metadata?.namespace === target.namespace, `${where} is in ${o.metadata?.namespace}`);
    }
  }
  assert.deepEqual(
    objects.map((o) => o.kind).sort(),
    ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'CustomResourceDefinition', 'Deployment', 'PodDisruptionBudget', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'Service', 'ServiceAccount'],
    'what deploy/ installs, less the Namespace (helm install --create-namespace)',
  );
  assert.equal(one<KubernetesObject>('ServiceAccount').metadata!.name, rel.serviceAccount);

  // RBAC: the same grants as deploy/rbac.yaml and deploy/target-rbac.yaml, bound to this release's account.
  const deployRbac = deployManifest('rbac.yaml');
  const clusterRole = one<V1ClusterRole>('ClusterRole');
  assert.ok(clusterRole.metadata!.name!.includes(rel.fullname), 'the ClusterRole name carries the release full name');
  assert.deepEqual(grants(clusterRole.rules), grants(byName<V1ClusterRole>(deployRbac, 'ClusterRole', 'flipt-client-operator').rules));
  const clusterBinding = one<V1ClusterRoleBinding>('ClusterRoleBinding');
  assert.ok(clusterBinding.metadata!.name!.includes(rel.fullname), 'the ClusterRoleBinding name carries the release full name');
  assert.deepEqual(plain(clusterBinding.roleRef), { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole.metadata!.name });
  assertBoundToOperator(clusterBinding, rel);

  const leader = rolesIn(objects, rel.namespace);
  assert.equal(leader.length, 1, 'one Role in the release namespace (leader election)');
  assert.deepEqual(grants(leader[0]!.role.rules), grants(byName<V1Role>(deployRbac, 'Role', 'flipt-client-operator-leader-election').rules));
  assert.deepEqual(leader[0]!.role.rules!.find((r) => r.resourceNames)?.resourceNames, [config.leaderElection.leaseName], 'the Lease named in the config');
  assert.equal(leader[0]!.bindings.length, 1);
  assertBoundToOperator(leader[0]!.bindings[0]!, rel);

  const perTarget = rolesIn(objects, target.namespace);
  assert.equal(perTarget.length, 1, `one Role in ${target.namespace}`);
  assert.deepEqual(grants(perTarget[0]!.role.rules), grants(byName<V1Role>(deployManifest('target-rbac.yaml'), 'Role', 'flipt-client-operator-target').rules));
  assert.equal(perTarget[0]!.bindings.length, 1);
  assertBoundToOperator(perTarget[0]!.bindings[0]!, rel);

  // The Deployment: as deploy/deployment.yaml, with its ports, mounts and names from this release.
  const deployment = one<V1Deployment>('Deployment');
  const reference = deployManifest('deployment.yaml')[0] as V1Deployment;
  const pod = deployment.spec!.template.spec!;
  const referencePod = reference.spec!.template.spec!;
  const container = pod.containers[0]!;
  const referenceContainer = referencePod.containers[0]!;
  assert.equal(deployment.spec!.replicas, reference.spec!.replicas);
  assert.equal(pod.serviceAccountName, rel.serviceAccount);
  assert.deepEqual(pod.securityContext, referencePod.securityContext);
  assert.equal(pod.containers.length, 1);
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(container.image, `flipt-client-operator:${version}`, "the tag defaults to the appVersion, which is the package's version");
  assert.equal(container.image, referenceContainer.image, 'the image deploy/ runs');
  assert.equal(container.command, undefined, "the image's entrypoint is kept");
  assert.deepEqual(container.args, ['--config', `${CONFIG_DIR}/config.yaml`]);
  assert.deepEqual(container.args, referenceContainer.args);
  for (const field of ['securityContext', 'resources', 'livenessProbe', 'readinessProbe'] as const) {
    assert.deepEqual(container[field], referenceContainer[field], `container ${field} as in deploy/deployment.yaml`);
  }
  // Spread and disruption budget as deploy/'s, each selecting its own installation's pods.
  const spread = (spec: typeof pod) => plain(spec.topologySpreadConstraints?.map(({ labelSelector: _selector, ...rest }) => rest));
  assert.deepEqual(spread(pod), spread(referencePod), 'topology spread as in deploy/deployment.yaml');
  const { selector: _selector, ...budget } = one<V1PodDisruptionBudget>('PodDisruptionBudget').spec!;
  const { selector: _referenceSelector, ...referenceBudget } = (deployManifest('poddisruptionbudget.yaml')[0] as V1PodDisruptionBudget).spec!;
  assert.deepEqual(plain(budget), plain(referenceBudget), 'the disruption budget as in deploy/poddisruptionbudget.yaml');
  for (const name of ['POD_NAMESPACE', 'POD_NAME']) {
    assert.deepEqual(container.env?.find((e) => e.name === name), referenceContainer.env?.find((e) => e.name === name), `env ${name}`);
  }
  assert.deepEqual(plain(container.env?.find((e) => e.name === 'LOG_LEVEL')), { name: 'LOG_LEVEL', value: 'info' });
  const ports = Object.fromEntries(container.ports!.map((p) => [p.name, p.containerPort]));
  assert.deepEqual(ports, { exchange: config.exchange.port, metrics: config.metrics.port, health: config.health.port });
  assert.deepEqual(plain(pod.volumes), [{ name: 'config', configMap: { name: configMap.metadata!.name } }], 'only the config volume without TLS');
  assert.deepEqual(plain(container.volumeMounts), [{ name: 'config', mountPath: CONFIG_DIR, readOnly: true }]);
  assert.match(deployment.spec!.template.metadata!.annotations?.['checksum/config'] ?? '', /^[0-9a-f]{64}$/, 'checksum/config rolls the pods on a config change');

  // The Service: exchange and metrics ports from the config, selecting exactly this release's pods.
  const service = one<V1Service>('Service');
  assert.deepEqual(
    service.spec!.ports!.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort })),
    [
      { name: 'exchange', port: config.exchange.port, targetPort: 'exchange' },
      { name: 'metrics', port: config.metrics.port, targetPort: 'metrics' },
    ],
  );
  const podLabels = deployment.spec!.template.metadata!.labels!;
  for (const [key, value] of Object.entries(service.spec!.selector!)) assert.equal(podLabels[key], value, `the Service selects pod label ${key}`);
  assert.deepEqual(deployment.spec!.selector.matchLabels, service.spec!.selector);
  assert.equal(service.spec!.selector!['app.kubernetes.io/instance'], rel.name);
  assert.equal(ofKind('ServiceMonitor').length, 0, 'no ServiceMonitor by default');

  // Another release gets other cluster-scoped names.
  const other = release();
  const otherRender = await helmTemplate(CHART, {}, other.namespace, other.name);
  const otherClusterNames = otherRender.filter((o) => CLUSTER_SCOPED.has(o.kind!) && o.kind !== 'CustomResourceDefinition').map((o) => o.metadata!.name);
  for (const name of otherClusterNames) assert.notEqual(name, clusterRole.metadata!.name, 'two releases do not share a ClusterRole or ClusterRoleBinding');
});

const twoTargets = (statefulSetNamespace: string) => ({
  config: {
    targets: [
      { name: 'main', namespace: 'flipt', configMap: { name: 'flipt-main' }, workload: { kind: 'Deployment', name: 'flipt-main' } },
      {
        name: 'edge',
        namespace: statefulSetNamespace,
        configMap: { name: 'flipt-edge', key: 'config.yml' },
        credentialReference: 'env',
        workload: { kind: 'StatefulSet', name: 'flipt-edge' },
      },
    ],
  },
});

test('two targets: one Role per target, limited to its ConfigMap and its Deployment or StatefulSet', async () => {
  const rel = release();
  const edgeNamespace = unique('fco-helm-edge');
  const { objects, one, config } = await render(rel, twoTargets(edgeNamespace));
  assert.deepEqual(
    config.targets.map((t) => [t.name, t.namespace, t.configMap.name, t.workload.kind, t.workload.name]),
    [
      ['main', 'flipt', 'flipt-main', 'Deployment', 'flipt-main'],
      ['edge', edgeNamespace, 'flipt-edge', 'StatefulSet', 'flipt-edge'],
    ],
    'the ConfigMap carries both targets',
  );
  const expected: Record<string, string[]> = {
    flipt: [
      '/configmaps/flipt-main:get',
      '/configmaps/flipt-main:list',
      '/configmaps/flipt-main:update',
      '/configmaps/flipt-main:watch',
      'apps/deployments/flipt-main:get',
      'apps/deployments/flipt-main:list',
      'apps/deployments/flipt-main:patch',
      'apps/deployments/flipt-main:watch',
    ],
    [edgeNamespace]: [
      '/configmaps/flipt-edge:get',
      '/configmaps/flipt-edge:list',
      '/configmaps/flipt-edge:update',
      '/configmaps/flipt-edge:watch',
      'apps/statefulsets/flipt-edge:get',
      'apps/statefulsets/flipt-edge:list',
      'apps/statefulsets/flipt-edge:patch',
      'apps/statefulsets/flipt-edge:watch',
    ],
  };
  for (const target of config.targets) {
    const roles = rolesIn(objects, target.namespace);
    assert.equal(roles.length, 1, `one Role for target ${target.name} in ${target.namespace}`);
    const { role, bindings } = roles[0]!;
    assert.ok(role.metadata!.name!.includes(rel.fullname), 'the Role name carries the release full name');
    assert.deepEqual(grants(role.rules), expected[target.namespace], `target ${target.name}'s grants`);
    const kindResource = target.workload.kind === 'StatefulSet' ? 'statefulsets' : 'deployments';
    assert.deepEqual(role.rules!.find((r) => r.apiGroups?.includes('apps'))?.resources, [kindResource]);
    assert.deepEqual(role.rules!.find((r) => r.resources?.includes('configmaps'))?.resourceNames, [target.configMap.name]);
    assert.equal(bindings.length, 1, `one RoleBinding for target ${target.name}`);
    assertBoundToOperator(bindings[0]!, rel);
  }
  assert.equal(objects.filter((o) => o.kind === 'Role').length, 3, 'leader election + one per target');
  assert.equal(objects.filter((o) => o.kind === 'RoleBinding').length, 3);

  const defaults = await render(rel);
  const checksum = (d: V1Deployment) => d.spec!.template.metadata!.annotations!['checksum/config'];
  assert.notEqual(checksum(one<V1Deployment>('Deployment')), checksum(defaults.one<V1Deployment>('Deployment')), 'a config change changes checksum/config');
});

test('exchange.tls.secretName mounts the Secret and points the config at its files', async () => {
  const rel = release();
  const { one, config } = await render(rel, { exchange: { tls: { secretName: 'operator-exchange-tls' } } });
  assert.deepEqual(config.exchange.tls, { certFile: `${CONFIG_DIR}/tls/tls.crt`, keyFile: `${CONFIG_DIR}/tls/tls.key` });
  const pod = one<V1Deployment>('Deployment').spec!.template.spec!;
  const volume = pod.volumes!.find((v) => v.secret?.secretName === 'operator-exchange-tls');
  assert.ok(volume, 'a volume from the Secret');
  assert.deepEqual(volume.secret!.items?.map((i) => [i.key, i.path]) ?? [], [
    ['tls.crt', 'tls.crt'],
    ['tls.key', 'tls.key'],
  ]);
  const mounts = pod.containers[0]!.volumeMounts!;
  assert.deepEqual(plain(mounts.find((m) => m.name === volume.name)), { name: volume.name, mountPath: `${CONFIG_DIR}/tls`, readOnly: true });
  assert.ok(mounts.some((m) => m.name === 'config' && m.mountPath === CONFIG_DIR), 'the config stays mounted');
  // The rest of the config is untouched.
  const withoutTls = (await render(rel)).config;
  assert.deepEqual({ ...config, exchange: { ...config.exchange, tls: undefined } }, { ...withoutTls, exchange: { ...withoutTls.exchange, tls: undefined } });
});

test("a JWT target: the config points jwt.jwksUrl at the release's Service, exchange port (https with exchange.tls), unless the values say", async () => {
  const rel = release();
  const target = { name: 'default', namespace: 'flipt', configMap: { name: 'flipt' }, workload: { kind: 'Deployment', name: 'flipt' }, credentialKind: 'jwt' };
  const plainHttp = (await render(rel, { config: { targets: [target], exchange: { port: 9443 } } })).config;
  assert.equal(plainHttp.targets[0]!.credentialKind, 'jwt');
  assert.equal(plainHttp.jwt.jwksUrl, `http://${rel.fullname}.${rel.namespace}.svc:9443/.well-known/jwks.json`);
  assert.equal(plainHttp.targets[0]!.jwt.jwksUrl, plainHttp.jwt.jwksUrl);
  const tls = (await render(rel, { config: { targets: [target] }, exchange: { tls: { secretName: 'operator-exchange-tls' } } })).config;
  assert.equal(tls.jwt.jwksUrl, `https://${rel.fullname}.${rel.namespace}.svc:8443/.well-known/jwks.json`);
  const given = (await render(rel, { config: { targets: [target], jwt: { jwksUrl: 'https://fco.example.com/.well-known/jwks.json' } } })).config;
  assert.equal(given.jwt.jwksUrl, 'https://fco.example.com/.well-known/jwks.json');
  assert.equal((await render(rel)).config.jwt.jwksUrl, undefined, 'static tokens: nothing added');
});

test('serviceMonitor.enabled renders a ServiceMonitor for the metrics port; a bad target fails the render', async () => {
  const rel = release();
  const { one } = await render(rel, { serviceMonitor: { enabled: true, interval: '30s', labels: { release: 'prometheus' } } });
  const monitor = one<KubernetesObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: Array<Record<string, string>> } }>('ServiceMonitor');
  assert.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
  assert.equal(monitor.metadata!.namespace, rel.namespace);
  assert.equal(monitor.metadata!.labels!.release, 'prometheus');
  const service = one<V1Service>('Service');
  assert.deepEqual(monitor.spec.selector.matchLabels, Object.fromEntries(Object.keys(monitor.spec.selector.matchLabels).map((k) => [k, service.metadata!.labels![k]])), 'it selects the Service');
  assert.deepEqual(monitor.spec.endpoints, [{ port: 'metrics', path: '/metrics', interval: '30s' }]);

  await assert.rejects(helmTemplate(CHART, { config: { targets: [] } }, rel.namespace, rel.name), /config\.targets: at least one target is required/);
});

test('the API server accepts everything the chart renders, and the RBAC grants what each target needs', async (t) => {
  const cluster = await testCluster();
  const api = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
  const applied: KubernetesObject[] = [];
  t.after(async () => {
    // The CRD stays (other tests use it); namespaces stay (no namespace controller runs to empty them).
    for (const obj of applied.reverse()) {
      if (obj.kind === 'CustomResourceDefinition') continue;
      await api.delete(obj).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
    }
  });

  const basic = release();
  const full = release();
  const edgeNamespace = unique('fco-helm-edge');
  const renders: Array<{ rel: ReturnType<typeof release>; objects: KubernetesObject[]; config: OperatorConfig }> = [];
  for (const [rel, values] of [
    [basic, {}],
    [full, { ...twoTargets(edgeNamespace), exchange: { tls: { secretName: 'operator-exchange-tls' } }, replicaCount: 3, logLevel: 'debug' }],
  ] as const) {
    const { objects, config } = await render(rel, values);
    for (const ns of new Set([rel.namespace, ...config.targets.map((target) => target.namespace)])) await ensureNamespace(cluster, ns);
    await applyObjects(cluster, objects);
    applied.push(...objects);
    renders.push({ rel, objects, config });
  }

  // Accepted as rendered: read back what the API server stored.
  for (const { rel, objects } of renders) {
    for (const obj of objects) {
      const served = await api.read({ apiVersion: obj.apiVersion!, kind: obj.kind!, metadata: { name: obj.metadata!.name!, namespace: obj.metadata?.namespace } });
      if (obj.kind !== 'CustomResourceDefinition') {
        assert.equal(served.metadata?.labels?.['app.kubernetes.io/instance'], rel.name, `${obj.kind} ${obj.metadata!.name} is this release's`);
      }
    }
    const deployment = objects.find((o) => o.kind === 'Deployment') as V1Deployment;
    const served = await cluster.clients.apps.readNamespacedDeployment({ name: deployment.metadata!.name!, namespace: rel.namespace });
    assert.deepEqual(served.spec!.template.spec!.volumes!.map((v) => v.name), deployment.spec!.template.spec!.volumes!.map((v) => v.name));
    assert.deepEqual(served.spec!.template.spec!.containers[0]!.ports!.map((p) => p.containerPort), deployment.spec!.template.spec!.containers[0]!.ports!.map((p) => p.containerPort));
  }

  // The bindings reach the API server's authorizer: each release's account may do what its targets need, no more.
  const authz = cluster.kubeConfig.makeApiClient(AuthorizationV1Api);
  const can = async (rel: ReturnType<typeof release>, attrs: { namespace?: string; group?: string; resource: string; verb: string; name?: string }) => {
    const review = await authz.createSubjectAccessReview({
      body: { spec: { user: `system:serviceaccount:${rel.namespace}:${rel.serviceAccount}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${rel.namespace}`], resourceAttributes: attrs } },
    });
    return review.status!.allowed;
  };
  for (const { rel, config } of renders) {
    for (const target of config.targets) {
      const workload = target.workload.kind === 'StatefulSet' ? 'statefulsets' : 'deployments';
      const other = workload === 'statefulsets' ? 'deployments' : 'statefulsets';
      assert.equal(await can(rel, { namespace: target.namespace, resource: 'configmaps', verb: 'update', name: target.configMap.name }), true, `${rel.name}: update ${target.namespace}/${target.configMap.name}`);
      assert.equal(await can(rel, { namespace: target.namespace, resource: 'configmaps', verb: 'update', name: 'someone-else' }), false, `${rel.name}: not another ConfigMap`);
      assert.equal(await can(rel, { namespace: target.namespace, group: 'apps', resource: workload, verb: 'patch', name: target.workload.name }), true, `${rel.name}: patch its ${workload}`);
      assert.equal(await can(rel, { namespace: target.namespace, group: 'apps', resource: other, verb: 'patch', name: target.workload.name }), false, `${rel.name}: not ${other}`);
    }
    assert.equal(await can(rel, { namespace: rel.namespace, group: 'coordination.k8s.io', resource: 'leases', verb: 'update', name: config.leaderElection.leaseName }), true, `${rel.name}: its Lease`);
    assert.equal(await can(rel, { group: 'authentication.k8s.io', resource: 'tokenreviews', verb: 'create' }), true, `${rel.name}: TokenReviews`);
    assert.equal(await can(rel, { namespace: 'kube-system', resource: 'secrets', verb: 'delete', name: 'anything' }), false, `${rel.name}: no Secret deletion`);
  }
  assert.equal(await can(basic, { namespace: edgeNamespace, group: 'apps', resource: 'statefulsets', verb: 'patch', name: 'flipt-edge' }), false, "one release's account gets nothing from the other's targets");
});

// ---- Chart polish: disruption budget, topology spread, values schema, NetworkPolicy, helm test hook ----

/** Whether a label selector selects these labels (matchLabels and matchExpressions, as Kubernetes reads them). */
function matches(selector: V1LabelSelector, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    if (e.operator === 'In' && !(has && e.values!.includes(value!))) return false;
    if (e.operator === 'NotIn' && has && e.values!.includes(value!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
    if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(e.operator)) throw new Error(`unknown operator ${e.operator}`);
  }
  return true;
}

test('a PodDisruptionBudget lets one of two replicas move at a time and never waits on a crash-looping one; none for one replica', async () => {
  const rel = release();
  const { one } = await render(rel);
  const pdb = one<V1PodDisruptionBudget>('PodDisruptionBudget');
  const deployment = one<V1Deployment>('Deployment');
  assert.equal(pdb.metadata!.namespace, rel.namespace);
  assert.deepEqual(plain(pdb.spec!.selector), plain(deployment.spec!.selector), 'it covers exactly the operator pods');
  assert.equal(pdb.spec!.maxUnavailable, 1, 'with 2 replicas: one drained at a time, the other serves the exchange and takes the lease');
  assert.equal(pdb.spec!.minAvailable, undefined);
  assert.equal(pdb.spec!.unhealthyPodEvictionPolicy, 'AlwaysAllow');
  assert.equal((await render(rel, { replicaCount: 1 })).ofKind('PodDisruptionBudget').length, 0, 'one replica: no budget (it would block every drain)');
  assert.equal((await render(rel, { podDisruptionBudget: { enabled: false } })).ofKind('PodDisruptionBudget').length, 0);
  const byPercent = (await render(rel, { replicaCount: 4, podDisruptionBudget: { minAvailable: '50%' } })).one<V1PodDisruptionBudget>('PodDisruptionBudget');
  assert.equal(byPercent.spec!.minAvailable, '50%');
  assert.equal(byPercent.spec!.maxUnavailable, undefined, 'minAvailable replaces maxUnavailable');
});

test('topology spread: replicas prefer distinct nodes and zones but are never left unscheduled on one node', async () => {
  const rel = release();
  const deployment = (await render(rel)).one<V1Deployment>('Deployment');
  const constraints = deployment.spec!.template.spec!.topologySpreadConstraints ?? [];
  assert.deepEqual(constraints.map((c) => c.topologyKey), ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
  for (const c of constraints) {
    assert.equal(c.whenUnsatisfiable, 'ScheduleAnyway', `${c.topologyKey}: a preference, so a one-node cluster still runs every replica`);
    assert.equal(c.maxSkew, 1);
    assert.deepEqual(plain(c.labelSelector), { matchLabels: deployment.spec!.selector.matchLabels }, 'the release pods');
    assert.ok(matches(c.labelSelector!, deployment.spec!.template.metadata!.labels!), 'which select the pod template');
    assert.deepEqual(c.matchLabelKeys, ['pod-template-hash'], 'during a rolling update, the new pods are spread among themselves');
  }
  const own = { maxSkew: 2, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { team: 'platform' } } };
  const custom = (await render(rel, { topologySpreadConstraints: [own] })).one<V1Deployment>('Deployment');
  assert.deepEqual(plain(custom.spec!.template.spec!.topologySpreadConstraints), [own], 'an entry with its own labelSelector is kept as given');
  const off = (await render(rel, { topologySpreadConstraints: [] })).one<V1Deployment>('Deployment');
  assert.equal(off.spec!.template.spec!.topologySpreadConstraints, undefined);
});

const TARGET = { name: 'main', namespace: 'flipt', configMap: { name: 'flipt' }, workload: { kind: 'Deployment', name: 'flipt' } };

/** Values the schema refuses, and the message helm gives (it names the field). */
const BAD_VALUES: Array<[what: string, values: object, message: RegExp]> = [
  ['replicaCount as text', { replicaCount: 'two' }, /at '\/replicaCount': got string, want integer/],
  ['a misspelt top-level key', { replicas: 3 }, /additional properties 'replicas' not allowed/],
  ['an unknown pull policy', { image: { pullPolicy: 'Sometimes' } }, /at '\/image\/pullPolicy': value must be one of/],
  ['a log level pino does not have', { logLevel: 'verbose' }, /at '\/logLevel': value must be one of/],
  ['a spread constraint without whenUnsatisfiable', { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname' }] }, /at '\/topologySpreadConstraints\/0': missing property 'whenUnsatisfiable'/],
  ['a disruption budget of "half"', { podDisruptionBudget: { maxUnavailable: 'half' } }, /at '\/podDisruptionBudget\/maxUnavailable'/],
  ['a NetworkPolicy peer with a misspelt selector', { networkPolicy: { exchange: { from: [{ namespaceSelectr: {} }] } } }, /at '\/networkPolicy\/exchange\/from\/0'.*'namespaceSelectr' not allowed/s],
  ['an alert `for` that is not a Prometheus duration', { prometheusRule: { alerts: { noLeader: { for: 'five minutes' } } } }, /at '\/prometheusRule\/alerts\/noLeader\/for': 'five minutes' does not match pattern/],
  ['a fill ratio given in percent', { prometheusRule: { alerts: { targetNearCapacity: { ratio: 80 } } } }, /at '\/prometheusRule\/alerts\/targetNearCapacity\/ratio': maximum: got 80, want 1/],
  ['a rate window of 0', { prometheusRule: { alerts: { exchangeErrors: { window: '0' } } } }, /at '\/prometheusRule\/alerts\/exchangeErrors\/window'/],
  ['a metrics selector in braces', { prometheusRule: { selector: '{job="ops"}' } }, /at '\/prometheusRule\/selector'/],
  ['a dashboard namespace in upper case', { grafanaDashboard: { namespace: 'Grafana' } }, /at '\/grafanaDashboard\/namespace'/],
];

/** Operator configs the schema refuses: the operator refuses each too, so the chart fails at install, not in a crash loop. */
const BAD_CONFIGS: Array<[what: string, config: object, message: RegExp]> = [
  ['an unknown credentialReference', { targets: [{ ...TARGET, credentialReference: 'vault' }] }, /at '\/config\/targets\/0\/credentialReference': value must be one of/],
  ['a target name in upper case', { targets: [{ ...TARGET, name: 'Main' }] }, /at '\/config\/targets\/0\/name': 'Main' does not match pattern/],
  ['a workload kind the operator cannot restart', { targets: [{ ...TARGET, workload: { kind: 'DaemonSet', name: 'flipt' } }] }, /at '\/config\/targets\/0\/workload\/kind': value must be one of/],
  ['a target without a workload', { targets: [{ name: 'main', namespace: 'flipt', configMap: { name: 'flipt' } }] }, /at '\/config\/targets\/0': missing property 'workload'/],
  ['a restart interval without a unit', { targets: [{ ...TARGET, restart: { minInterval: '10' } }] }, /at '\/config\/targets\/0\/restart\/minInterval'/],
  ['a url without a scheme', { targets: [{ ...TARGET, url: 'flipt.flipt.svc:8080' }] }, /at '\/config\/targets\/0\/url'/],
  ['an exchange port out of range', { targets: [TARGET], exchange: { port: 70000 } }, /at '\/config\/exchange\/port': maximum: got 70,000, want 65,535/],
  ['a misspelt config section', { targets: [TARGET], leaderElecton: { enabled: false } }, /at '\/config': additional properties 'leaderElecton' not allowed/],
  ['no audience', { targets: [TARGET], exchange: { audiences: [] } }, /at '\/config\/exchange\/audiences': minItems: got 0, want 1/],
];

/** Helm's merge of a values file into the chart's values: maps merge, anything else replaces. */
function mergeValues(base: unknown, over: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base) || typeof over !== 'object' || over === null || Array.isArray(over)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(over)) out[key] = key in out ? mergeValues(out[key], value) : value;
  return out;
}

test('rolloutRestart.enabled grants what deploy/components/rollout-restart grants, bound to the release, and nothing by default', async () => {
  const rel = release();
  const { ofKind } = await render(rel, { rolloutRestart: { enabled: true } });
  const component = deployManifest('components/rollout-restart/rbac.yaml');
  const role = ofKind<V1ClusterRole>('ClusterRole').find((r) => r.metadata!.name!.endsWith('-rollout-restart'));
  assert.ok(role, 'a rollout-restart ClusterRole');
  assert.deepEqual(grants(role.rules), grants(byName<V1ClusterRole>(component, 'ClusterRole', 'flipt-client-operator-rollout-restart').rules));
  const binding = ofKind<V1ClusterRoleBinding>('ClusterRoleBinding').find((b) => b.roleRef.name === role.metadata!.name)!;
  assertBoundToOperator(binding, rel);
  const byDefault = await render(rel);
  assert.ok(!byDefault.ofKind<V1ClusterRole>('ClusterRole').some((r) => r.metadata!.name!.endsWith('-rollout-restart')), 'off by default');
});

/** Every property path a JSON schema names, arrays' items included (`targets[].name`). */
function schemaPaths(schema: Record<string, any>, prefix = ''): string[] {
  const paths: string[] = [];
  for (const [key, child] of Object.entries<Record<string, any>>(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    paths.push(path);
    paths.push(...schemaPaths(child, path));
    if (child.items) paths.push(...schemaPaths(child.items, `${path}[]`));
  }
  return paths.sort();
}

test("values.schema.json's config names exactly the fields of the operator's config", () => {
  const chart = JSON.parse(readFileSync(`${CHART}/values.schema.json`, 'utf8')) as Record<string, any>;
  assert.deepEqual(schemaPaths(chart.properties.config), schemaPaths(OperatorConfigSchema as unknown as Record<string, any>));
});

test('values.schema.json: helm template and helm install refuse bad values with a message naming the field', async () => {
  const rel = release();
  for (const [what, values, message] of BAD_VALUES) {
    await assert.rejects(helmTemplate(CHART, values, rel.namespace, rel.name), (err: Error) => {
      assert.match(err.message, /values don't meet the specifications of the schema/, what);
      assert.match(err.message, message, what);
      return true;
    });
  }
  const chartValues = parse(readFileSync(new URL(`../../${CHART}/values.yaml`, import.meta.url), 'utf8')) as { config: object };
  for (const [what, config, message] of BAD_CONFIGS) {
    await assert.rejects(helmTemplate(CHART, { config }, rel.namespace, rel.name), message, what);
    const effective = mergeValues(chartValues.config, config);
    assert.throws(() => parseOperatorConfig(stringify(effective), 'values', { POD_NAMESPACE: rel.namespace }), ConfigError, `the operator refuses ${what} too`);
  }
  // Every value the chart documents passes its own schema (the default render above), and so do these.
  for (const values of [
    twoTargets('flipt-edge'),
    { podDisruptionBudget: { minAvailable: 1 }, replicaCount: 3 },
    { networkPolicy: { enabled: true, prometheus: { namespaceSelector: null } }, prometheusRule: { enabled: true, selector: 'job="ops", namespace="operators"' } },
  ]) {
    await helmTemplate(CHART, values, rel.namespace, rel.name);
  }
  // `helm install` checks the same schema before it touches the cluster.
  const cluster = await testCluster();
  const dir = scratchDir('helm-install');
  writeFileSync(join(dir, 'values.json'), JSON.stringify({ replicaCount: 'two' }));
  await assert.rejects(
    helm(['install', rel.name, chartPath(), '--namespace', rel.namespace, '--kubeconfig', cluster.kubeconfigPath, '--values', join(dir, 'values.json')]),
    /at '\/replicaCount': got string, want integer/,
  );
  await assert.rejects(cluster.clients.core.readNamespace({ name: rel.namespace }), (err) => isNotFound(err), 'nothing was installed');
});

const chartPath = () => new URL(`../../${CHART}`, import.meta.url).pathname;

interface Source {
  namespace: string;
  labels: Record<string, string>;
}

/** Whether the policy admits ingress from `source` to the named port of the pods it selects (NetworkPolicy semantics). */
function admits(policy: V1NetworkPolicy, source: Source, port: string): boolean {
  const namespaceLabels = { 'kubernetes.io/metadata.name': source.namespace };
  const peerAdmits = (peer: V1NetworkPolicyPeer) => {
    if (peer.ipBlock) return false;
    const namespaceOk = peer.namespaceSelector ? matches(peer.namespaceSelector, namespaceLabels) : source.namespace === policy.metadata!.namespace;
    return namespaceOk && (peer.podSelector ? matches(peer.podSelector, source.labels) : true);
  };
  return (policy.spec!.ingress ?? []).some(
    (rule) => (!rule.ports?.length || rule.ports.some((p) => p.port === port)) && (!rule._from?.length || rule._from.some(peerAdmits)),
  );
}

test('NetworkPolicy: the exchange only from allowed namespaces and Flipt (JWKS), metrics only from Prometheus, probes only from the helm test', async () => {
  const rel = release();
  const values = {
    config: {
      targets: [
        { ...TARGET, allowedNamespaces: ['team-a', 'team-b'] },
        { name: 'edge', namespace: 'flipt-edge', configMap: { name: 'flipt' }, workload: { kind: 'StatefulSet', name: 'flipt' }, allowedNamespaces: ['team-c'] },
      ],
    },
    networkPolicy: { enabled: true, jwks: { fliptPodSelector: { matchLabels: { 'app.kubernetes.io/name': 'flipt' } } } },
  };
  const objects = await helmTemplate(CHART, values, rel.namespace, rel.name, { tests: true });
  const policy = objects.find((o) => o.kind === 'NetworkPolicy') as V1NetworkPolicy;
  assert.ok(policy, 'a NetworkPolicy');
  const deployment = objects.find((o) => o.kind === 'Deployment') as V1Deployment;
  const testPod = objects.find((o) => o.kind === 'Pod') as V1Pod;
  assert.ok(matches(policy.spec!.podSelector!, deployment.spec!.template.metadata!.labels!), 'it isolates the operator pods');
  assert.ok(!matches(policy.spec!.podSelector!, testPod.metadata!.labels!), 'and not the helm test pod');
  assert.deepEqual(policy.spec!.policyTypes, ['Ingress'], 'egress stays open: the API server');
  const containerPorts = deployment.spec!.template.spec!.containers[0]!.ports!.map((p) => p.name);
  for (const rule of policy.spec!.ingress!) {
    assert.ok(rule.ports?.length && rule._from?.length, 'no rule admits every port or every source');
    for (const p of rule.ports!) assert.ok(containerPorts.includes(p.port as string), `port ${p.port} is a container port of the operator`);
  }

  const app = (namespace: string): Source => ({ namespace, labels: { app: 'checkout' } });
  const flipt = (namespace: string): Source => ({ namespace, labels: { 'app.kubernetes.io/name': 'flipt' } });
  const prometheus: Source = { namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' } };
  const helmTest: Source = { namespace: rel.namespace, labels: testPod.metadata!.labels! };
  const expected: Array<[string, Source, string, boolean]> = [
    ['an app of an allowed namespace', app('team-a'), 'exchange', true],
    ["an app of another target's allowed namespace", app('team-c'), 'exchange', true],
    ['an app of a namespace no target allows', app('team-z'), 'exchange', false],
    ['an app, on the metrics port', app('team-a'), 'metrics', false],
    ['an app, on the probe port', app('team-a'), 'health', false],
    ["Flipt, for the JWKS", flipt('flipt'), 'exchange', true],
    ["the other target's Flipt", flipt('flipt-edge'), 'exchange', true],
    ["another pod in Flipt's namespace", app('flipt'), 'exchange', false],
    ['Flipt-labelled pod elsewhere', flipt('team-z'), 'exchange', false],
    ['Prometheus, on the metrics port', prometheus, 'metrics', true],
    ['Prometheus, on the exchange port', prometheus, 'exchange', false],
    ['Grafana beside Prometheus', { namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'grafana' } }, 'metrics', false],
    ['a Prometheus-labelled pod in an app namespace', { namespace: 'team-a', labels: prometheus.labels }, 'metrics', false],
    ['the helm test pod, on the probe port', helmTest, 'health', true],
    ['the helm test pod, on the metrics port', helmTest, 'metrics', false],
  ];
  for (const [who, source, port, allowed] of expected) assert.equal(admits(policy, source, port), allowed, `${who} -> ${port}`);

  // allowedNamespaces "*" (the default): every namespace's pods reach the exchange, and still nothing else.
  const open = (await helmTemplate(CHART, { networkPolicy: { enabled: true } }, rel.namespace, rel.name)).find((o) => o.kind === 'NetworkPolicy') as V1NetworkPolicy;
  assert.equal(admits(open, app('team-z'), 'exchange'), true);
  assert.equal(admits(open, app('team-z'), 'metrics'), false);
  // Extra peers; no exchange rule when the exchange is off; no probe rule without helm test or extra peers.
  const extra = (await helmTemplate(CHART, { networkPolicy: { enabled: true, exchange: { from: [{ ipBlock: { cidr: '10.10.0.0/16' } }] } } }, rel.namespace, rel.name)).find(
    (o) => o.kind === 'NetworkPolicy',
  ) as V1NetworkPolicy;
  assert.ok(extra.spec!.ingress![0]!._from!.some((p) => p.ipBlock?.cidr === '10.10.0.0/16'));
  const closed = (
    await helmTemplate(CHART, { config: { targets: [TARGET], exchange: { enabled: false } }, helmTest: { enabled: false }, networkPolicy: { enabled: true } }, rel.namespace, rel.name)
  ).find((o) => o.kind === 'NetworkPolicy') as V1NetworkPolicy;
  assert.deepEqual(closed.spec!.ingress!.map((r) => r.ports!.map((p) => p.port)), [['metrics']]);
  assert.equal((await render(rel)).ofKind('NetworkPolicy').length, 0, 'opt-in');
});

/** Runs a `helm test` Pod's command here, with the Pod's environment and these overrides. */
function runPodCommand(pod: V1Pod, overrides: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const container = pod.spec!.containers[0]!;
  assert.equal(container.command![0], '/nodejs/bin/node', 'the command runs the image’s node (distroless has no `node` on its PATH)');
  const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? '']));
  const child = spawn(process.execPath, container.command!.slice(1), { env: { PATH: process.env.PATH, ...env, ...overrides }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output })));
}

/** A kubeconfig for a new ServiceAccount that nothing grants anything: an operator with it never syncs its caches. */
async function unauthorizedKubeconfig(cluster: TestCluster, namespace: string): Promise<string> {
  await cluster.clients.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'nobody' } } });
  const request = await cluster.clients.core.createNamespacedServiceAccountToken({ name: 'nobody', namespace, body: { spec: { audiences: [], expirationSeconds: 600 } } });
  const server = cluster.kubeConfig.getCurrentCluster()!.server;
  const path = join(scratchDir('nobody'), 'kubeconfig');
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'nobody', user: { token: request.status!.token } }],
      contexts: [{ name: 'nobody', context: { cluster: 'test', user: 'nobody' } }],
      'current-context': 'nobody',
    }),
    { mode: 0o600 },
  );
  return path;
}

test('the helm test hook: a headless Service and a Pod whose command passes against a ready operator, and says why otherwise', async (t) => {
  const rel = release();
  const objects = await helmTemplate(CHART, {}, rel.namespace, rel.name, { tests: true });
  const hooks = objects.filter((o) => o.metadata?.annotations?.['helm.sh/hook'] === 'test');
  assert.deepEqual(hooks.map((o) => o.kind), ['Service', 'Pod']);
  const [service, pod] = hooks as [V1Service, V1Pod];
  for (const hook of hooks) assert.equal(hook.metadata!.annotations!['helm.sh/hook-delete-policy'], 'before-hook-creation,hook-succeeded', `${hook.kind}: removed once the test passes`);
  assert.ok(Number(service.metadata!.annotations!['helm.sh/hook-weight']) < Number(pod.metadata!.annotations!['helm.sh/hook-weight']), 'the Service exists before the Pod');
  const deployment = objects.find((o) => o.kind === 'Deployment') as V1Deployment;
  const config = parseOperatorConfig((objects.find((o) => o.kind === 'ConfigMap') as V1ConfigMap).data!['config.yaml']!, 'chart', { POD_NAMESPACE: rel.namespace });

  assert.equal(service.spec!.clusterIP, 'None', 'headless: DNS answers with every pod');
  assert.equal(service.spec!.publishNotReadyAddresses, true, 'not-ready pods too, so each says why');
  assert.deepEqual(plain(service.spec!.selector), plain(deployment.spec!.selector.matchLabels));
  assert.deepEqual(service.spec!.ports!.map((p) => [p.port, p.targetPort]), [[config.health.port, 'health']]);

  const container = pod.spec!.containers[0]!;
  const operatorContainer = deployment.spec!.template.spec!.containers[0]!;
  assert.ok(!matches(deployment.spec!.selector, pod.metadata!.labels!), 'the Deployment never adopts the test Pod');
  assert.equal(pod.spec!.restartPolicy, 'Never');
  assert.equal(pod.spec!.automountServiceAccountToken, false, 'it needs no API access');
  assert.equal(container.image, operatorContainer.image, "the operator's own image: nothing else to pull");
  assert.deepEqual(pod.spec!.securityContext, deployment.spec!.template.spec!.securityContext);
  assert.deepEqual(container.securityContext, operatorContainer.securityContext);
  const env = Object.fromEntries(container.env!.map((e) => [e.name, e.value]));
  assert.equal(env.READYZ_HOST, `${service.metadata!.name}.${rel.namespace}.svc`);
  assert.equal(env.READYZ_PORT, String(config.health.port));
  assert.equal(env.EXPECTED_REPLICAS, String(deployment.spec!.replicas));

  // The API server accepts both, as `helm test` creates them.
  const cluster = await testCluster();
  await ensureNamespace(cluster, rel.namespace);
  await applyObjects(cluster, hooks);
  t.after(async () => {
    const api = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
    for (const hook of hooks) await api.delete(hook).catch(() => {});
  });

  // Its command against real operator processes (here: the host and port of one process).
  const namespace = unique('fco-helm-readyz');
  await createFliptTarget(cluster.clients, { namespace, configMap: 'flipt', deployment: 'flipt' });
  const target = { name: 'default', namespace, configMap: { name: 'flipt' }, workload: { kind: 'Deployment', name: 'flipt' } };
  const ready = writeOperatorConfig({ targets: [target] });
  const operator = startOperator(ready.path, cluster.kubeconfigPath);
  t.after(() => operator.stop());
  const here = { READYZ_HOST: '127.0.0.1', READYZ_PORT: String(ready.ports.health), EXPECTED_REPLICAS: '1' };
  const passed = await runPodCommand(pod, here);
  assert.equal(passed.code, 0, passed.output);
  assert.match(passed.output, /http:\/\/127\.0\.0\.1:\d+\/readyz: 200/);
  assert.match(passed.output, /ready: 1 replica\(s\)/);

  const missing = await runPodCommand(pod, { ...here, EXPECTED_REPLICAS: '2', READYZ_TIMEOUT_SECONDS: '3' });
  assert.equal(missing.code, 1, missing.output);
  assert.match(missing.output, /1 of 2 replicas found at 127\.0\.0\.1/);

  // An operator that cannot list FliptClients (no RBAC) runs but never syncs: /readyz says 503.
  const stuck = writeOperatorConfig({ targets: [target] });
  const unready = startOperator(stuck.path, await unauthorizedKubeconfig(cluster, namespace));
  t.after(() => unready.stop());
  await waitFor(async () => (await fetch(`http://127.0.0.1:${stuck.ports.health}/healthz`)).ok, 'the unauthorized operator to serve probes');
  const notReady = await runPodCommand(pod, { ...here, READYZ_PORT: String(stuck.ports.health), READYZ_TIMEOUT_SECONDS: '3' });
  assert.equal(notReady.code, 1, notReady.output);
  assert.match(notReady.output, /not ready: http:\/\/127\.0\.0\.1:\d+\/readyz: 503/);

  await operator.stop();
  const down = await runPodCommand(pod, { ...here, READYZ_TIMEOUT_SECONDS: '3' });
  assert.equal(down.code, 1, down.output);
  assert.match(down.output, /not ready: .*ECONNREFUSED/);
});

/** The Prometheus Operator's CRDs for PrometheusRule and ServiceMonitor, so the API server validates those objects too. */
async function installMonitoringCrds(cluster: TestCluster): Promise<void> {
  for (const file of ['monitoring.coreos.com_prometheusrules.yaml', 'monitoring.coreos.com_servicemonitors.yaml']) {
    await installCrd(cluster.kubeConfig, await prometheusOperatorCrd(file));
  }
}

const EVERYTHING = {
  serviceMonitor: { enabled: true },
  prometheusRule: { enabled: true, runbookUrl: 'https://runbooks.example/flipt' },
  grafanaDashboard: { enabled: true },
  networkPolicy: { enabled: true },
};

test('the API server accepts every optional object as rendered: PDB, NetworkPolicy, PrometheusRule, ServiceMonitor, dashboard, test hooks', async (t) => {
  const cluster = await testCluster();
  await installMonitoringCrds(cluster);
  const rel = release();
  const objects = await helmTemplate(CHART, EVERYTHING, rel.namespace, rel.name, { tests: true });
  const kinds = new Set(objects.map((o) => o.kind));
  for (const kind of ['PodDisruptionBudget', 'NetworkPolicy', 'PrometheusRule', 'ServiceMonitor', 'Pod']) assert.ok(kinds.has(kind), `renders a ${kind}`);
  assert.ok(objects.some((o) => o.metadata?.labels?.grafana_dashboard === '1'), 'renders the dashboard ConfigMap');
  const api = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
  const applied = objects.filter((o) => o.kind !== 'CustomResourceDefinition');
  for (const ns of new Set(applied.map((o) => o.metadata?.namespace).filter((n): n is string => !!n))) await ensureNamespace(cluster, ns);
  t.after(async () => {
    for (const obj of [...applied].reverse()) await api.delete(obj).catch(() => {});
  });
  await applyObjects(cluster, applied);
  const read = (o: KubernetesObject) => api.read({ apiVersion: o.apiVersion!, kind: o.kind!, metadata: { name: o.metadata!.name!, namespace: o.metadata?.namespace } });
  for (const obj of applied) await read(obj);
  // Stored as rendered (the CRD's schema keeps every field it knows, so nothing was pruned).
  const rule = objects.find((o) => o.kind === 'PrometheusRule') as KubernetesObject & { spec: unknown };
  assert.deepEqual(((await read(rule)) as unknown as { spec: unknown }).spec, rule.spec);
  const policy = objects.find((o) => o.kind === 'NetworkPolicy') as V1NetworkPolicy;
  assert.deepEqual(plain(((await read(policy)) as V1NetworkPolicy).spec!.ingress), plain(policy.spec!.ingress));
  // The namespace labels the policy's namespaceSelectors rely on are the API server's own.
  assert.equal((await cluster.clients.core.readNamespace({ name: rel.namespace })).metadata!.labels!['kubernetes.io/metadata.name'], rel.namespace);
  // An alert `for` the Prometheus Operator would not accept is refused by its CRD (the chart's schema refuses it first).
  await assert.rejects(
    applyObjects(cluster, [{ ...rule, metadata: { ...rule.metadata, name: `${rule.metadata!.name}-bad` }, spec: { groups: [{ name: 'x', rules: [{ alert: 'X', expr: 'up', for: 'five minutes' }] }] } } as KubernetesObject]),
    /for/,
  );
});

test('helm install, then helm test: the hook Pod helm creates passes or fails with its command, run against a real operator', async (t) => {
  const cluster = await testCluster();
  await installMonitoringCrds(cluster);
  const rel = release();
  const fliptNamespace = unique('fco-helm-flipt');
  await createFliptTarget(cluster.clients, { namespace: fliptNamespace, configMap: 'flipt', deployment: 'flipt' });
  const target = { name: 'default', namespace: fliptNamespace, configMap: { name: 'flipt' }, workload: { kind: 'Deployment', name: 'flipt' } };
  const dir = scratchDir('helm-install');
  const valuesFile = join(dir, 'values.json');
  writeFileSync(valuesFile, JSON.stringify({ ...EVERYTHING, replicaCount: 1, config: { targets: [target] } }));
  const kube = ['--namespace', rel.namespace, '--kubeconfig', cluster.kubeconfigPath];
  const install = await helm(['install', rel.name, chartPath(), ...kube, '--create-namespace', '--values', valuesFile]);
  assert.ok(install.stdout.includes(`helm test ${rel.name} -n ${rel.namespace}`), `the notes say how to run the test:\n${install.stdout}`);
  t.after(() => helm(['uninstall', rel.name, ...kube, '--wait=false']).catch(() => {}));
  const installed = await cluster.clients.apps.readNamespacedDeployment({ name: rel.fullname, namespace: rel.namespace });
  assert.equal(installed.spec!.replicas, 1);

  // No kubelet runs pods here: this test plays it for the hook Pod, running the Pod's command against a
  // real operator process and reporting the exit code as the Pod's phase, which is what `helm test` waits on.
  const written = writeOperatorConfig({ targets: [target] });
  let operator = startOperator(written.path, cluster.kubeconfigPath);
  t.after(() => operator.stop());
  const podName = `${rel.fullname}-test-readyz`;
  const helmTest = async (overrides: Record<string, string>) => {
    const run = helm(['test', rel.name, ...kube, '--timeout', '2m']).then(
      (r) => ({ ok: true, output: r.stdout + r.stderr }),
      (err: Error & { stdout?: string }) => ({ ok: false, output: `${err.message}\n${err.stdout ?? ''}` }),
    );
    let pod: V1Pod | undefined;
    await waitFor(async () => {
      pod = await cluster.clients.core.readNamespacedPod({ name: podName, namespace: rel.namespace });
      return !pod.status?.phase || pod.status.phase === 'Pending';
    }, 'helm test to create its Pod');
    const ran = await runPodCommand(pod!, { READYZ_HOST: '127.0.0.1', READYZ_PORT: String(written.ports.health), ...overrides });
    await cluster.clients.core.replaceNamespacedPodStatus({
      name: podName,
      namespace: rel.namespace,
      body: { ...pod!, status: { phase: ran.code === 0 ? 'Succeeded' : 'Failed' } },
    });
    return { ran, helm: await run };
  };

  const passed = await helmTest({});
  assert.equal(passed.ran.code, 0, passed.ran.output);
  assert.ok(passed.helm.ok, passed.helm.output);
  assert.match(passed.helm.output, new RegExp(`TEST SUITE:\\s+${podName}[\\s\\S]*Phase:\\s+Succeeded`));
  // hook-succeeded: the Pod and the Service are gone.
  await waitFor(async () => {
    const pods = await cluster.clients.core.listNamespacedPod({ namespace: rel.namespace });
    const services = await cluster.clients.core.listNamespacedService({ namespace: rel.namespace });
    return !pods.items.some((p) => p.metadata!.name === podName) && !services.items.some((s) => s.metadata!.name === `${rel.fullname}-readyz`);
  }, 'the test hooks to be removed after success');

  await operator.stop();
  const failed = await helmTest({ READYZ_TIMEOUT_SECONDS: '3' });
  assert.equal(failed.ran.code, 1, failed.ran.output);
  assert.ok(!failed.helm.ok, failed.helm.output);
  assert.match(failed.helm.output, /failed/);
  // A failed test keeps its Pod for `kubectl logs`; the next `helm test` replaces it (before-hook-creation).
  await cluster.clients.core.readNamespacedPod({ name: podName, namespace: rel.namespace });
  operator = startOperator(written.path, cluster.kubeconfigPath);
  const again = await helmTest({});
  assert.ok(again.helm.ok, again.helm.output);
});
