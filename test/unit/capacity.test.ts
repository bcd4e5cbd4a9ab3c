// A target's capacity, decided before anything is written: what does not fit the API server's 1 MiB
// object limit is refused alone (TargetFull), everything that fits is registered, clients already
// registered keep their place, and a per-namespace limit keeps one team from taking it all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { ANNOTATIONS_LIMIT_BYTES, DATA_LIMIT_BYTES, admitWithin, byPriority, dataBytes, entriesOf, estimateBytes, fillRatio, fits } from '../../src/fliptinstance/capacity.ts';
import { MANAGED_JWT_METHOD_ANNOTATION } from '../../src/fliptinstance/jwt-method.ts';
import type { ClientCredential } from '../../src/fliptinstance/plan.ts';
import { decideTargetStep, type ObservedTarget } from '../../src/fliptinstance/step.ts';
import { fingerprint, generateToken } from '../../src/vocabulary/credentials.ts';
import { clientKey, tokenMetadataFor, type FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { exampleTarget } from '../support/target-fixture.ts';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const BIG = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`key-${i}`, 'v'.repeat(256)]));

interface Spec {
  namespace: string;
  name: string;
  metadata?: Record<string, string>;
  createdAt: number;
}

function observe(specs: Spec[], over: Partial<ObservedTarget> = {}): ObservedTarget {
  const tokens = new Map<string, string>();
  const clients: FliptClient[] = specs.map((s) => {
    const token = generateToken();
    tokens.set(clientKey(s.namespace, s.name), token);
    return {
      apiVersion: 'flipt.io/v1alpha1',
      kind: 'FliptClient',
      metadata: { name: s.name, namespace: s.namespace, creationTimestamp: new Date(s.createdAt) },
      spec: { target: 'default', ...(s.metadata ? { metadata: s.metadata } : {}) },
      status: { credentialFingerprint: fingerprint(token) },
    };
  });
  return {
    configMap: { text: 'authentication:\n  required: true\n', managedRecord: undefined, managedIds: [], jwtRecord: undefined, otherDataBytes: 0, otherAnnotationBytes: 0 },
    credentials: {},
    workload: { configHash: undefined, restartedAtMs: undefined, changedSinceOurRestart: false, rollout: { done: true, detail: 'done' }, env: { containers: ['flipt'], vars: [], envFrom: [] } },
    clients,
    clientSecretToken: (c) => tokens.get(clientKey(c.metadata.namespace, c.metadata.name)),
    ...over,
  };
}

/** One entry of client `<namespace>/<name>` (its id, or the `_next` of a rotation), sized like a real one. */
function entryOf(namespace: string, name: string, createdAt: number, metadata: Record<string, string> = {}, id = `${namespace}_${name}`): ClientCredential {
  return { id, token: 'x'.repeat(64), metadata: { ...metadata, 'fliptclient-namespace': namespace, 'fliptclient-name': name }, credential: `\${secret:file:${id}}`, credentialKey: id, owner: { key: `${namespace}/${name}`, namespace, createdAt } };
}

test('dataBytes counts keys and values in UTF-8 bytes, leaving out the keys named', () => {
  assert.equal(dataBytes(undefined), 0);
  assert.equal(dataBytes({ ab: 'cde', 'é': '€' }), 2 + 3 + 2 + 3);
  assert.equal(dataBytes({ ab: 'cde', 'é': '€' }, new Set(['ab'])), 5);
});

const bigTeam = Array.from({ length: 120 }, (_, i) => ({ namespace: 'team-big', name: `big-${i}`, metadata: BIG, createdAt: T0 + i }));

