// What one target should hold: which credentials (two for a client in the middle of a rotation), which
// new tokens to issue, what its config and credentials Secret should then say, and the restart key
// (config hash) the Flipt workload should run with. Pure.
import { createHash } from 'node:crypto';
import type { TargetConfig } from '../config/operator-config.ts';
import { credentialKey, credentialReference, fingerprint, isWellFormedToken, tokenIdFor, tokensEqual } from '../vocabulary/credentials.ts';
import { clientKey, servedBy, tokenMetadataFor, type FliptClient } from '../vocabulary/fliptclient.ts';
import { nextTokenIdFor, overlapEndsAt, ROTATE_ANNOTATION, rotationTrigger, scheduledRotationAt } from '../vocabulary/rotation.ts';
import { credentialKindOf } from '../vocabulary/credential-kind.ts';
import { renderFliptConfig, type RenderResult } from './flipt-config.ts';
import type { JwtMethodPlan } from './jwt-method.ts';
import { oldKindStillAccepted, staticTokensOfJwtClient } from './kind-switch.ts';

/**
 * Everything of a FliptClient a target's step reads, as one string: a change to anything else (its
 * conditions, most of its status) need not wake the target, which matters when thousands of clients
 * are written in a burst.
 */
export function targetInputsOf(client: FliptClient): string {
  const { metadata, spec, status } = client;
  return JSON.stringify([
    metadata.creationTimestamp,
    metadata.deletionTimestamp,
    metadata.annotations?.[ROTATE_ANNOTATION],
    spec,
    status?.credentialFingerprint,
    status?.issuedAt,
    status?.lastRotateRequest,
    status?.conditions?.find((c) => c.type === 'CredentialIssued')?.status,
    // Which kind it holds, and since when: the static tokens a target keeps while its clients switch.
    status?.credentialKind,
    status?.credentialKindSince,
  ]);
}

/** On the ConfigMap: the token ids the operator wrote, so it removes only its own. */
export const MANAGED_TOKENS_ANNOTATION = 'flipt.io/managed-tokens';

export interface ClientCredential {
  id: string;
  token: string;
  metadata: Record<string, string>;
  /** What the config's `credential` says, and the credentials Secret's key that holds the token. */
  credential: string;
  credentialKey: string;
  /** The FliptClient it is for ("<namespace>/<name>"), and when that was created (for admission order). */
  owner: { key: string; namespace: string; createdAt: number };
}

/** Where a client's tokens stand at the target: its token of record, and what the credentials Secret holds for it. */
interface ClientSlots {
  id: string;
  nextId: string;
  /** The token the client's status names (from its Secret, or the credentials Secret while that is lost). */
  current: string | undefined;
  /** What the client Secret holds. */
  held: string | undefined;
  /** What the credentials Secret holds under `<id>` and under `<id>_next`. */
  idToken: string | undefined;
  nextToken: string | undefined;
}

function slotsOf(target: TargetConfig, client: FliptClient, secretToken: string | undefined, credentials: Readonly<Record<string, string>>): ClientSlots {
  const id = tokenIdFor(client.metadata.namespace, client.metadata.name);
  const nextId = nextTokenIdFor(id);
  const idToken = wellFormed(credentials[credentialKey(target, id)]);
  const nextToken = wellFormed(credentials[credentialKey(target, nextId)]);
  const expected = client.status?.credentialFingerprint;
  // Only a token of our own shape: in inline mode it is written into Flipt's config as it is.
  const current = expected ? [wellFormed(secretToken), idToken, nextToken].find((t) => t !== undefined && fingerprint(t) === expected) : undefined;
  return { id, nextId, current, held: secretToken, idToken, nextToken };
}

const wellFormed = (token: string | undefined) => (isWellFormedToken(token) ? token : undefined);

/**
 * The credentials a target should carry. A client counts once it has been issued a token (its status
 * names the fingerprint); the token comes from its own Secret, or, while that Secret is missing or
 * was edited, from the target's credentials Secret, so that a lost client Secret never revokes a
 * working credential. Clients the target does not serve are left out: that is how their token is revoked.
 * A client in the middle of a rotation carries two tokens: the old under `<id>` and the new under
 * `<id>_next`, from when the new one is issued until the overlap after its Secret switched has passed.
 */
