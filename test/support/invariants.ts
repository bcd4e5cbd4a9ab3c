// The invariants that must hold whenever the operator is at rest, checked directly on the objects:
// every token in the config is either hand-written or the operator's, every one of the operator's is a
// reference whose credential exists, no client's token was lost or replaced behind its back, and no
// token sits anywhere it should not.
import assert from 'node:assert/strict';
import { secretValue } from '../../src/kube/secret-data.ts';
import { fingerprint, tokenIdFor } from '../../src/vocabulary/credentials.ts';
import { getFliptClient } from './fliptclients.ts';
import { hidden } from './hidden.ts';
import type { Scenario } from './scenario.ts';

/** The token ids in SAMPLE_FLIPT_CONFIG that a person wrote; the operator never touches them. */
export const HAND_WRITTEN_IDS = ['ci-pipeline'];

/** Every token of the config is hand-written or managed; every managed one refers to a credential that exists. */
export async function assertReferencesResolve(scenario: Scenario): Promise<void> {
  const cm = await scenario.cluster.clients.core.readNamespacedConfigMap({ name: 'flipt', namespace: scenario.namespace });
  const managed: string[] = JSON.parse(cm.metadata?.annotations?.['flipt.io/managed-tokens'] ?? '[]');
  const tokens = await scenario.managedTokens();
  const credentials = await scenario.credentials();
  for (const [id, entry] of Object.entries(tokens)) {
    if (HAND_WRITTEN_IDS.includes(id)) continue;
    assert.ok(managed.includes(id), `token ${id} is in the config but neither hand-written nor recorded as managed`);
    // Hidden: what fails this check may be a token written where the reference belongs.
    assert.equal(hidden(entry.credential), hidden(`\${secret:file:${id}}`), `${id}: registered by reference`);
    assert.ok(credentials[id], `the config refers to ${id} but the credentials Secret lacks it`);
  }
}

export async function assertConsistent(scenario: Scenario, clients: ReadonlyArray<{ namespace: string; name: string }>): Promise<void> {
  await assertReferencesResolve(scenario);
  const tokens = await scenario.managedTokens();
  const credentials = await scenario.credentials();
  for (const { namespace, name } of clients) {
    const id = tokenIdFor(namespace, name);
    const client = await getFliptClient(scenario.cluster.clients, namespace, name);
    const secret = await scenario.cluster.clients.core.readNamespacedSecret({ name: `${name}-flipt`, namespace });
    const token = secretValue(secret, 'token');
    assert.ok(token, `${id}: the client Secret holds a token`);
    assert.equal(client.status?.credentialFingerprint, fingerprint(token), `${id}: status names the Secret's token`);
    assert.equal(hidden(credentials[id]), hidden(token), `${id}: Flipt holds the token the client's Secret holds`);
    assert.ok(tokens[id], `${id}: registered`);
  }
  const config = await scenario.fliptConfig();
  for (const token of Object.values(credentials)) assert.ok(!config.includes(token), 'a token sits in the ConfigMap');
}