test("one namespace's large clients fill the target: the ones that do not fit are refused, another team's small client is registered", () => {
  const target = exampleTarget();
  const small = { namespace: 'team-small', name: 'tiny', createdAt: T0 + 1_000 };
  const step = decideTargetStep(target, observe([...bigTeam, small]), T0 + 2_000);
  const tokens = parse(step.config!.text).authentication.methods.token.storage.tokens as Record<string, unknown>;
  assert.ok('team-small_tiny' in tokens, 'the small client of another namespace is registered');
  const registeredBig = bigTeam.filter((c) => `team-big_${c.name}` in tokens);
  const refused = [...step.state.refused.keys()];
  assert.ok(registeredBig.length > 80 && registeredBig.length < 120, `${registeredBig.length} of the large clients fit`);
  assert.deepEqual(refused.sort(), bigTeam.filter((c) => !(`team-big_${c.name}` in tokens)).map((c) => `team-big/${c.name}`).sort(), 'exactly the ones that do not fit are refused');
  assert.deepEqual(registeredBig.map((c) => c.name), bigTeam.slice(0, registeredBig.length).map((c) => c.name), 'the oldest are admitted first');
  const refusal = step.state.refused.get(refused[0]!)!;
  assert.equal(refusal.reason, 'TargetFull');
  assert.match(refusal.message, /Target "default" is full.*1 MiB.*ConfigMap \d+% .*another target, use less metadata, or use JWT mode/);
  assert.ok(Buffer.byteLength(step.config!.text) <= DATA_LIMIT_BYTES, 'the written config fits');
  assert.ok(step.state.fill!.configMap > 0.9 && step.state.fill!.configMap <= 1);
});

test('clients already registered keep their place ahead of older ones that are not', () => {
  const target = exampleTarget();
  const first = decideTargetStep(target, observe(bigTeam.slice(60)), T0);
  const registered = JSON.parse(first.config!.managedRecord) as string[];
  // The 60 older ones arrive later (say, moved from another target): the registered stay.
  const ids = JSON.parse(first.config!.managedRecord) as string[];
  const observed = observe(bigTeam, { configMap: { text: first.config!.text, managedRecord: first.config!.managedRecord, managedIds: ids, jwtRecord: first.config!.jwtRecord, otherDataBytes: 0, otherAnnotationBytes: 0 } });
  const step = decideTargetStep(target, observed, T0 + 60_000);
  const after = new Set(JSON.parse(step.config?.managedRecord ?? first.config!.managedRecord) as string[]);
  for (const id of registered) assert.ok(after.has(id), `${id} stays registered`);
});

test('a per-namespace limit refuses only that namespace\'s extra clients', () => {
  const target = exampleTarget({ limits: { clientsPerNamespace: 2 } });
  const specs = [
    { namespace: 'a', name: 'one', createdAt: T0 },
    { namespace: 'a', name: 'two', createdAt: T0 + 1 },
    { namespace: 'a', name: 'three', createdAt: T0 + 2 },
    { namespace: 'b', name: 'one', createdAt: T0 + 3 },
  ];
  const step = decideTargetStep(target, observe(specs), T0 + 10);
  assert.deepEqual([...step.state.refused.keys()], ['a/three']);
  assert.equal(step.state.refused.get('a/three')!.reason, 'NamespaceLimitReached');
  assert.match(step.state.refused.get('a/three')!.message, /at most 2 FliptClients per namespace.*namespace a/);
  assert.deepEqual(JSON.parse(step.config!.managedRecord), ['a_one', 'a_two', 'b_one']);

  const bytes = exampleTarget({ limits: { bytesPerNamespace: 20_000 } });
  const byBytes = decideTargetStep(bytes, observe([...bigTeam.slice(0, 5), { namespace: 'b', name: 'one', createdAt: T0 + 9 }]), T0 + 10);
  assert.deepEqual([...byBytes.state.refused.values()].map((r) => r.reason), ['NamespaceLimitReached', 'NamespaceLimitReached', 'NamespaceLimitReached']);
  assert.ok(JSON.parse(byBytes.config!.managedRecord).includes('b_one'));
});

test('clientsPerNamespace counts clients, registered or new, not the second token of a rotation', () => {
  const target = exampleTarget({ limits: { clientsPerNamespace: 2 } });
  let observed = observe([
    { namespace: 'a', name: 'one', createdAt: T0 },
    { namespace: 'a', name: 'two', createdAt: T0 + 1 },
    { namespace: 'a', name: 'three', createdAt: T0 + 2 },
  ]);
  observed = applyStep(observed, decideTargetStep(target, observed, T0 + 10));
  assert.deepEqual(observed.configMap!.managedIds, ['a_one', 'a_two']);
  // The first one rotates: the rotation goes on, and the third is still refused.
  observed = { ...observed, clients: observed.clients.map((c) => (c.metadata.name === 'one' ? { ...c, metadata: { ...c.metadata, annotations: { 'flipt.io/rotate': 'r1' } } } : c)) };
  const issued = decideTargetStep(target, observed, T0 + 20);
  assert.deepEqual(issued.issue, ['a_one_next']);
  const step = decideTargetStep(target, applyStep(observed, issued), T0 + 30);
  assert.deepEqual(JSON.parse(step.config!.managedRecord), ['a_one', 'a_one_next', 'a_two']);
  assert.deepEqual([...step.state.refused.keys()], ['a/three']);
  assert.equal(step.state.rotationsWithoutRoom, undefined);
});

