// Where the exchange server gets a bound FliptClient's credential from. The operator answers from its
// informer caches (no API call per request): the FliptClient's status (Ready condition, tokenId,
// issuedAt, rotateAt) and the client Secret's `token` key. For a client of a JWT target whose Secret
// holds a JWT, the exchange signs a fresh JWT for the caller instead (every replica can: each has the
// signing keys in its cache), expiring no later than the caller's service-account token.
import type { V1Secret } from '@kubernetes/client-node';
import type { CredentialKind, TargetConfig } from '../config/operator-config.ts';
import { secretValue } from '../kube/secret-data.ts';
import type { Informer } from '../runtime/informer.ts';
import { clientClaims, readJwt, subjectFor, type JwtSigner } from '../vocabulary/client-jwt.ts';
import { tokenIdFor } from '../vocabulary/credentials.ts';
import { ownedBy, secretNameFor, servedBy, targetNameOf, tokenMetadataFor, type FliptClient } from '../vocabulary/fliptclient.ts';
import { rotationOverlap } from '../vocabulary/rotation.ts';
import type { ServiceAccountIdentity } from './token-review.ts';
import { ExchangeError, GrpcCode, serviceAccountMetadata } from './wire.ts';

export interface Credential {
  /** A static token (sent as `Bearer`) or a JWT (sent as `JWT`). */
  kind: CredentialKind;
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
  /**
   * A JWT signed now for the caller, for a client of a JWT target (undefined for any other client),
   * expiring no later than `notAfterMs`. Throws a 503 ExchangeError when no key may sign.
   */
  freshJwt?(namespace: string, name: string, caller: ServiceAccountIdentity, notAfterMs: number | undefined, nowMs: number): Promise<Credential | undefined>;
}

/** Signs JWTs for the clients of JWT targets. */
export interface ExchangeJwtIssuer {
  targets: readonly TargetConfig[];
  signer: JwtSigner;
}

/**
 * A CredentialSource over the operator's informers: a FliptClient informer (all namespaces) and a
 * Secret informer that sees the client Secrets (for instance label-selected on
 * `app.kubernetes.io/managed-by=flipt-client-operator`). The token is read from the Secret named by
 * `status.secretName` (default `spec.secret.name`, then `<name>-flipt`), key `token`, and only from a
 * Secret whose controller ownerReference is this FliptClient: a same-named Secret someone else owns is
 * never handed out.
 */
export function informerCredentialSource(fliptClients: Informer<FliptClient>, secrets: Informer<V1Secret>, jwt?: ExchangeJwtIssuer): CredentialSource {
  return {
    credentialFor(namespace, name) {
      const client = fliptClients.get(name, namespace);
      if (!client) return undefined;
      const secret = secrets.get(secretNameOf(client), namespace);
      return credentialFromObjects(client, secret);
    },
    ...(jwt
      ? {
          async freshJwt(namespace: string, name: string, caller: ServiceAccountIdentity, notAfterMs: number | undefined, nowMs: number): Promise<Credential | undefined> {
            const client = fliptClients.get(name, namespace);
            const target = client && jwt.targets.find((t) => t.name === targetNameOf(client));
            if (!client || target?.credentialKind !== 'jwt') return undefined;
            // Ready was written under an earlier config: a target that no longer takes the client's namespace signs nothing for it.
            if (!servedBy(target, client)) return { kind: 'jwt', token: '', tokenId: '', ready: false, reason: `target "${target.name}" does not serve it`, metadata: {} };
            // The caller's identity as the API server confirmed it, under the names Flipt's own kubernetes method
            // gives them: Flipt copies io.flipt.auth.* claims into the request's metadata, so policies read them alike.
            const claims = { ...clientClaims(client), ...serviceAccountMetadata(caller) };
            const issued = await jwt.signer.sign(target.jwt, subjectFor(namespace, name), claims, nowMs, notAfterMs);
            if (!issued) {
              // A service-account token about to expire leaves no time for a JWT: the caller needs a fresh token, not a retry.
              if (notAfterMs !== undefined && Math.floor(notAfterMs / 1000) <= Math.floor(nowMs / 1000)) {
                throw new ExchangeError(401, GrpcCode.Unauthenticated, 'unauthenticated', 'the service account token expires within a second; exchange a fresh one', { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
              }
              throw new ExchangeError(503, GrpcCode.Unavailable, 'not_ready', 'no signing key is published yet; retry later', { 'Retry-After': '5' });
            }
            return {
              kind: 'jwt',
              token: issued.jwt,
              tokenId: issued.jti,
              ready: true,
              issuedAt: new Date(issued.issuedAt).toISOString(),
              expiresAt: new Date(issued.expiresAt).toISOString(),
              metadata: clientClaims(client),
            };
          },
        }
      : {}),
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
  const token = secretValue(secret, 'token') ?? '';
  const jwt = readJwt(token);
  const base = {
    kind: jwt ? ('jwt' as const) : ('staticToken' as const),
    tokenId: jwt?.jti ?? (status.tokenId || tokenIdFor(namespace, name)),
    metadata: jwt ? clientClaims(client) : tokenMetadataFor(client),
    ...(status.issuedAt ? { issuedAt: status.issuedAt } : {}),
    ...(jwt ? { expiresAt: new Date(jwt.expiresAt).toISOString() } : rotationDeadline(client) ? { expiresAt: rotationDeadline(client)! } : {}),
  };
  const notReady = (reason: string): Credential => ({ ...base, token: '', ready: false, reason });

  if (client.metadata.deletionTimestamp) return notReady('the FliptClient is being deleted');
  if (readyCondition?.status !== 'True') {
    const why = readyCondition ? `${readyCondition.reason}: ${readyCondition.message}` : 'no Ready condition yet';
    return notReady(why);
  }
  // Ready for an earlier spec (another target, say) says nothing of this one until the operator has reconciled it.
  const generation = client.metadata.generation;
  const observed = readyCondition.observedGeneration ?? status.observedGeneration;
  if (generation !== undefined && observed !== undefined && observed < generation) {
    return notReady(`the operator has not reconciled generation ${generation} of the FliptClient yet`);
  }
  if (!secret) return notReady(`Secret ${secretNameOf(client)} not found`);
  if (!ownedBy(secret, client)) return notReady(`Secret ${secretNameOf(client)} is not owned by this FliptClient`);
  if (!token) return notReady(`Secret ${secretNameOf(client)} has no token`);
  return { ...base, token, ready: true };
}

/** rotateAt + overlap: until then the current token keeps working, whatever a rotation does. */
function rotationDeadline(client: FliptClient): string | undefined {
  const rotateAt = client.status?.rotateAt ? Date.parse(client.status.rotateAt) : NaN;
  return Number.isFinite(rotateAt) ? new Date(rotateAt + rotationOverlap(client)).toISOString() : undefined;
}
