// Defence in depth for metadata Flipt would interpret: a FliptClient stored before the CRD refused
// "${" (old CRD installed, client created, CRD upgraded) and issued by an older operator is refused by
// the operator itself; its token and the value that older operator rendered into Flipt's config are
// removed at the next apply and never written again (every ConfigMap version is checked from the API
// server's watch).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { desiredClientSecret } from '../../src/fliptclient/decisions.ts';
import { envVarFor, fingerprint, generateToken, tokenIdFor } from '../../src/vocabulary/credentials.ts';
import { mergePatch } from '../../src/kube/client.ts';
import { crdPath, installCrd, testCluster, waitFor } from '../support/cluster.ts';
import { SAMPLE_FLIPT_CONFIG } from '../support/flipt-target.ts';
import { condition, createFliptClient, getFliptClient } from '../support/fliptclients.ts';
import { Scenario } from '../support/scenario.ts';

const APP = `unsafe-${Date.now().toString(36)}`;
const STOLEN = envVarFor(tokenIdFor('other-team', 'their-client'));
const REFERENCE = `\${env:${STOLEN}}`;
const EVIL_ID = tokenIdFor(APP, 'evil');
const EVIL_TOKEN = generateToken();
let scenario: Scenario;

/** The CRD as it was before it refused references and control characters in metadata values. */
function crdWithoutValueRules(): string {
  const doc = parseDocument(readFileSync(crdPath, 'utf8'));
  const path = ['spec', 'versions', 0, 'schema', 'openAPIV3Schema', 'properties', 'spec', 'properties', 'metadata', 'x-kubernetes-validations'];
  const rules = doc.getIn(path) as { items: Array<{ get(key: string): unknown }> };
  const before = rules.items.length;
  rules.items = rules.items.filter((rule) => !String(rule.get('rule')).includes('${') && !String(rule.get('rule')).includes('x1f'));
  assert.equal(rules.items.length, before - 2, 'the two value rules were found and removed');
  return doc.toString();
}

before(async () => {
  const cluster = await testCluster();
  await installCrd(cluster.kubeConfig, crdWithoutValueRules());
  await cluster.clients.core.createNamespace({ body: { metadata: { name: APP } } });
  // The old CRD's rules may take a moment to replace the new ones in the API server.
  await waitFor(async () => {
    await createFliptClient(cluster.clients, APP, 'evil', { metadata: { note: REFERENCE } });
    return true;
  }, 'the old CRD to accept the value', 30_000, 250);
  await createFliptClient(cluster.clients, APP, 'good', { metadata: { note: 'plain text' } });
  // An older operator had issued its token: Secret, finalizer and status as that operator left them.
  const evil = await getFliptClient(cluster.clients, APP, 'evil');
  await cluster.clients.core.createNamespacedSecret({
    namespace: APP,
    body: desiredClientSecret(evil, 'evil-flipt', EVIL_TOKEN, { url: undefined } as never),
  });
  const ref = { group: 'flipt.io', version: 'v1alpha1', plural: 'fliptclients', namespace: APP, name: 'evil' };
  await cluster.clients.custom.patchNamespacedCustomObject({ ...ref, body: { metadata: { finalizers: ['flipt.io/revoke-token'] } } }, mergePatch);
  const issued = { type: 'CredentialIssued', status: 'True', reason: 'Issued', message: 'issued', lastTransitionTime: new Date().toISOString() };
  await cluster.clients.custom.patchNamespacedCustomObjectStatus(
    { ...ref, body: { status: { credentialFingerprint: fingerprint(EVIL_TOKEN), tokenId: EVIL_ID, secretName: 'evil-flipt', conditions: [issued] } } },
    mergePatch,
  );
  // What an older operator rendered for that client: the value sits in Flipt's config.
  const older = SAMPLE_FLIPT_CONFIG.replace(
    '          # hand-written token',
    `          ${EVIL_ID}:\n            credential: "\${secret:file:${EVIL_ID}}"\n            metadata:\n              note: "${REFERENCE}"\n          # hand-written token`,
  );
  assert.ok(older.includes(REFERENCE));
  // Starting the scenario upgrades the CRD to crds/'s and starts the operator.
  scenario = await Scenario.start({ minInterval: '1s', fliptConfig: older, configMapAnnotations: { 'flipt.io/managed-tokens': JSON.stringify([EVIL_ID]) } });
  scenario.adoptAppNamespace(APP);
});

after(() => scenario?.stop());

test('a FliptClient stored before the rule existed is refused with a condition naming the key', async () => {
  await waitFor(async () => condition(await getFliptClient(scenario.cluster.clients, APP, 'evil'), 'Ready')?.reason === 'InvalidMetadata', 'evil refused', 30_000);
  const evil = await getFliptClient(scenario.cluster.clients, APP, 'evil');
  const ready = condition(evil, 'Ready')!;
  assert.equal(ready.status, 'False');
  assert.match(ready.message, /key "note"/);
  assert.ok(!ready.message.includes(REFERENCE), 'the value is not repeated in the status');
  await waitFor(async () => {
    const events = await scenario.cluster.clients.events.listNamespacedEvent({ namespace: APP });
    return events.items.some((e) => e.regarding?.name === 'evil' && e.reason === 'InvalidMetadata' && e.type === 'Warning');
  }, 'Warning Event InvalidMetadata', 10_000);
});

test('the value an older version rendered is removed at the next apply and never written again', async () => {
  await waitFor(async () => condition(await getFliptClient(scenario.cluster.clients, APP, 'good'), 'Ready')?.status === 'True', 'good Ready', 30_000);
  const config = await scenario.fliptConfig();
  assert.ok(!config.includes(STOLEN), 'the reference is gone from the config');
  assert.equal((await scenario.managedTokens())[EVIL_ID], undefined);
  assert.ok((await scenario.managedTokens())[tokenIdFor(APP, 'good')], 'the other client is registered');
  const versions = scenario.configMaps.versions.map((cm) => cm.data?.['default.yml'] ?? '');
  assert.ok(versions[0]!.includes(STOLEN), 'the watch saw the planted version first');
  assert.ok(versions.length >= 2, 'and the operator wrote since');
  for (const [i, text] of versions.slice(1).entries()) assert.ok(!text.includes(STOLEN), `ConfigMap version ${i + 1} holds the value`);
  assert.ok(!(EVIL_ID in (await scenario.credentials())), 'no credential for the refused client');
  assert.ok(!JSON.stringify(scenario.credentialSecrets.versions).includes(Buffer.from(EVIL_TOKEN).toString('base64')), 'its token never reached the credentials Secret');
});
