// One team must never stall the others. The reproduction from the field: one namespace applies 120
// FliptClients with large metadata (32 keys of 256 characters, within the CRD's limits) and fills the
// target; a small FliptClient from another namespace is still registered and Ready, exactly the
// large ones that do not fit are refused (TargetFull, a Warning Event), and every token that was
// registered stays registered. Also: a per-namespace limit refuses only that namespace's extra
// clients, a rotation or new metadata waits for room rather than cost another client its place, and
// a write the API server refuses (the target's, a client Secret, a finalizer, a status) is never silent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mergePatch } from '../../src/kube/client.ts';
import { estimateBytes } from '../../src/fliptinstance/capacity.ts';
import { tokenIdFor } from '../../src/vocabulary/credentials.ts';
import { tokenMetadataFor, type FliptClient } from '../../src/vocabulary/fliptclient.ts';
import { FLIPTCLIENT_UPDATES, SECRET_CREATES, STATUS_WRITES, refuseInNamespace, refusingNamespace } from '../support/admission-policy.ts';
import { waitFor } from '../support/cluster.ts';
import { SAMPLE_FLIPT_CONFIG } from '../support/flipt-target.ts';
import { condition, createFliptClient, deleteFliptClient, getFliptClient, listFliptClients } from '../support/fliptclients.ts';
import { Scenario } from '../support/scenario.ts';

const BIG = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`key-${i}`, 'v'.repeat(256)]));
const LARGE = 120;
let scenario: Scenario;

before(async () => {
  scenario = await Scenario.start({ minInterval: '1s' });
  await scenario.createAppNamespace('team-big');
  await scenario.createAppNamespace('team-small');
});

after(() => scenario?.stop());

/** What one token entry of a client adds to Flipt's config, as capacity estimates it. */
function entryBytes(namespace: string, name: string, id: string, metadata: Record<string, string>): number {
  const client = { apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { namespace, name }, spec: { target: 'default', metadata } } as FliptClient;
  return estimateBytes({ id, token: 'x'.repeat(64), metadata: tokenMetadataFor(client), credential: `\${secret:file:${id}}`, credentialKey: id, owner: { key: '', namespace, createdAt: 0 } }).configMap;
}

const settled = (clients: FliptClient[]) => clients.every((c) => ['True', 'False'].includes(condition(c, 'Ready')?.status ?? '') && !['RegistrationPending', 'RolloutInProgress', 'UpdatePending'].includes(condition(c, 'Ready')?.reason ?? ''));

