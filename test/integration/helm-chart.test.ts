// The Helm chart (charts/flipt-client-operator) installs what deploy/ installs: the same CRD bytes, the
// same RBAC rules (one least-privilege Role per configured target), a config the operator loads, and
// objects the real API server accepts. Each test renders into its own release namespace and release
// name, so cluster-scoped objects of different renders never collide.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  AuthorizationV1Api,
  KubernetesObjectApi,
  type KubernetesObject,
  type V1ClusterRole,
  type V1ClusterRoleBinding,
  type V1ConfigMap,
  type V1Deployment,
  type V1LabelSelector,
  type V1PodDisruptionBudget,
  type V1PolicyRule,
  type V1Role,
  type V1RoleBinding,
  type V1Service,
} from '@kubernetes/client-node';
import { parseOperatorConfig, type OperatorConfig } from '../../src/config/operator-config.ts';
import { isNotFound } from '../../src/kube/client.ts';
import { testCluster, type TestCluster } from '../support/cluster.ts';
import { applyObjects, deployManifest } from '../support/deploy-rbac.ts';
import { helmTemplate } from '../support/helm.ts';

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
    'what deploy/ installs, less the Namespace (helm install --create-namespace), plus a PodDisruptionBudget for the two replicas',
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

  await assert.rejects(
    helmTemplate(CHART, { config: { targets: [{ name: 'x', namespace: 'flipt', configMap: { name: 'flipt' }, workload: { kind: 'DaemonSet', name: 'flipt' } }] } }, rel.namespace, rel.name),
    /workload\.kind: must be Deployment or StatefulSet/,
  );
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

// ---- Chart polish: disruption budget, topology spread ----

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
