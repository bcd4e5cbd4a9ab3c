// The invariants that must hold whenever the operator is at rest, checked directly on the objects:
// every credential the config refers to exists, no client's token was lost or replaced behind its
// back, and no token sits anywhere it should not.
import assert from 'node:assert/strict';
import { fingerprint, tokenIdFor } from '../../src/fliptclient/token.ts';
import { getFliptClient } from './fliptclients.ts';
import type { Scenario } from './scenario.ts';

export async function assertConsistent(scenario: Scenario, clients: ReadonlyArray<{ namespace: string; name: string }>): Promise<void> {
  const tokens = await scenario.managedTokens();
  const credentials = await scenario.credentials();
  for (const [id, entry] of Object.entries(tokens)) {
    const match = /^\$\{secret:file:(.+)\}$/.exec(entry.credential);
    if (match) assert.ok(credentials[match[1]!], `config refers to ${match[1]} but the credentials Secret lacks it`);
  }
  for (const { namespace, name } of clients) {
    const id = tokenIdFor(namespace, name);
    const client = await getFliptClient(scenario.cluster.clients, namespace, name);
    const secret = await scenario.cluster.clients.core.readNamespacedSecret({ name: `${name}-flipt`, namespace });
    const token = Buffer.from(secret.data!.token!, 'base64').toString();
    assert.equal(client.status?.credentialFingerprint, fingerprint(token), `${id}: status names the Secret's token`);
    assert.equal(credentials[id], token, `${id}: Flipt holds the token the client's Secret holds`);
    assert.equal(tokens[id]?.credential, `\${secret:file:${id}}`, `${id}: registered by reference`);
  }
  const config = await scenario.fliptConfig();
  for (const token of Object.values(credentials)) assert.ok(!config.includes(token), 'a token sits in the ConfigMap');
}