test('a full target refuses exactly what does not fit, and still registers another team\'s small client', async () => {
  for (let i = 0; i < LARGE; i += 20) {
    await Promise.all(Array.from({ length: 20 }, (_, j) => createFliptClient(scenario.cluster.clients, 'team-big', `big-${i + j}`, { metadata: BIG })));
  }
  await createFliptClient(scenario.cluster.clients, 'team-small', 'tiny', {});
  await waitFor(async () => settled([...(await listFliptClients(scenario.cluster.clients, 'team-big')), ...(await listFliptClients(scenario.cluster.clients, 'team-small'))]), 'every client settled', 120_000, 500);

  const [tiny] = await listFliptClients(scenario.cluster.clients, 'team-small');
  assert.equal(condition(tiny!, 'Ready')?.status, 'True', 'the small client of another namespace is Ready');
  const big = await listFliptClients(scenario.cluster.clients, 'team-big');
  const registered = big.filter((c) => condition(c, 'Ready')?.status === 'True');
  const refused = big.filter((c) => condition(c, 'Ready')?.reason === 'TargetFull');
  assert.equal(registered.length + refused.length, LARGE, 'every large client is either Ready or refused as TargetFull');
  assert.ok(refused.length > 0 && registered.length > 60, `${registered.length} registered, ${refused.length} refused`);
  process.stdout.write(`# one target holds ${registered.length} FliptClients with 32 metadata values of 256 characters (plus a small one); ${refused.length} refused\n`);
  assert.match(condition(refused[0]!, 'Ready')!.message, /Target "default" is full.*1 MiB.*another target, use less metadata, or use JWT mode/);

  const tokens = await scenario.managedTokens();
  const credentials = await scenario.credentials();
  for (const c of registered) assert.ok(tokens[tokenIdFor('team-big', c.metadata.name)] && credentials[tokenIdFor('team-big', c.metadata.name)], `${c.metadata.name} registered`);
  for (const c of refused) assert.equal(tokens[tokenIdFor('team-big', c.metadata.name)], undefined, `${c.metadata.name} not in the config`);
  assert.ok(Buffer.byteLength(await scenario.fliptConfig()) <= 1024 * 1024);
  // Registered tokens were never dropped on the way: every config version after one held it holds it still.
  const firstWith = new Map<string, number>();
  for (const [i, cm] of scenario.configMaps.versions.entries()) {
    for (const c of registered) {
      const id = tokenIdFor('team-big', c.metadata.name);
      if (cm.data?.['default.yml']?.includes(`${id}:`)) firstWith.set(id, Math.min(firstWith.get(id) ?? i, i));
      else if (firstWith.has(id)) assert.fail(`${id} was registered, then dropped in config version ${i}`);
    }
  }
  const events = await scenario.cluster.clients.events.listNamespacedEvent({ namespace: 'team-big' });
  assert.ok(events.items.some((e) => e.reason === 'TargetFull' && e.type === 'Warning'));
  assert.ok((await scenario.metric('flipt_operator_target_fill_ratio', { target: 'default', object: 'configmap' })) > 0.9);
  assert.equal(await scenario.metric('flipt_operator_target_blocked', { target: 'default', reason: 'TargetFull' }), 1);
});

test('a target write that fails is never silent: a condition with the API server\'s reason, a Warning Event, an error log, and a retry', async () => {
  // Someone made Flipt's ConfigMap immutable: every update is refused.
  const { core } = scenario.cluster.clients;
  const cm = await core.readNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace });
  await core.deleteNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace });
  await core.createNamespacedConfigMap({ namespace: scenario.namespace, body: { metadata: { name: 'flipt', annotations: cm.metadata?.annotations }, data: cm.data, immutable: true } });
  await createFliptClient(scenario.cluster.clients, 'team-small', 'late', {});
  await waitFor(async () => condition((await listFliptClients(scenario.cluster.clients, 'team-small')).find((c) => c.metadata.name === 'late')!, 'Ready')?.reason === 'TargetWriteFailed', 'TargetWriteFailed', 30_000);
  const late = (await listFliptClients(scenario.cluster.clients, 'team-small')).find((c) => c.metadata.name === 'late')!;
  assert.match(condition(late, 'Ready')!.message, /API 422.*immutable.*retries with backoff/i);
  assert.equal(condition((await listFliptClients(scenario.cluster.clients, 'team-small')).find((c) => c.metadata.name === 'tiny')!, 'Ready')?.status, 'True', 'registered clients are unaffected');
  await waitFor(async () => (await scenario.cluster.clients.events.listNamespacedEvent({ namespace: 'team-small' })).items.some((e) => e.reason === 'TargetWriteFailed' && e.type === 'Warning'), 'a Warning Event', 10_000);
  assert.ok(scenario.operator.output().split('\n').some((l) => l.includes('"level":"error"') && l.includes('writing the target failed')), 'an error log line');
  assert.equal(await scenario.metric('flipt_operator_target_blocked', { target: 'default', reason: 'WriteFailed' }), 1);
  // Fixed (the ConfigMap mutable again, as it was): the retry gets through.
  await core.deleteNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace });
  await core.createNamespacedConfigMap({ namespace: scenario.namespace, body: { metadata: { name: 'flipt', annotations: cm.metadata?.annotations }, data: cm.data } });
  await waitFor(async () => condition((await listFliptClients(scenario.cluster.clients, 'team-small')).find((c) => c.metadata.name === 'late')!, 'Ready')?.status === 'True', 'Ready after the fix', 60_000);
});

