// The FliptClient CRD against a real kube-apiserver: it is served, defaults are filled in by the
// server, bad input is refused with a message that names the offending field, every spec property
// is documented for `kubectl explain`, and `kubectl get` shows the promised columns.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ApiextensionsV1Api, loadYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { statusCode } from '../../src/kube/errors.ts';
import { testCluster, installCrd, createNamespace, crdPath, waitFor, type TestCluster } from '../support/cluster.ts';
import { removeFliptClients } from '../support/fliptclients.ts';

const GROUP = 'flipt.io';
const VERSION = 'v1alpha1';
const PLURAL = 'fliptclients';
const CRD_NAME = 'fliptclients.flipt.io';

/**
 * Installs the CRD (test/support's installCrd: typed through loadYaml, so every default, CEL rule and
 * list type reaches the server) and waits until its rules are enforced: the API server compiles CEL
 * rules asynchronously after an update.
 */
async function installCrdFaithfully(c: TestCluster): Promise<void> {
  await installCrd(c.kubeConfig);
  // The CEL rules compile asynchronously after an update; wait until a rule is enforced.
  const namespace = await trackedNamespace(c, 'crd-probe');
  await waitFor(async () => {
    try {
      await create(c, namespace, fliptClient('probe', { metadata: { 'fliptclient-name': 'x' } }));
    } catch (err) {
      return statusCode(err) === 422;
    }
    await c.clients.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name: 'probe' });
    return false;
  }, 'the CRD validation rules to be enforced');
}

// Installed once for the whole file; every test awaits it.
const started = (async () => {
  const c = await testCluster();
  await installCrdFaithfully(c);
  return c;
})();
started.catch(() => {});
/** The cluster with the CRD installed. */
function cluster(): Promise<TestCluster> {
  return started;
}

interface FliptClientObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
}

const namespacesUsed: string[] = [];

/** A fresh namespace whose FliptClients are removed after this file, so later operators do not inherit them. */
async function trackedNamespace(c: TestCluster, prefix: string): Promise<string> {
  const namespace = await createNamespace(c.clients, prefix);
  namespacesUsed.push(namespace);
  return namespace;
}

after(async () => {
  const c = await testCluster();
  for (const namespace of namespacesUsed) await removeFliptClients(c, namespace);
});

function fliptClient(name: string, spec: Record<string, unknown> | undefined): FliptClientObject {
  return { apiVersion: `${GROUP}/${VERSION}`, kind: 'FliptClient', metadata: { name }, ...(spec === undefined ? {} : { spec }) };
}

async function create(c: TestCluster, namespace: string, body: FliptClientObject): Promise<FliptClientObject> {
  return (await c.clients.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, body })) as FliptClientObject;
}

/** The Kubernetes Status carried by an ApiException's body (a JSON string or an already parsed object). */
function apiStatus(err: unknown): { code?: number; reason?: string; message?: string } {
  const body = (err as { body?: unknown } | undefined)?.body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as { code?: number; reason?: string; message?: string };
    } catch {
      return { message: body };
    }
  }
  if (body && typeof body === 'object') return body as { code?: number; reason?: string; message?: string };
  return {};
}

/** Creates the object expecting a 422 and returns the Status message. */
async function createRejected(c: TestCluster, namespace: string, body: FliptClientObject): Promise<string> {
  try {
    await create(c, namespace, body);
  } catch (err) {
    const status = apiStatus(err);
    assert.equal(statusCode(err), 422, `expected HTTP 422 for ${JSON.stringify(body)}, got ${statusCode(err)}: ${status.message ?? String(err)}`);
    assert.equal(typeof status.message, 'string', 'the 422 carries a Status message');
    return status.message!;
  }
  assert.fail(`the API server accepted an invalid FliptClient: ${JSON.stringify(body)}`);
}

test('the CRD becomes Established and is served', async () => {
  const { kubeConfig } = await cluster();
  const crd = await kubeConfig.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: CRD_NAME });
  const established = crd.status?.conditions?.find((c) => c.type === 'Established');
  assert.equal(established?.status, 'True');
  const namesAccepted = crd.status?.conditions?.find((c) => c.type === 'NamesAccepted');
  assert.equal(namesAccepted?.status, 'True');
  assert.deepEqual(crd.status?.acceptedNames?.shortNames, ['fc']);
  assert.equal(crd.spec.scope, 'Namespaced');
});