test('bytesPerNamespace is a maximum: a namespace taking exactly that many bytes is admitted, one byte more is refused', () => {
  const entry = (name: string, createdAt: number) => entryOf('a', name, createdAt);
  const one = entry('one', 1);
  const exactly = estimateBytes(one).configMap;
  const { candidates, refused } = byPriority(exampleTarget({ limits: { bytesPerNamespace: exactly } }), [one, entry('two', 2)], new Set());
  assert.deepEqual(candidates.map((c) => c.owner), ['a/one']);
  assert.deepEqual([...refused.keys()], ['a/two']);
  const under = byPriority(exampleTarget({ limits: { bytesPerNamespace: exactly - 1 } }), [one], new Set());
  assert.deepEqual([...under.refused.keys()], ['a/one']);
});

test('the estimate of an entry is an upper bound of what it adds to the rendered config', () => {
  const target = exampleTarget();
  for (const metadata of [{}, { team: 'x' }, BIG, { a: 'ünïcödé ✓ "quoted" \\ back', '1_0': '0x1F' }]) {
    const without = decideTargetStep(target, observe([{ namespace: 'n', name: 'other', createdAt: T0 }]), T0);
    const withIt = decideTargetStep(target, observe([{ namespace: 'n', name: 'other', createdAt: T0 }, { namespace: 'n', name: 'c', metadata, createdAt: T0 }]), T0);
    const added = Buffer.byteLength(withIt.config!.text) - Buffer.byteLength(without.config!.text);
    const estimate = estimateBytes(entryOf('n', 'c', 0, metadata));
    assert.ok(estimate.configMap >= added, `estimate ${estimate.configMap} >= ${added} bytes added`);
  }
  // Every string the renderer writes double-quoted (an all-digit namespace and name, number-like values): no slack left in the quotes.
  const numeric = { count: '1_000', hex: '0x1F' };
  const base = [{ namespace: '1', name: '1', createdAt: T0 }];
  const without = decideTargetStep(target, observe(base), T0);
  const withIt = decideTargetStep(target, observe([...base, { namespace: '1', name: '2', metadata: numeric, createdAt: T0 }]), T0);
  const quotedEstimate = estimateBytes(entryOf('1', '2', 0, numeric));
  const quotedAdded = Buffer.byteLength(withIt.config!.text) - Buffer.byteLength(without.config!.text);
  assert.ok(quotedEstimate.configMap >= quotedAdded, `estimate ${quotedEstimate.configMap} >= ${quotedAdded} bytes added, every string quoted`);
  assert.ok(quotedEstimate.secret >= dataBytes(withIt.credentials!) - dataBytes(without.credentials!), 'and of what it adds to the credentials Secret, key and token');
  // The record of managed ids is JSON: an id adds itself quoted and a comma, exactly.
  const one = decideTargetStep(target, observe([{ namespace: 'n', name: 'a', createdAt: T0 }]), T0);
  const two = decideTargetStep(target, observe([{ namespace: 'n', name: 'a', createdAt: T0 }, { namespace: 'n', name: 'b', createdAt: T0 }]), T0);
  const idEstimate = estimateBytes(entryOf('n', 'b', 0)).annotations;
  assert.equal(idEstimate, Buffer.byteLength(two.config!.managedRecord) - Buffer.byteLength(one.config!.managedRecord));
  assert.equal(fits({ configMap: DATA_LIMIT_BYTES, annotations: ANNOTATIONS_LIMIT_BYTES, secret: DATA_LIMIT_BYTES }), true);
  assert.equal(fits({ configMap: DATA_LIMIT_BYTES, annotations: ANNOTATIONS_LIMIT_BYTES + 1, secret: 0 }), false, 'the record of managed ids counts too');
});