const readyIn = async (namespace: string, name: string) => condition(await getFliptClient(scenario.cluster.clients, namespace, name), 'Ready');

test("a client stuck before its first status does not hold the target: another team's client is Ready within the burst's progress window", async () => {
  // Neither its Secret nor its status can be written there: the client stays in flight, never issued.
  const { namespace, lift } = await refusingNamespace(scenario, 'stuck', [SECRET_CREATES, STATUS_WRITES], 'not in this namespace');
  try {
    await createFliptClient(scenario.cluster.clients, namespace, 'stuck', {});
    await waitFor(async () => scenario.operator.output().includes('not in this namespace'), 'the operator to fail on the stuck client', 20_000);
    await createFliptClient(scenario.cluster.clients, 'team-small', 'beside-stuck', {});
    const started = Date.now();
    // The hold waits while issuing makes progress, for at most progressWindowMs (5 s here) without any.
    await waitFor(async () => (await readyIn('team-small', 'beside-stuck'))?.status === 'True', 'beside-stuck Ready although stuck is never issued', 30_000, 250);
    const [stuck] = await listFliptClients(scenario.cluster.clients, namespace);
    assert.equal(stuck!.status, undefined, `stuck still has no status, ${Date.now() - started} ms later`);
  } finally {
    await lift();
  }
});

test('a client Secret the API server refuses to create is never silent: the condition names the reason, a Warning Event, a retry that succeeds once the cause is gone', async () => {
  const { namespace, lift } = await refusingNamespace(scenario, 'refused', [SECRET_CREATES], 'no Secrets in this namespace');
  let lifted = false;
  try {
    await createFliptClient(scenario.cluster.clients, namespace, 'refused', {});
    await waitFor(async () => (await readyIn(namespace, 'refused'))?.reason === 'SecretWriteFailed', 'Ready reason SecretWriteFailed', 20_000, 250);
    const [client] = await listFliptClients(scenario.cluster.clients, namespace);
    assert.equal(condition(client!, 'CredentialIssued')?.reason, 'SecretWriteFailed');
    assert.match(condition(client!, 'Ready')!.message, new RegExp(`^Writing Secret ${namespace}/refused-flipt failed \\(.*no Secrets in this namespace.*\\); the operator retries with backoff$`));
    await waitFor(async () => (await scenario.cluster.clients.events.listNamespacedEvent({ namespace })).items.some((e) => e.reason === 'SecretWriteFailed' && e.type === 'Warning'), 'a Warning Event', 10_000);
    await lift();
    lifted = true;
    await waitFor(async () => (await readyIn(namespace, 'refused'))?.status === 'True', 'Ready once Secrets may be created', 60_000, 250);
  } finally {
    if (!lifted) await lift();
  }
});

test('a status the API server refuses is never silent: one Warning Event however often the retry is refused, and the client goes on once the cause is gone', async () => {
  const message = 'no FliptClient status here';
  const { namespace, lift } = await refusingNamespace(scenario, 'no-status', [STATUS_WRITES], message);
  let lifted = false;
  try {
    await createFliptClient(scenario.cluster.clients, namespace, 'mute', {});
    const refusals = () => scenario.operator.output().split('\n').filter((line) => line.includes(message) && line.includes(`${namespace}/mute`)).length;
    const events = async () => (await scenario.cluster.clients.events.listNamespacedEvent({ namespace })).items.filter((e) => e.reason === 'StatusWriteFailed');
    await waitFor(async () => (await events()).length > 0, 'a StatusWriteFailed Event', 20_000, 250);
    const [event] = await events();
    assert.equal(event!.type, 'Warning');
    assert.match(event!.note ?? '', new RegExp(`^Writing the status of FliptClient ${namespace}/mute failed \\(.*${message}.*\\): its conditions are older than the operator's view\\. The operator retries with backoff$`));
    // The retries are refused too (each logged), and announced no more.
    await waitFor(async () => refusals() >= 3, 'three refused retries in the log', 30_000, 250);
    assert.equal((await events()).length, 1, 'one Event for the same refusal');
    await lift();
    lifted = true;
    await waitFor(async () => (await readyIn(namespace, 'mute'))?.status === 'True', 'Ready once its status may be written', 60_000, 250);
  } finally {
    if (!lifted) await lift();
  }
});

