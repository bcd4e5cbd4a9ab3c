// A FliptClient's JWT: its claims, signing it with the key that signs now, and reading one back.
//
// Flipt copies every claim whose name begins with `io.flipt.auth` into the request's authentication
// metadata (what its authorization policies see) and `iss` into io.flipt.auth.jwt.issuer; of the rest
// it reads only what its claims_mapping points at (by default /user/..., and we send no `user`
// claim). So the client's identity and spec.metadata travel as io.flipt.auth.fliptclient.* claims
// whose names the operator fixes (a metadata key is [a-z0-9_-], never '.', so `metadata.<key>` can
// never become another claim's name) and whose values are plain strings.
import { randomBytes } from 'node:crypto';
import { SignJWT, compactVerify, createLocalJWKSet, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';
import type { TargetJwtConfig } from '../config/operator-config.ts';
import type { FliptClient } from './fliptclient.ts';
import { SIGNING_ALGORITHM, jwksOf, latestExpiryOf, signingKeyAt, type SigningKey } from './signing-keys.ts';

/** How a request presents a JWT to Flipt: `Authorization: JWT <jwt>` (not Bearer). */
export const JWT_AUTHORIZATION_SCHEME = 'JWT';

const CLAIM_PREFIX = 'io.flipt.auth.fliptclient.';

/** `sub`: names the FliptClient. */
export function subjectFor(namespace: string, name: string): string {
  return `fliptclient:${namespace}:${name}`;
}

/** The io.flipt.auth.* claims of a client's JWT: its namespace, name and spec.metadata. */
export function clientClaims(client: FliptClient): Record<string, string> {
  const claims: Record<string, string> = { [`${CLAIM_PREFIX}namespace`]: client.metadata.namespace, [`${CLAIM_PREFIX}name`]: client.metadata.name };
  for (const [key, value] of Object.entries(client.spec.metadata ?? {})) claims[`${CLAIM_PREFIX}metadata.${key}`] = value;
  return claims;
}

export interface IssuedJwt {
  jwt: string;
  kid: string;
  jti: string;
  /** ms since the epoch (whole seconds, as in the JWT). */
  issuedAt: number;
  expiresAt: number;
}

/** What a JWT says, read without verifying it: for deciding whether to keep it, never for trusting it. */
export interface JwtView {
  kid: string | undefined;
  issuer: string | undefined;
  audiences: string[];
  subject: string | undefined;
  jti: string | undefined;
  issuedAt: number;
  expiresAt: number;
  claims: Record<string, unknown>;
}

/** Seconds since the epoch that a Date can hold (a Secret anyone may edit can say 1e309). */
function isJwtTime(seconds: unknown): seconds is number {
  return typeof seconds === 'number' && Number.isFinite(seconds) && Math.abs(seconds) * 1000 <= 8.64e15;
}

export function readJwt(token: string | undefined): JwtView | undefined {
  if (!token || token.split('.').length !== 3) return undefined;
  try {
    const header = decodeProtectedHeader(token);
    const payload = decodeJwt(token);
    if (!isJwtTime(payload.iat) || !isJwtTime(payload.exp)) return undefined;
    const aud = payload.aud;
    return {
      kid: typeof header.kid === 'string' ? header.kid : undefined,
      issuer: payload.iss,
      audiences: typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [],
      subject: payload.sub,
      jti: payload.jti,
      issuedAt: payload.iat * 1000,
      expiresAt: payload.exp * 1000,
      claims: payload,
    };
  } catch {
    return undefined;
  }
}

/** When a JWT is replaced: at two thirds of its lifetime, so a third of it is left to spread the new one. */
export function refreshAtOf(jwt: Pick<JwtView, 'issuedAt' | 'expiresAt'>): number {
  return jwt.issuedAt + Math.floor(((jwt.expiresAt - jwt.issuedAt) * 2) / 3);
}

/**
 * Whether a published key signed the JWT (its claims are not checked here). A JWT that passes was
 * issued by the operator: only it holds the private keys.
 */
export async function signedByPublishedKey(token: string, keys: readonly SigningKey[], now: number): Promise<boolean> {
  try {
    await compactVerify(token, createLocalJWKSet(jwksOf(keys, now)), { algorithms: [SIGNING_ALGORITHM] });
    return true;
  } catch {
    return false;
  }
}

type ImportedKey = Awaited<ReturnType<typeof importJWK>>;

/** Signs JWTs with the key that signs now, from the keys the operator's cache holds. */
export class JwtSigner {
  private readonly keys: () => readonly SigningKey[];
  /** Imported private keys by kid: importing costs more than signing. */
  private readonly imported = new Map<string, Promise<ImportedKey>>();

  constructor(keys: () => readonly SigningKey[]) {
    this.keys = keys;
  }

  /**
   * A JWT for the subject with the target's issuer, audience and lifetime, expiring no later than
   * `notAfter` (when given) or than its key may be trusted; undefined when no key may sign now.
   */
  async sign(settings: TargetJwtConfig, subject: string, claims: Readonly<Record<string, string>>, now: number, notAfter?: number): Promise<IssuedJwt | undefined> {
    const keys = this.keys();
    const key = signingKeyAt(keys, now);
    if (!key) return undefined;
    const issuedAt = Math.floor(now / 1000);
    const expiresAt = Math.floor(Math.min(now + settings.lifetime, latestExpiryOf(key), notAfter ?? Infinity) / 1000);
    if (expiresAt <= issuedAt) return undefined;
    const jti = randomBytes(16).toString('base64url');
    const jwt = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: key.kid, typ: 'JWT' })
      .setIssuer(settings.issuer)
      .setAudience(settings.audience)
      .setSubject(subject)
      .setIssuedAt(issuedAt)
      .setNotBefore(issuedAt)
      .setExpirationTime(expiresAt)
      .setJti(jti)
      .sign(await this.importKey(key, keys));
    return { jwt, kid: key.kid, jti, issuedAt: issuedAt * 1000, expiresAt: expiresAt * 1000 };
  }

  private importKey(key: SigningKey, all: readonly SigningKey[]): Promise<ImportedKey> {
    for (const kid of this.imported.keys()) if (!all.some((k) => k.kid === kid)) this.imported.delete(kid);
    let imported = this.imported.get(key.kid);
    if (!imported) {
      // A key that fails to import is not remembered: the next signature tries again rather than failing until it retires.
      imported = importJWK(key.privateJwk, SIGNING_ALGORITHM).catch((err: unknown) => {
        this.imported.delete(key.kid);
        throw err;
      });
      this.imported.set(key.kid, imported);
    }
    return imported;
  }
}