test('the served schema is the one in the file, rules and defaults included', async () => {
  const { kubeConfig } = await cluster();
  const served = await kubeConfig.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: CRD_NAME });
  const file = loadYaml<V1CustomResourceDefinition>(readFileSync(crdPath, 'utf8'));
  const servedVersion = served.spec.versions.find((v) => v.name === VERSION)!;
  assert.deepEqual(servedVersion.schema, file.spec.versions[0]!.schema);
  assert.deepEqual(servedVersion.additionalPrinterColumns, file.spec.versions[0]!.additionalPrinterColumns);
  const spec = servedVersion.schema!.openAPIV3Schema!.properties!.spec!;
  assert.equal(spec.properties!.target!._default, 'default');
  assert.ok((spec.properties!.rotation!.x_kubernetes_validations ?? []).length >= 2, 'rotation rules reached the server');
  assert.equal(spec.properties!.serviceAccounts!.x_kubernetes_list_type, 'set');
});

test('a minimal FliptClient is accepted and the server fills in the defaults', async () => {
  const c = await cluster();
  const namespace = await trackedNamespace(c, 'crd');

  const minimal = await create(c, namespace, fliptClient('minimal', {}));
  assert.equal(minimal.spec?.target, 'default');
  assert.equal(minimal.spec?.rotation, undefined, 'no rotation unless asked for');

  const rotating = await create(c, namespace, fliptClient('rotating', { rotation: { every: '720h' } }));
  assert.deepEqual(rotating.spec?.rotation, { every: '720h', overlap: '10m' });
  assert.equal(rotating.spec?.target, 'default');

  const full = await create(
    c,
    namespace,
    fliptClient('full', {
      target: 'staging',
      metadata: { team: 'payments', 'cost_centre-1': '42' },
      secret: { name: 'payments.flipt', labels: { a: 'b' }, annotations: { 'reloader.stakater.com/match': 'true' } },
      serviceAccounts: ['api', 'worker'],
      rotation: { every: '1h30m', overlap: '5m' },
      rolloutRestartTargets: [
        { kind: 'Deployment', name: 'api' },
        { kind: 'StatefulSet', name: 'api' },
        { kind: 'DaemonSet', name: 'agent' },
      ],
    }),
  );
  assert.equal(full.spec?.target, 'staging');
  assert.deepEqual(full.spec?.rotation, { every: '1h30m', overlap: '5m' });
  assert.deepEqual(full.spec?.serviceAccounts, ['api', 'worker']);

  // The longest DNS label is a valid name; secret labels and annotations of the usual shapes pass.
  const longest = 'n'.repeat(63);
  const named = await create(
    c,
    namespace,
    fliptClient(longest, {
      secret: { labels: { 'app.kubernetes.io/part-of': 'shop', tier: '' }, annotations: { 'reloader.stakater.com/match': 'true', note: 'any text at all' } },
    }),
  );
  assert.equal(named.metadata.name, longest);

  // The smallest scheduled rotation: exactly 5m, with a shorter overlap.
  const smallest = await create(c, namespace, fliptClient('smallest', { rotation: { every: '5m', overlap: '1m' } }));
  assert.deepEqual(smallest.spec?.rotation, { every: '5m', overlap: '1m' });
});

interface InvalidCase {
  what: string;
  name?: string;
  spec: Record<string, unknown>;
  /** Every one of these must appear in the Status message. */
  mentions: string[];
  /** None of these may appear (noise that would hide the real problem). */
  absent?: string[];
}