test('a finalizer the API server refuses to add, then to remove, is never silent: the condition says which and why, a Warning Event; the client goes on once the cause is gone', async () => {
  const message = 'no FliptClient updates here';
  const { namespace, lift } = await refusingNamespace(scenario, 'no-finalizer', [FLIPTCLIENT_UPDATES], message);
  let liftNow: (() => Promise<void>) | undefined = lift;
  const id = tokenIdFor(namespace, 'held');
  try {
    await createFliptClient(scenario.cluster.clients, namespace, 'held', {});
    await waitFor(async () => (await readyIn(namespace, 'held'))?.reason === 'FinalizerWriteFailed', 'Ready reason FinalizerWriteFailed', 20_000, 250);
    let client = await getFliptClient(scenario.cluster.clients, namespace, 'held');
    assert.equal(condition(client, 'CredentialIssued')?.reason, 'FinalizerWriteFailed');
    assert.match(condition(client, 'Ready')!.message, new RegExp(`^Adding the finalizer of FliptClient ${namespace}/held failed \\(.*${message}.*\\); its token is registered only once the finalizer holds\\. The operator retries with backoff$`));
    await waitFor(async () => (await scenario.cluster.clients.events.listNamespacedEvent({ namespace })).items.some((e) => e.reason === 'FinalizerWriteFailed' && e.type === 'Warning'), 'a Warning Event', 10_000);
    await scenario.configMaps.caughtUp();
    assert.ok(!scenario.configMaps.versions.some((cm) => (cm.data?.['default.yml'] ?? '').includes(id)), 'no token registered without the finalizer, at any time');
    await liftNow();
    liftNow = undefined;
    await waitFor(async () => (await readyIn(namespace, 'held'))?.status === 'True', 'Ready once the finalizer may be added', 60_000, 250);

    liftNow = await refuseInNamespace(scenario.cluster, namespace, [FLIPTCLIENT_UPDATES], message);
    await deleteFliptClient(scenario.cluster.clients, namespace, 'held');
    await waitFor(async () => (await readyIn(namespace, 'held'))?.reason === 'FinalizerWriteFailed', 'Ready reason FinalizerWriteFailed on the deleted client', 30_000, 250);
    client = await getFliptClient(scenario.cluster.clients, namespace, 'held');
    assert.match(condition(client, 'Ready')!.message, new RegExp(`^Removing the finalizer of FliptClient ${namespace}/held failed \\(.*${message}.*\\); the FliptClient is deleted once the finalizer is off\\. The operator retries with backoff$`));
    assert.equal((await scenario.managedTokens())[id], undefined, 'the token is revoked while the finalizer stays');
    await liftNow();
    liftNow = undefined;
    await waitFor(async () => (await listFliptClients(scenario.cluster.clients, namespace)).length === 0, 'the FliptClient gone once the finalizer may be removed', 60_000, 250);
  } finally {
    await liftNow?.();
  }
});

test('a per-namespace limit refuses only that namespace\'s extra clients', async () => {
  await scenario.stop();
  const limited = await Scenario.start({ minInterval: '1s', fliptConfig: SAMPLE_FLIPT_CONFIG, limits: { clientsPerNamespace: 2 } });
  try {
    const a = await limited.createAppNamespace(`limit-a-${Date.now().toString(36)}`);
    const b = await limited.createAppNamespace(`limit-b-${Date.now().toString(36)}`);
    // Admission goes by creation time (to the second; then by name): the team adds a third one later.
    for (const name of ['one', 'two']) await createFliptClient(limited.cluster.clients, a, name, {});
    await waitFor(async () => (await listFliptClients(limited.cluster.clients, a)).every((c) => condition(c, 'Ready')?.status === 'True'), 'the first two Ready', 60_000);
    await createFliptClient(limited.cluster.clients, a, 'three', {});
    await createFliptClient(limited.cluster.clients, b, 'one', {});
    await waitFor(async () => settled([...(await listFliptClients(limited.cluster.clients, a)), ...(await listFliptClients(limited.cluster.clients, b))]), 'settled', 60_000);
    const reasons = Object.fromEntries((await listFliptClients(limited.cluster.clients, a)).map((c) => [c.metadata.name, condition(c, 'Ready')?.reason]));
    assert.deepEqual(reasons, { one: 'Ready', two: 'Ready', three: 'NamespaceLimitReached' });
    assert.equal(condition((await listFliptClients(limited.cluster.clients, b))[0]!, 'Ready')?.status, 'True', 'another namespace is unaffected');
    assert.match(condition((await listFliptClients(limited.cluster.clients, a)).find((c) => c.metadata.name === 'three')!, 'Ready')!.message, /at most 2 FliptClients per namespace/);
  } finally {
    await limited.stop();
  }
});

