// Pure decisions for one target: which credentials it should carry, what its config and credentials
// Secret should then say, and the restart key (config hash) that the Flipt workload should run with.
import { createHash } from 'node:crypto';
import { targetAllowsNamespace, type TargetConfig } from '../config/operator-config.ts';
import { fingerprint, envVarFor, isWellFormedToken, tokenIdFor } from '../fliptclient/token.ts';
import { metadataProblems, tokenMetadataFor, type FliptClient } from '../fliptclient/types.ts';
import { renderFliptConfig, type RenderResult } from './flipt-config.ts';

export const CONFIG_HASH_ANNOTATION = 'flipt.io/config-hash';
export const RESTARTED_AT_ANNOTATION = 'flipt.io/restarted-at';
export const MANAGED_TOKENS_ANNOTATION = 'flipt.io/managed-tokens';
/** On the workload: the metadata.generation our last restart produced. */
export const RESTART_GENERATION_ANNOTATION = 'flipt.io/restart-generation';

export interface ClientCredential {
  id: string;
  token: string;
  metadata: Record<string, string>;
}

/** The key under which a token's credential sits in the target's credentials Secret. */
export function credentialKey(target: TargetConfig, id: string): string {
  return target.credentialReference === 'env' ? envVarFor(id) : id;
}

export function credentialValue(target: TargetConfig, id: string, token: string): string {
  switch (target.credentialReference) {
    case 'secretFile':
      return `\${secret:file:${id}}`;
    case 'env':
      return `\${env:${envVarFor(id)}}`;
    case 'inline':
      return token;
  }
}

/**
 * The FliptClients the target registers: those naming it, not being deleted, from a namespace it
 * allows, with a spec it accepts. Any other is refused (or revoked) and none of its text reaches the
 * config: a client whose metadata Flipt would interpret is left out entirely.
 */
export function servedClients(target: TargetConfig, clients: readonly FliptClient[]): FliptClient[] {
  return clients.filter(
    (client) =>
      (client.spec.target ?? 'default') === target.name &&
      !client.metadata.deletionTimestamp &&
      targetAllowsNamespace(target, client.metadata.namespace) &&
      metadataProblems(client.spec.metadata).length === 0,
  );
}

/**
 * The credentials a target should carry. A client counts once it has been issued a token (its status
 * names the fingerprint); the token comes from its own Secret, or, while that Secret is missing or
 * was edited, from the target's credentials Secret, so that a lost client Secret never revokes a
 * working credential. Clients being deleted are left out: that is how their token is revoked.
 */
export function desiredCredentials(
  target: TargetConfig,
  clients: readonly FliptClient[],
  clientSecretToken: (client: FliptClient) => string | undefined,
  currentCredentials: Readonly<Record<string, string>>,
): ClientCredential[] {
  const result: ClientCredential[] = [];
  for (const client of servedClients(target, clients)) {
    const { namespace, name } = client.metadata;
    const expected = client.status?.credentialFingerprint;
    if (!expected) continue;
    const id = tokenIdFor(namespace, name);
    const candidates = [clientSecretToken(client), currentCredentials[credentialKey(target, id)]];
    // Only a token of our own shape: in inline mode it is written into Flipt's config as it is.
    const token = candidates.find((t) => isWellFormedToken(t) && fingerprint(t) === expected);
    if (!token) continue;
    result.push({ id, token, metadata: tokenMetadataFor(client) });
  }
  return result.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * Clients that name the target but are not in `desired` yet and have not been refused: the operator is
 * still issuing their tokens. Applying now would cost another restart as soon as they are issued.
 */
export function clientsInFlight(target: TargetConfig, clients: readonly FliptClient[], desired: readonly ClientCredential[]): number {
  const desiredIds = new Set(desired.map((c) => c.id));
  let count = 0;
  for (const client of servedClients(target, clients)) {
    const { namespace, name } = client.metadata;
    if (desiredIds.has(tokenIdFor(namespace, name))) continue;
    const issued = client.status?.conditions?.find((c) => c.type === 'CredentialIssued');
    if (issued?.status !== 'False') count++;
  }
  return count;
}

/** The longest a target's changes wait for clients still being issued. */
export function maxHoldMs(target: TargetConfig): number {
  return Math.max(3 * target.restart.minIntervalMs, 5000);
}

export interface TargetPlan {
  render: RenderResult;
  /** The credentials Secret's data to write now: everything current plus everything desired. */
  credentials: Record<string, string>;
  /** Keys no rendered config refers to any more; removed once the rollout has finished. */
  staleCredentialKeys: string[];
  configHash: string;
}

export function planTarget(
  target: TargetConfig,
  source: string | undefined,
  previouslyManaged: readonly string[],
  currentCredentials: Readonly<Record<string, string>>,
  desired: readonly ClientCredential[],
): TargetPlan {
  const render = renderFliptConfig({
    source,
    previouslyManaged,
    credentialReference: target.credentialReference,
    tokens: desired.map((c) => ({ id: c.id, credential: credentialValue(target, c.id, c.token), metadata: c.metadata })),
  });
  const managed = new Set(render.managedIds);
  const referenced: Record<string, string> = {};
  for (const c of desired) if (managed.has(c.id)) referenced[credentialKey(target, c.id)] = c.token;
  const credentials = { ...currentCredentials, ...referenced };
  const staleCredentialKeys = Object.keys(currentCredentials).filter((k) => !(k in referenced)).sort();
  return { render, credentials, staleCredentialKeys, configHash: configHash(render.text, referenced) };
}

/** sha256 over the config text and the credentials it refers to: the workload's restart key. */
export function configHash(configText: string, referencedCredentials: Readonly<Record<string, string>>): string {
  const hash = createHash('sha256').update(configText).update('\0');
  for (const key of Object.keys(referencedCredentials).sort()) hash.update(key).update('=').update(referencedCredentials[key]!).update('\0');
  return hash.digest('hex');
}

export function parseManagedIds(annotation: string | undefined): string[] {
  if (!annotation) return [];
  try {
    const parsed: unknown = JSON.parse(annotation);
    return Array.isArray(parsed) ? parsed.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return [];
  }
}
