// Where the exchange server gets a bound FliptClient's credential from. The operator answers from its
// informer caches (no API call per request): the FliptClient's status (Ready condition, tokenId,
// issuedAt, rotateAt) and the client Secret's `token` key.
import type { V1Secret } from '@kubernetes/client-node';
import { secretValue } from '../kube/secret-data.ts';
import type { Informer } from '../runtime/informer.ts';
import { tokenIdFor } from '../vocabulary/credentials.ts';
import { ownedBy, secretNameFor, tokenMetadataFor, type FliptClient } from '../vocabulary/fliptclient.ts';
import { rotationOverlap } from '../vocabulary/rotation.ts';

export interface Credential {
  /** The Flipt client token; empty when there is none to give. */
  token: string;
  /** The token's id in Flipt's config (`authentication.id` in the answer, like Flipt's static tokens). */
  tokenId: string;
  /** Only a Ready client's token is handed out. */
  ready: boolean;
  /** Why the client is not Ready (its Ready condition's reason and message), for the error message. */
  reason?: string;
  /** RFC 3339. */
  issuedAt?: string;
  /** RFC 3339: when a holder should come back for a fresh credential (a scheduled rotation). */
  expiresAt?: string;
  /** Metadata Flipt records for the token; the exchange adds the io.flipt.auth.k8s.* keys. */
  metadata: Record<string, string>;
}

export interface CredentialSource {
  /** undefined when no such FliptClient is known. */
  credentialFor(namespace: string, name: string): Credential | undefined;
}

/**
 * A CredentialSource over the operator's informers: a FliptClient informer (all namespaces) and a
 * Secret informer that sees the client Secrets (for instance label-selected on
 * `app.kubernetes.io/managed-by=flipt-client-operator`). The token is read from the Secret named by
 * `status.secretName` (default `spec.secret.name`, then `<name>-flipt`), key `token`, and only from a
 * Secret whose controller ownerReference is this FliptClient: a same-named Secret someone else owns is
 * never handed out.
 */
export function informerCredentialSource(fliptClients: Informer<FliptClient>, secrets: Informer<V1Secret>): CredentialSource {
  return {
    credentialFor(namespace, name) {
      const client = fliptClients.get(name, namespace);
      if (!client) return undefined;
      const secret = secrets.get(secretNameOf(client), namespace);
      return credentialFromObjects(client, secret);
    },
  };
}

/** The Secret the token was issued into; before that, the one it will be. */
function secretNameOf(client: FliptClient): string {
  return client.status?.secretName || secretNameFor(client);
}

/** The credential a FliptClient and its Secret describe (exported for callers with other caches). */
export function credentialFromObjects(client: FliptClient, secret: V1Secret | undefined): Credential {
  const { namespace, name } = client.metadata;
  const status = client.status ?? {};
  const readyCondition = status.conditions?.find((c) => c.type === 'Ready');
  const metadata = tokenMetadataFor(client);
  const base = {
    tokenId: status.tokenId || tokenIdFor(namespace, name),
    metadata,
    ...(status.issuedAt ? { issuedAt: status.issuedAt } : {}),
    ...(rotationDeadline(client) ? { expiresAt: rotationDeadline(client)! } : {}),
  };
  const notReady = (reason: string): Credential => ({ ...base, token: '', ready: false, reason });

  if (client.metadata.deletionTimestamp) return notReady('the FliptClient is being deleted');
  if (readyCondition?.status !== 'True') {
    const why = readyCondition ? `${readyCondition.reason}: ${readyCondition.message}` : 'no Ready condition yet';
    return notReady(why);
  }
  if (!secret) return notReady(`Secret ${secretNameOf(client)} not found`);
  if (!ownedBy(secret, client)) return notReady(`Secret ${secretNameOf(client)} is not owned by this FliptClient`);
  const token = secretValue(secret, 'token') ?? '';
  if (!token) return notReady(`Secret ${secretNameOf(client)} has no token`);
  return { ...base, token, ready: true };
}

/** rotateAt + overlap: until then the current token keeps working, whatever a rotation does. */
function rotationDeadline(client: FliptClient): string | undefined {
  const rotateAt = client.status?.rotateAt ? Date.parse(client.status.rotateAt) : NaN;
  return Number.isFinite(rotateAt) ? new Date(rotateAt + rotationOverlap(client)).toISOString() : undefined;
}