const invalidCases: InvalidCase[] = [
  { what: 'metadata key with a dot', spec: { metadata: { 'team.name': 'x' } }, mentions: ['spec.metadata', '^[a-z0-9_-]+$'] },
  { what: 'metadata key with upper case', spec: { metadata: { Team: 'x' } }, mentions: ['spec.metadata', '^[a-z0-9_-]+$'] },
  { what: 'reserved metadata key fliptclient-name', spec: { metadata: { 'fliptclient-name': 'x' } }, mentions: ['spec.metadata', 'reserved'] },
  { what: 'reserved metadata key fliptclient-namespace', spec: { metadata: { 'fliptclient-namespace': 'x' } }, mentions: ['spec.metadata', 'reserved'] },
  ...[
    ['${env:HOME}', 'an env reference'],
    ['${secret:file:x}', 'a file secret reference'],
    ['${secret:x}', 'a default-provider secret reference'],
    [' ${env:HOME}', 'a reference after a space'],
    ['prefix ${secret:vault:a/b} suffix', 'a reference inside text'],
    ['${ENV:HOME}', 'an upper-case look-alike'],
    ['$${env:HOME}', 'a doubled dollar look-alike'],
    ['${}', 'an empty reference'],
  ].map(([value, what]): InvalidCase => ({
    what: `metadata value holding ${what}`,
    spec: { metadata: { team: 'ok', note: value! } },
    mentions: ['spec.metadata', 'must not contain "${"', 'key note'],
  })),
  ...[
    ['line\nbreak', 'a newline'],
    ['nel\u0085', 'U+0085'],
    ['ls\u2028', 'U+2028'],
    ['del\u007f', 'DEL'],
  ].map(([value, what]): InvalidCase => ({
    what: `metadata value holding ${what}`,
    spec: { metadata: { team: 'ok', note: value! } },
    mentions: ['spec.metadata', 'control characters', 'key note'],
  })),
  { what: 'metadata value over 256 characters', spec: { metadata: { team: 'x'.repeat(257) } }, mentions: ['spec.metadata.team'] },
  { what: 'more than 32 metadata keys', spec: { metadata: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) }, mentions: ['spec.metadata'] },
  { what: 'duration that is not a Go duration', spec: { rotation: { every: '10 minutes' } }, mentions: ['spec.rotation.every'], absent: ['conversion error'] },
  { what: 'rotation.every below 5m', spec: { rotation: { every: '4m59s' } }, mentions: ['spec.rotation.every', '5m'] },
  {
    what: 'rotation.every of 5m with the default 10m overlap',
    spec: { rotation: { every: '5m' } },
    mentions: ['spec.rotation.overlap', '10m unless set'],
  },
  { what: 'rotation.overlap equal to every', spec: { rotation: { every: '1h', overlap: '60m' } }, mentions: ['spec.rotation.overlap'] },
  { what: 'rotation.overlap longer than every', spec: { rotation: { every: '10m', overlap: '1h' } }, mentions: ['spec.rotation.overlap'] },
  { what: 'bad overlap duration', spec: { rotation: { every: '1h', overlap: 'soon' } }, mentions: ['spec.rotation.overlap'], absent: ['conversion error'] },
  { what: 'rotation without every', spec: { rotation: { overlap: '1m' } }, mentions: ['spec.rotation.every'] },
  { what: 'unknown workload kind', spec: { rolloutRestartTargets: [{ kind: 'Job', name: 'x' }] }, mentions: ['spec.rolloutRestartTargets[0].kind'] },
  { what: 'rollout restart target without a name', spec: { rolloutRestartTargets: [{ kind: 'Deployment' }] }, mentions: ['spec.rolloutRestartTargets[0].name'] },
  {
    what: 'duplicate rollout restart target',
    spec: { rolloutRestartTargets: [{ kind: 'Deployment', name: 'api' }, { kind: 'Deployment', name: 'api' }] },
    mentions: ['spec.rolloutRestartTargets[1]'],
  },
  { what: 'invalid service account name', spec: { serviceAccounts: ['good', 'Bad_Name'] }, mentions: ['spec.serviceAccounts[1]'] },
  { what: 'duplicate service account', spec: { serviceAccounts: ['api', 'api'] }, mentions: ['spec.serviceAccounts[1]'] },
  {
    what: 'more than 64 service accounts',
    spec: { serviceAccounts: Array.from({ length: 65 }, (_, i) => `sa-${i}`) },
    mentions: ['spec.serviceAccounts'],
  },
  { what: 'target name with upper case', spec: { target: 'Default' }, mentions: ['spec.target'] },
  { what: 'target name with a dot', spec: { target: 'a.b' }, mentions: ['spec.target'] },
  { what: 'invalid secret name', spec: { secret: { name: 'Not_A_Secret' } }, mentions: ['spec.secret.name'] },
  { what: 'secret label key that is not a label key', spec: { secret: { labels: { 'bad key': 'x' } } }, mentions: ['spec.secret.labels', 'label keys'] },
  { what: 'secret label value that is not a label value', spec: { secret: { labels: { team: 'not a value' } } }, mentions: ['spec.secret.labels.team'] },
  { what: 'secret annotation key that is not a key', spec: { secret: { annotations: { 'a/b/c': 'x' } } }, mentions: ['spec.secret.annotations', 'annotation keys'] },
  { what: 'FliptClient name that is not a DNS label', name: 'a.b', spec: {}, mentions: ['metadata.name: Invalid value', 'DNS label'] },
  { what: 'FliptClient name longer than a DNS label', name: 'x'.repeat(64), spec: {}, mentions: ['metadata.name: Invalid value', 'DNS label'] },
];