test('how many clients one target holds with ordinary metadata (the figure the README gives)', () => {
  const target = exampleTarget();
  // Names like a real cluster's: a 12-character namespace, a 16-character name, one metadata value.
  const specs = Array.from({ length: 9_000 }, (_, i) => ({ namespace: `team-${String(i % 50).padStart(7, '0')}`, name: `service-${String(i).padStart(8, '0')}`, metadata: { team: 'payments' }, createdAt: T0 + i }));
  const step = decideTargetStep(target, observe(specs), T0 + 10_000);
  const registered = (JSON.parse(step.config!.managedRecord) as string[]).length;
  process.stdout.write(`# one target holds ${registered} FliptClients with a 12-character namespace, a 16-character name and one metadata value (ConfigMap ${Math.round(step.state.fill!.configMap * 100)}%, credentials Secret ${Math.round(step.state.fill!.secret * 100)}%)\n`);
  assert.ok(registered > 3_500 && registered < 9_000, `${registered}`);
  assert.ok(step.state.fill!.configMap > 0.9, "the estimates leave little of the limit unused");
  assert.equal(step.state.refused.size, specs.length - registered);
});

test('a JWT target: clients holding JWTs take no room and are never refused; the jwt method counts toward the ConfigMap', () => {
  // Mid-switch to JWTs: the large team still holds static tokens (more than fit), 200 older clients hold JWTs already.
  const holdingJwts: FliptClient[] = Array.from({ length: 200 }, (_, i) => ({
    apiVersion: 'flipt.io/v1alpha1',
    kind: 'FliptClient',
    metadata: { name: `jwt-${i}`, namespace: 'team-jwt', creationTimestamp: new Date(T0 - 10_000 + i) },
    spec: { target: 'default', metadata: BIG },
    status: { credentialFingerprint: `${i}`.padStart(16, 'f'), credentialKind: 'jwt' },
  }));
  const withJwts = (target: ReturnType<typeof exampleTarget>) => {
    const observed = observe(bigTeam);
    return decideTargetStep(target, { ...observed, clients: [...holdingJwts, ...observed.clients] }, T0 + 2_000);
  };
  const jwt = withJwts(exampleTarget({ credentialKind: 'jwt' }));
  const config = parse(jwt.config!.text);
  assert.equal(config.authentication.methods.jwt.enabled, true, 'the jwt method is written');
  const tokens = config.authentication.methods.token.storage.tokens as Record<string, unknown>;
  assert.ok(!Object.keys(tokens).some((id) => id.startsWith('team-jwt_')), 'a client holding a JWT has no entry');
  assert.ok(![...jwt.state.refused.keys()].some((key) => key.startsWith('team-jwt/')), 'and is never refused');
  assert.ok(jwt.state.refused.size > 0, 'while the static tokens do not all fit');
  assert.ok(Buffer.byteLength('default.yml') + Buffer.byteLength(jwt.config!.text) <= DATA_LIMIT_BYTES, 'the config, jwt method included, fits');
  // The jwt method and its record take room the static tokens would otherwise have.
  const staticOnly = decideTargetStep(exampleTarget(), observe(bigTeam), T0 + 2_000);
  assert.ok(JSON.parse(jwt.config!.managedRecord).length <= JSON.parse(staticOnly.config!.managedRecord).length);
  // A per-namespace limit counts no client holding a JWT.
  const limited = withJwts(exampleTarget({ credentialKind: 'jwt', limits: { clientsPerNamespace: 1 } }));
  assert.ok(![...limited.state.refused.keys()].some((key) => key.startsWith('team-jwt/')));
});

/** Applies a step's writes to what the target holds, as the reconciler would (new tokens for `issue`). */
function applyStep(observed: ObservedTarget, step: ReturnType<typeof decideTargetStep>): ObservedTarget {
  const credentials = step.issue ? { ...observed.credentials, ...Object.fromEntries(step.issue.map((k) => [k, generateToken()])) } : (step.credentials ?? observed.credentials);
  const configMap = step.config ? { ...observed.configMap!, text: step.config.text, managedRecord: step.config.managedRecord, managedIds: JSON.parse(step.config.managedRecord) as string[] } : observed.configMap;
  return { ...observed, credentials, configMap, previous: step.state };
}