test('a rotation the namespace has no room for waits, saying why, and costs no other client its place; it goes on once there is room', async () => {
  const app = `rot-room-${Date.now().toString(36)}`;
  const specOf = (name: string) => ({ metadata: { team: name[0]!.repeat(200) } });
  const bytesOf = (name: string, id: string) => entryBytes(app, name, id, specOf(name).metadata);
  const older = tokenIdFor(app, 'older');
  // Room for both clients' tokens, not for a second one of the older's.
  const limit = bytesOf('older', older) + bytesOf('younger', tokenIdFor(app, 'younger')) + Math.floor(bytesOf('older', `${older}_next`) / 2);
  const limited = await Scenario.start({ minInterval: '1s', fliptConfig: SAMPLE_FLIPT_CONFIG, limits: { bytesPerNamespace: limit } });
  try {
    const { clients } = limited.cluster;
    await limited.createAppNamespace(app);
    await createFliptClient(clients, app, 'older', specOf('older'));
    await createFliptClient(clients, app, 'younger', specOf('younger'));
    await waitFor(async () => (await listFliptClients(clients, app)).every((c) => condition(c, 'Ready')?.status === 'True'), 'both Ready', 60_000);
    const before = (await getFliptClient(clients, app, 'older')).status!.credentialFingerprint;
    const writes = limited.configWrites();
    await clients.custom.patchNamespacedCustomObject({ group: 'flipt.io', version: 'v1alpha1', plural: 'fliptclients', namespace: app, name: 'older', body: { metadata: { annotations: { 'flipt.io/rotate': 'r1' } } } }, mergePatch);
    await waitFor(async () => condition(await getFliptClient(clients, app, 'older'), 'Rotating')?.reason === 'RotationBlocked', 'Rotating RotationBlocked', 30_000);
    const blocked = condition(await getFliptClient(clients, app, 'older'), 'Rotating')!;
    assert.equal(
      blocked.message,
      `A rotation is requested (flipt.io/rotate="r1"), but target "default" registers at most ${limit} bytes of Flipt's config per namespace (targets[].limits), and the new token beside the current one would take namespace ${app} past that; the client keeps its token. Delete a FliptClient there, use less metadata, or ask the platform team for a higher limit`,
    );
    await limited.quietPeriod();
    for (const name of ['older', 'younger']) assert.equal(condition(await getFliptClient(clients, app, name), 'Ready')?.status, 'True', `${name} stays Ready`);
    const ids = Object.keys(await limited.managedTokens()).filter((id) => id.startsWith(app));
    assert.deepEqual(ids.sort(), [older, tokenIdFor(app, 'younger')].sort(), 'both tokens stay registered, and no second one');
    assert.equal(limited.configWrites(), writes, "Flipt's config is left as it is");
    assert.equal(Object.keys(await limited.credentials()).length, 2, 'no token issued that has no room');
    const events = (await clients.events.listNamespacedEvent({ namespace: app })).items;
    assert.ok(events.some((e) => e.reason === 'RotationFailed' && e.type === 'Warning' && e.regarding?.name === 'older'), 'a Warning Event');

    await deleteFliptClient(clients, app, 'younger');
    await waitFor(async () => (await getFliptClient(clients, app, 'older')).status?.credentialFingerprint !== before, 'the rotation once there is room', 60_000);
    assert.equal((await getFliptClient(clients, app, 'older')).status?.lastRotateRequest, 'r1');
  } finally {
    await limited.stop();
  }
});