export function desiredCredentials(
  target: TargetConfig,
  clients: readonly FliptClient[],
  clientSecretToken: (client: FliptClient) => string | undefined,
  currentCredentials: Readonly<Record<string, string>>,
  now: number,
): ClientCredential[] {
  const result: ClientCredential[] = [];
  const oldKindAccepted = oldKindStillAccepted(target, clients, now);
  for (const client of clients) {
    if (!servedBy(target, client)) continue;
    const entry = entriesOf(target, client);
    if (credentialKindOf(client) === 'jwt') {
      // A JWT takes no room in Flipt's config: only the static tokens kept for a switch are entries.
      result.push(...staticTokensOfJwtClient(target, client, currentCredentials, oldKindAccepted).map((t) => entry(t.id, t.token)));
      continue;
    }
    const { id, nextId, current, held, idToken, nextToken } = slotsOf(target, client, clientSecretToken(client), currentCredentials);
    if (!current) continue;
    if (nextToken !== undefined && !tokensEqual(nextToken, current)) {
      // Issued, not yet switched to: the client still holds `current`.
      result.push(entry(id, current), entry(nextId, nextToken));
    } else if (nextToken !== undefined && idToken !== undefined && !tokensEqual(idToken, current) && (now < (overlapEndsAt(client) ?? 0) || (held !== undefined && tokensEqual(held, idToken)))) {
      // Switched: the old token stays valid for the overlap, and for as long as the client Secret still
      // holds it (an operator that crashed between the status and the Secret switches it late).
      result.push(entry(id, idToken), entry(nextId, current));
    } else {
      result.push(entry(id, current));
    }
  }
  return result.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Makes a client's entries: its metadata, the config's reference and the Secret's key, and the client they are for. */
function entriesOf(target: TargetConfig, client: FliptClient): (id: string, token: string) => ClientCredential {
  const metadata = tokenMetadataFor(client);
  const created = client.metadata.creationTimestamp;
  const owner = { key: clientKey(client.metadata.namespace, client.metadata.name), namespace: client.metadata.namespace, createdAt: created ? new Date(created).getTime() || 0 : 0 };
  return (id, token) => ({ id, token, metadata, credential: credentialReference(target, id, token), credentialKey: credentialKey(target, id), owner });
}

/**
 * The entries a rotation would add, one per client whose rotation is due (its schedule, or an
 * annotation not yet answered), whose token is registered, and which has no new token yet: its
 * credentialKey is where to issue the new token, and its token a stand-in of the same length, to
 * measure the room it takes.
 */
export function rotationsToIssue(
  target: TargetConfig,
  clients: readonly FliptClient[],
  clientSecretToken: (client: FliptClient) => string | undefined,
  currentCredentials: Readonly<Record<string, string>>,
  now: number,
): ClientCredential[] {
  const entries: ClientCredential[] = [];
  for (const client of clients) {
    if (!servedBy(target, client) || !rotationTrigger(client, now)) continue;
    const { nextId, current, idToken, nextToken } = slotsOf(target, client, clientSecretToken(client), currentCredentials);
    if (current !== undefined && idToken !== undefined && tokensEqual(idToken, current) && nextToken === undefined) entries.push(entriesOf(target, client)(nextId, '0'.repeat(current.length)));
  }
  return entries.sort((a, b) => (a.credentialKey < b.credentialKey ? -1 : a.credentialKey > b.credentialKey ? 1 : 0));
}

/** The next moment a rotation of one of the target's clients falls due, or an overlap ends: when to look again. */
export function nextRotationEvent(target: TargetConfig, clients: readonly FliptClient[], currentCredentials: Readonly<Record<string, string>>, now: number): number | undefined {
  let earliest: number | undefined;
  for (const client of clients) {
    if (!servedBy(target, client) || !client.status?.credentialFingerprint) continue;
    const id = tokenIdFor(client.metadata.namespace, client.metadata.name);
    const switched = currentCredentials[credentialKey(target, nextTokenIdFor(id))] !== undefined;
    for (const at of [scheduledRotationAt(client), switched ? overlapEndsAt(client) : undefined]) {
      if (at !== undefined && at > now && (earliest === undefined || at < earliest)) earliest = at;
    }
  }
  return earliest;
}

/**
 * Served clients not issued a token yet and not refused: the operator is still issuing them. Applying
 * now would cost another restart as soon as they are issued.
 */
export function clientsInFlight(served: readonly FliptClient[]): number {
  let count = 0;
  for (const client of served) {
    if (client.status?.credentialFingerprint) continue;
    if (client.status?.conditions?.find((c) => c.type === 'CredentialIssued')?.status !== 'False') count++;
  }
  return count;
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
  target: Pick<TargetConfig, 'credentialReference'>,
  source: string | undefined,
  /** The ids the ConfigMap's record names; undefined where it has no record. */
  previouslyManaged: readonly string[] | undefined,
  currentCredentials: Readonly<Record<string, string>>,
  desired: readonly ClientCredential[],
  jwtMethod: JwtMethodPlan,
): TargetPlan {
  const render = renderFliptConfig({
    source,
    previouslyManaged: previouslyManaged ?? [],
    // Read only without a record: the common case's renders stay keyed by their text and tokens alone.
    heldCredentials: previouslyManaged ? {} : currentCredentials,
    credentialReference: target.credentialReference,
    jwtMethod: jwtMethod.ensure,
    removeJwtMethod: jwtMethod.remove,
    tokens: desired.map((c) => ({ id: c.id, credential: c.credential, metadata: c.metadata })),
  });
  const managed = new Set(render.managedIds);
  const referenced: Record<string, string> = {};
  for (const c of desired) if (managed.has(c.id)) referenced[c.credentialKey] = c.token;
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

/** The ids the record names; undefined where there is none, or what is there is no list (not a record of ours). */
export function parseManagedIds(annotation: string | undefined): string[] | undefined {
  if (annotation === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(annotation);
    return Array.isArray(parsed) ? parsed.filter((v): v is string => typeof v === 'string') : undefined;
  } catch {
    return undefined;
  }
}