test("a rotation never costs a registered token its place: a namespace at its byte limit keeps every client, and the rotation waits for room, saying why", () => {
  const two = [
    { namespace: 'a', name: 'older', metadata: { team: 'x'.repeat(200) }, createdAt: T0 },
    { namespace: 'a', name: 'younger', metadata: { team: 'y'.repeat(200) }, createdAt: T0 + 1 },
  ];
  let observed = observe(two);
  const bytesOf = (client: FliptClient, id: string) =>
    estimateBytes({ id, token: 'x'.repeat(64), metadata: tokenMetadataFor(client), credential: `\${secret:file:${id}}`, credentialKey: id, owner: { key: '', namespace: 'a', createdAt: 0 } }).configMap;
  const [older, younger] = observed.clients as [FliptClient, FliptClient];
  // Room for the two clients' tokens, and for half the older one's next token.
  const limit = bytesOf(older, 'a_older') + bytesOf(younger, 'a_younger') + Math.floor(bytesOf(older, 'a_older_next') / 2);
  const target = exampleTarget({ limits: { bytesPerNamespace: limit } });
  let step = decideTargetStep(target, observed, T0 + 10);
  assert.deepEqual(JSON.parse(step.config!.managedRecord), ['a_older', 'a_younger']);
  assert.deepEqual([...step.state.refused.keys()], []);
  observed = applyStep(observed, step);
  const registered = { ...observed.credentials };

  // The older client's rotation is requested.
  observed = { ...observed, clients: observed.clients.map((c) => (c.metadata.name === 'older' ? { ...c, metadata: { ...c.metadata, annotations: { 'flipt.io/rotate': 'r1' } } } : c)) };
  for (let i = 0; i < 4; i++) {
    step = decideTargetStep(target, observed, T0 + 1_000 * (i + 2));
    assert.deepEqual([...step.state.refused.keys()], [], `step ${i}: no client refused`);
    if (step.config) assert.deepEqual(JSON.parse(step.config.managedRecord), ['a_older', 'a_younger'], `step ${i}: both tokens stay registered`);
    if (step.credentials) for (const [k, v] of Object.entries(registered)) assert.equal(step.credentials[k], v, `step ${i}: ${k} stays in the credentials Secret`);
    assert.equal(step.issue, undefined, `step ${i}: no token issued that the namespace has no room for`);
    observed = applyStep(observed, step);
  }
  assert.match(step.state.rotationsWithoutRoom?.get('a/older') ?? '', new RegExp(`at most ${limit} bytes of Flipt's config per namespace \\(targets\\[\\]\\.limits\\), and the new token beside the current one would take namespace a past that; the client keeps its token`));
  // A new token issued before the room went (the limit lowered since, say): left out, never at a registered token's cost.
  const issuedBefore = { ...observed, credentials: { ...observed.credentials, a_older_next: generateToken() } };
  const raced = decideTargetStep(target, issuedBefore, T0 + 10_000);
  assert.deepEqual([...raced.state.refused.keys()], []);
  assert.deepEqual(JSON.parse(raced.config?.managedRecord ?? JSON.stringify(observed.configMap!.managedIds)), ['a_older', 'a_younger']);
  assert.ok(raced.state.rotationsWithoutRoom?.has('a/older'));

  // Room again (the younger client deleted): the rotation goes on.
  const roomy = decideTargetStep(target, { ...observed, clients: observed.clients.filter((c) => c.metadata.name === 'older') }, T0 + 20_000);
  assert.deepEqual(roomy.issue, ['a_older_next']);
});