test("new metadata the namespace has no room for waits, saying why, and costs no other client its place; it is applied once there is room", async () => {
  const app = `meta-room-${Date.now().toString(36)}`;
  const grown = { team: 'o'.repeat(250), owner: 'o'.repeat(250) };
  const bytesOf = (name: string, metadata: Record<string, string>) => entryBytes(app, name, tokenIdFor(app, name), metadata);
  // Room for both clients as they are created, not for the older one's grown metadata beside the younger one.
  const younger = { a: 'y'.repeat(250), b: 'y'.repeat(250), c: 'y'.repeat(250) };
  const limit = bytesOf('older', { team: 'o' }) + bytesOf('younger', younger) + 100;
  await scenario.stop();
  const limited = await Scenario.start({ minInterval: '1s', fliptConfig: SAMPLE_FLIPT_CONFIG, limits: { bytesPerNamespace: limit } });
  try {
    const { clients } = limited.cluster;
    await limited.createAppNamespace(app);
    await createFliptClient(clients, app, 'older', { metadata: { team: 'o' } });
    await createFliptClient(clients, app, 'younger', { metadata: younger });
    await waitFor(async () => (await listFliptClients(clients, app)).every((c) => condition(c, 'Ready')?.status === 'True'), 'both Ready', 60_000);
    const writes = limited.configWrites();
    await clients.custom.patchNamespacedCustomObject({ group: 'flipt.io', version: 'v1alpha1', plural: 'fliptclients', namespace: app, name: 'older', body: { spec: { metadata: grown } } }, mergePatch);
    await waitFor(async () => condition(await getFliptClient(clients, app, 'older'), 'ConfigApplied')?.reason === 'MetadataNotApplied', 'ConfigApplied MetadataNotApplied', 30_000);
    assert.equal(
      condition(await getFliptClient(clients, app, 'older'), 'ConfigApplied')!.message,
      `Registered with target "default" as token ${tokenIdFor(app, 'older')}, but target "default" registers at most ${limit} bytes of Flipt's config per namespace (targets[].limits), and the new metadata would take namespace ${app} past that; the token stays registered with its previous metadata. Use less metadata, delete a FliptClient there, or ask the platform team for a higher limit`,
    );
    await limited.quietPeriod();
    for (const name of ['older', 'younger']) assert.equal(condition(await getFliptClient(clients, app, name), 'Ready')?.status, 'True', `${name} stays Ready`);
    const tokens = await limited.managedTokens();
    assert.deepEqual(Object.keys(tokens).filter((id) => id.startsWith(app)).sort(), [tokenIdFor(app, 'older'), tokenIdFor(app, 'younger')].sort(), 'both tokens stay registered');
    assert.equal(tokens[tokenIdFor(app, 'older')]!.metadata.team, 'o', 'with the previous metadata');
    assert.equal(limited.configWrites(), writes, "Flipt's config is left as it is");
    const events = (await clients.events.listNamespacedEvent({ namespace: app })).items;
    assert.ok(events.some((e) => e.reason === 'MetadataNotApplied' && e.type === 'Warning' && e.regarding?.name === 'older'), 'a Warning Event');
    assert.ok(!events.some((e) => e.reason === 'NamespaceLimitReached'), 'no client refused');

    await deleteFliptClient(clients, app, 'younger');
    await waitFor(async () => (await limited.managedTokens())[tokenIdFor(app, 'older')]?.metadata.team === grown.team, 'the new metadata once there is room', 60_000);
    await waitFor(async () => condition(await getFliptClient(clients, app, 'older'), 'ConfigApplied')?.reason === 'Registered', 'ConfigApplied Registered', 30_000);
  } finally {
    await limited.stop();
  }
});