test('invalid FliptClients are refused with HTTP 422 and a message naming the field', async (t) => {
  const c = await cluster();
  const namespace = await trackedNamespace(c, 'crd');
  for (const [i, invalid] of invalidCases.entries()) {
    await t.test(invalid.what, async (st) => {
      const message = await createRejected(c, namespace, fliptClient(invalid.name ?? `invalid-${i}`, invalid.spec));
      st.diagnostic(message);
      for (const mention of invalid.mentions) {
        assert.ok(message.includes(mention), `the message for "${invalid.what}" should name ${mention}; it was: ${message}`);
      }
      for (const noise of invalid.absent ?? []) {
        assert.ok(!message.includes(noise), `the message for "${invalid.what}" should not say ${noise}; it was: ${message}`);
      }
    });
  }
  // Nothing invalid was stored.
  const list = (await c.clients.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace })) as {
    items: unknown[];
  };
  assert.equal(list.items.length, 0);
});

test('an update that breaks a rule is refused too', async () => {
  const c = await cluster();
  const namespace = await trackedNamespace(c, 'crd');
  const created = (await create(c, namespace, fliptClient('app', { rotation: { every: '1h' } }))) as FliptClientObject & {
    metadata: { resourceVersion?: string };
  };
  const broken = { ...created, spec: { ...created.spec, rotation: { every: '1h', overlap: '2h' } } };
  try {
    await c.clients.custom.replaceNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name: 'app', body: broken });
    assert.fail('the update was accepted');
  } catch (err) {
    assert.equal(statusCode(err), 422, String(err));
    assert.match(apiStatus(err).message ?? '', /spec\.rotation\.overlap/);
  }
});

/** Every schema property below `schema`, with its dotted path. */
function* properties(schema: Record<string, unknown>, path: string): Generator<[string, Record<string, unknown>]> {
  const props = schema.properties as Record<string, Record<string, unknown>> | undefined;
  for (const [name, child] of Object.entries(props ?? {})) {
    yield [`${path}.${name}`, child];
    yield* properties(child, `${path}.${name}`);
  }
  const items = schema.items as Record<string, unknown> | undefined;
  if (items) yield* properties(items, `${path}[]`);
  const additional = schema.additionalProperties;
  if (additional && typeof additional === 'object') yield* properties(additional as Record<string, unknown>, `${path}.*`);
}

test('every spec and status property has a description (kubectl explain)', () => {
  const crd = parse(readFileSync(crdPath, 'utf8')) as V1CustomResourceDefinition;
  const root = crd.spec.versions[0]!.schema!.openAPIV3Schema as unknown as Record<string, unknown>;
  assert.ok(typeof root.description === 'string' && root.description.trim() !== '', 'the kind has a description');
  const top = root.properties as Record<string, Record<string, unknown>>;
  const undocumented: string[] = [];
  let checked = 0;
  for (const section of ['spec', 'status']) {
    const schema = top[section]!;
    if (typeof schema.description !== 'string' || schema.description.trim() === '') undocumented.push(section);
    for (const [path, child] of properties(schema, section)) {
      checked++;
      if (typeof child.description !== 'string' || child.description.trim() === '') undocumented.push(path);
    }
  }
  assert.ok(checked > 20, `walked only ${checked} properties`);
  assert.deepEqual(undocumented, [], `properties without a description: ${undocumented.join(', ')}`);
});

test('the served CRD has the printer columns Ready, Target, Secret and Age', async () => {
  const { kubeConfig } = await cluster();
  const crd = await kubeConfig.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: CRD_NAME });
  const version = crd.spec.versions.find((v) => v.name === VERSION);
  const columns = version?.additionalPrinterColumns ?? [];
  const byName = new Map(columns.map((col) => [col.name, col]));
  for (const name of ['Ready', 'Target', 'Secret', 'Age']) {
    assert.ok(byName.has(name), `missing printer column ${name}; have ${[...byName.keys()].join(', ')}`);
    assert.ok(!byName.get(name)!.priority, `${name} is shown by default (priority 0)`);
  }
  assert.equal(byName.get('Ready')!.jsonPath, '.status.conditions[?(@.type=="Ready")].status');
  assert.equal(byName.get('Target')!.jsonPath, '.spec.target');
  assert.equal(byName.get('Secret')!.jsonPath, '.status.secretName');
  assert.equal(byName.get('Age')!.jsonPath, '.metadata.creationTimestamp');
  assert.equal(byName.get('Age')!.type, 'date');
  // The default columns come in the promised order.
  const shown = columns.filter((col) => !col.priority).map((col) => col.name);
  assert.deepEqual(shown, ['Ready', 'Target', 'Secret', 'Age']);
});