test('a full target: a due rotation is not issued, and no registered client loses its place', () => {
  const target = exampleTarget();
  let observed = observe(bigTeam);
  observed = applyStep(observed, decideTargetStep(target, observed, T0 + 1_000));
  const registered = JSON.parse(observed.configMap!.managedRecord!) as string[];
  assert.ok(registered.length > 80 && registered.length < 120);
  // The newest registered client asks for a rotation: a second token would not fit.
  const newest = registered.at(-1)!.replace('team-big_', '');
  observed = { ...observed, clients: observed.clients.map((c) => (c.metadata.name === newest ? { ...c, metadata: { ...c.metadata, annotations: { 'flipt.io/rotate': 'r1' } } } : c)) };
  const step = decideTargetStep(target, observed, T0 + 2_000);
  assert.equal(step.issue, undefined);
  assert.equal(step.config, undefined, 'the config stays as it is');
  assert.ok(!step.state.refused.has(`team-big/${newest}`), 'the rotating client keeps its token');
  assert.match(step.state.rotationsWithoutRoom?.get(`team-big/${newest}`) ?? '', /^target "default" has no room for the new token beside the current one: its config would pass the API server's 1 MiB limit \(ConfigMap \d+% .*\); the client keeps its token/);
});

/** The metadata the config holds for a token id. */
const metadataIn = (step: ReturnType<typeof decideTargetStep>, observed: ObservedTarget, id: string) =>
  (parse(step.config?.text ?? observed.configMap!.text!).authentication.methods.token.storage.tokens as Record<string, { metadata: Record<string, string> }>)[id]?.metadata;

test("metadata that grows past a full target never costs another client its place: the client keeps its token, registered with its previous metadata, and says why", () => {
  const target = exampleTarget();
  const grower = { namespace: 'team-a', name: 'grower', metadata: { team: 'a' }, createdAt: T0 - 1_000 };
  let observed = observe([grower, ...bigTeam]);
  observed = applyStep(observed, decideTargetStep(target, observed, T0 + 1_000));
  const registered = JSON.parse(observed.configMap!.managedRecord!) as string[];
  assert.ok(registered.includes('team-a_grower'));

  // Its team gives the oldest client as much metadata as the large ones: it no longer fits a full target.
  observed = { ...observed, clients: observed.clients.map((c) => (c.metadata.name === 'grower' ? { ...c, spec: { ...c.spec, metadata: BIG } } : c)) };
  const step = decideTargetStep(target, observed, T0 + 2_000);
  assert.deepEqual([...step.state.refused.keys()].filter((k) => registered.includes(k.replace('/', '_'))), [], 'no registered client is refused');
  if (step.config) assert.deepEqual(JSON.parse(step.config.managedRecord), registered, 'every token stays registered');
  assert.equal(metadataIn(step, observed, 'team-a_grower')?.team, 'a', 'the previous metadata stays');
  assert.match(
    step.state.metadataWithoutRoom?.get('team-a/grower') ?? '',
    /^target "default" has no room for the new metadata: its config would pass the API server's 1 MiB limit \(ConfigMap \d+% .*\); the token stays registered with its previous metadata\. Use less metadata, or register clients with another target$/,
  );

  // Metadata that fits is applied as before.
  const fitting = { ...observed, clients: observed.clients.map((c) => (c.metadata.name === 'grower' ? { ...c, spec: { ...c.spec, metadata: { team: 'b' } } } : c)) };
  const applied = decideTargetStep(target, fitting, T0 + 3_000);
  assert.equal(metadataIn(applied, fitting, 'team-a_grower')?.team, 'b');
  assert.equal(applied.state.metadataWithoutRoom, undefined);
});

test("metadata that grows past a namespace's byte limit keeps the namespace's other clients registered", () => {
  const two = [
    { namespace: 'a', name: 'older', metadata: { team: 'x' }, createdAt: T0 },
    { namespace: 'a', name: 'younger', metadata: { team: 'y'.repeat(200) }, createdAt: T0 + 1 },
  ];
  let observed = observe(two);
  const target = exampleTarget({ limits: { bytesPerNamespace: 1_000 } });
  observed = applyStep(observed, decideTargetStep(target, observed, T0 + 10));
  assert.deepEqual(observed.configMap!.managedIds, ['a_older', 'a_younger']);

  observed = { ...observed, clients: observed.clients.map((c) => (c.metadata.name === 'older' ? { ...c, spec: { ...c.spec, metadata: { team: 'x'.repeat(250), more: 'x'.repeat(250) } } } : c)) };
  const step = decideTargetStep(target, observed, T0 + 20);
  assert.deepEqual([...step.state.refused.keys()], []);
  if (step.config) assert.deepEqual(JSON.parse(step.config.managedRecord), ['a_older', 'a_younger']);
  assert.equal(metadataIn(step, observed, 'a_older')?.team, 'x');
  assert.match(
    step.state.metadataWithoutRoom?.get('a/older') ?? '',
    /^target "default" registers at most 1000 bytes of Flipt's config per namespace \(targets\[\]\.limits\), and the new metadata would take namespace a past that; the token stays registered with its previous metadata\. Use less metadata, delete a FliptClient there, or ask the platform team for a higher limit$/,
  );
  // The younger one deleted: room for the new metadata.
  const roomy = decideTargetStep(target, { ...observed, clients: observed.clients.filter((c) => c.metadata.name === 'older') }, T0 + 30);
  assert.equal(metadataIn(roomy, observed, 'a_older')?.team, 'x'.repeat(250));
  assert.equal(roomy.state.metadataWithoutRoom, undefined);
});

test('each limit counts on its own, and the fill ratio is the fullest of them', () => {
  assert.equal(fits({ configMap: 0, annotations: 0, secret: DATA_LIMIT_BYTES + 1 }), false, 'the credentials Secret');
  assert.equal(fits({ configMap: DATA_LIMIT_BYTES + 1, annotations: 0, secret: 0 }), false, 'the ConfigMap');
  assert.deepEqual(fillRatio({ configMap: DATA_LIMIT_BYTES / 4, annotations: ANNOTATIONS_LIMIT_BYTES / 2, secret: DATA_LIMIT_BYTES / 8 }), { configMap: 0.5, secret: 0.125 }, 'the record of managed ids fills the ConfigMap first');
  assert.deepEqual(fillRatio({ configMap: DATA_LIMIT_BYTES / 2, annotations: ANNOTATIONS_LIMIT_BYTES / 4, secret: 0 }), { configMap: 0.5, secret: 0 });
});

test('priority: registered tokens, then the rotation of a registered client, then new clients, each oldest first, ties by name whatever the input order', () => {
  const target = exampleTarget();
  const young = entryOf('a', 'young', 50);
  const desired = [entryOf('a', 'old-new', 1), entryOf('b', 'same', 10), entryOf('a', 'same', 10), young, entryOf('a', 'young', 50, {}, 'a_young_next')];
  const order = (entries: ClientCredential[]) => byPriority(target, entries, new Set([young.id])).candidates.map((c) => `${c.part}:${c.owner}`);
  const expected = ['held:a/young', 'rotation:a/young', 'new:a/old-new', 'new:a/same', 'new:b/same'];
  assert.deepEqual(order(desired), expected);
  assert.deepEqual(order([...desired].reverse()), expected);
});

test('a registered client refused by a lowered per-namespace limit gets no rotation either', () => {
  const target = exampleTarget({ limits: { clientsPerNamespace: 1 } });
  const [older, younger] = [entryOf('a', 'older', 1), entryOf('a', 'younger', 2)];
  const { candidates, refused } = byPriority(target, [older, younger, entryOf('a', 'younger', 2, {}, 'a_younger_next')], new Set([older.id, younger.id]));
  assert.deepEqual([...refused.keys()], ['a/younger']);
  assert.deepEqual(entriesOf(candidates).map((e) => e.id), ['a_older']);
});

test('new metadata of a registered client is charged by the bytes it adds, and when admitted it replaces what the config holds', () => {
  const target = exampleTarget();
  const registered = { team: 'a' };
  const grown = { team: 'a', more: 'x'.repeat(100) };
  const desired = [entryOf('a', 'grower', 1, grown)];
  const previous = new Map([['a_grower', entryOf('a', 'grower', 1, registered).metadata]]);
  const held = estimateBytes(entryOf('a', 'grower', 1, registered));
  const added = estimateBytes(desired[0]!).configMap - held.configMap;
  const admit = (room: number) => {
    const { candidates, ...admission } = byPriority(target, desired, new Set(['a_grower']), previous);
    const overhead = { configMap: DATA_LIMIT_BYTES - held.configMap - room, annotations: 0, secret: 0 };
    return { entries: admitWithin(target, candidates, overhead, admission), admission };
  };
  const roomForIt = admit(added);
  assert.deepEqual(roomForIt.entries.map((e) => e.metadata), [desired[0]!.metadata], 'room for exactly the bytes it adds: the new metadata');
  assert.equal(roomForIt.admission.metadataWithoutRoom.size, 0);
  const noRoom = admit(added - 1);
  assert.deepEqual(noRoom.entries.map((e) => e.metadata), [entryOf('a', 'grower', 1, registered).metadata], 'one byte less: the previous metadata');
  assert.ok(noRoom.admission.metadataWithoutRoom.has('a/grower'));
});

test('a registered client that no longer fits is refused whole: none of its new metadata is registered', () => {
  const target = exampleTarget();
  const desired = [entryOf('a', 'grower', 1, { team: 'a', more: 'x'.repeat(100) })];
  const previous = new Map([['a_grower', entryOf('a', 'grower', 1, { team: 'a' }).metadata]]);
  const { candidates, ...admission } = byPriority(target, desired, new Set(['a_grower']), previous);
  // Room for the bytes the metadata adds, not for the token it adds them to (the config grew by hand, say).
  const entries = admitWithin(target, candidates, { configMap: DATA_LIMIT_BYTES - 200, annotations: 0, secret: 0 }, admission);
  assert.deepEqual(entries, []);
  assert.equal(admission.refused.get('a/grower')?.reason, 'TargetFull');
});

test("what the ConfigMap holds besides the config counts: its other data, its other annotations, the record of the jwt method", () => {
  const target = exampleTarget();
  const specs = [{ namespace: 'a', name: 'one', createdAt: T0 }];
  const crowded = (over: { otherDataBytes?: number; otherAnnotationBytes?: number }) => {
    const observed = observe(specs);
    return decideTargetStep(target, { ...observed, configMap: { ...observed.configMap!, ...over } }, T0);
  };
  assert.equal(crowded({}).state.refused.size, 0);
  assert.equal(crowded({ otherDataBytes: DATA_LIMIT_BYTES - 100 }).state.refused.get('a/one')?.reason, 'TargetFull', 'other data');
  assert.equal(crowded({ otherAnnotationBytes: ANNOTATIONS_LIMIT_BYTES - 10 }).state.refused.get('a/one')?.reason, 'TargetFull', 'other annotations');

  // A JWT target: the record of the jwt method is an annotation too.
  const jwtClient: FliptClient = { apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { name: 'j', namespace: 'a', creationTimestamp: new Date(T0) }, spec: { target: 'default' }, status: { credentialFingerprint: 'f'.repeat(16), credentialKind: 'jwt' } };
  const observed = observe([]);
  const half = ANNOTATIONS_LIMIT_BYTES / 2;
  const jwt = decideTargetStep(exampleTarget({ credentialKind: 'jwt' }), { ...observed, clients: [jwtClient], configMap: { ...observed.configMap!, otherAnnotationBytes: half } }, T0);
  const record = jwt.config!.jwtRecord!;
  assert.ok(jwt.state.fill!.configMap * ANNOTATIONS_LIMIT_BYTES >= half + MANAGED_JWT_METHOD_ANNOTATION.length + Buffer.byteLength(record), `fill ${jwt.state.fill!.configMap}`);
});

test("the credentials Secret's other keys count once: registered clients keep their place beside them, a new one that does not fit is refused", () => {
  const target = exampleTarget();
  const registered = Array.from({ length: 10 }, (_, i) => ({ namespace: 'a', name: `c${i}`, createdAt: T0 + i }));
  let observed = observe(registered);
  observed = applyStep(observed, decideTargetStep(target, observed, T0));
  const held = dataBytes(observed.credentials);
  // A key nobody refers to (left by hand, say) fills the Secret up to one byte short of room for one more client.
  const filler = 'filler';
  const newcomer = { namespace: 'a', name: 'late', createdAt: T0 + 100 };
  const oneMore = Buffer.byteLength('a_late') + 64;
  const credentials = { ...observed.credentials, [filler]: 'x'.repeat(DATA_LIMIT_BYTES - held - Buffer.byteLength(filler) - oneMore + 1) };
  const late = observe([newcomer]);
  const step = decideTargetStep(target, { ...observed, credentials, clients: [...observed.clients, ...late.clients], clientSecretToken: (c) => observed.clientSecretToken(c) ?? late.clientSecretToken(c) }, T0 + 200);
  assert.deepEqual([...step.state.refused.keys()], ['a/late']);
  assert.equal(step.state.refused.get('a/late')?.reason, 'TargetFull');
  assert.deepEqual([...step.state.registered.keys()].sort(), registered.map((c) => `a_${c.name}`).sort(), 'every registered client keeps its place');
});
