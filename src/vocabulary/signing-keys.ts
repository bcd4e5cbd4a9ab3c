// The operator's JWT signing keys as every replica reads them from one Secret in the operator's
// namespace: when each key is published, when it may sign, and when it is retired; which key signs
// now; and the public key set (JWKS) every replica serves. Only the leader writes the Secret (the
// schedule is in identity/); every replica signs (the exchange) and publishes from its cache.
//
// A key's life: created and published at once; signs from `signsFrom` (publishAhead later, so every
// replica and every cached JWKS has it before a JWT names it); its successor takes over at
// `signsUntil`; retired (left out of the JWKS, then deleted) at `retireAt`, when every JWT it can have
// signed has expired, Flipt's clock-skew leeway included. A JWT never outlives its key: its exp is
// capped at `retireAt - leeway`, so a replica that signs late (a stale cache, a leader that is down)
// still cannot make one that outlives the key's publication.
import type { JWK } from 'jose';

export const SIGNING_ALGORITHM = 'ES256';

/** Flipt still accepts a JWT this long after its exp: go-jose's default leeway, which Flipt's validator (hashicorp/cap) uses. */
export const FLIPT_CLOCK_SKEW_LEEWAY_MS = 60_000;

export interface KeyTimes {
  createdAt: number;
  signsFrom: number;
  signsUntil: number;
  retireAt: number;
}

export interface SigningKey extends KeyTimes {
  /** The JWK thumbprint of the public key (RFC 7638): the `kid` of every JWT it signs. */
  kid: string;
  /** The private key; never leaves the Secret and the operator's memory. */
  privateJwk: JWK;
}

/** The public half of a key, as the JWKS serves it. */
export interface PublicJwk {
  kty: string;
  crv: string;
  x: string;
  y: string;
  kid: string;
  alg: typeof SIGNING_ALGORITHM;
  use: 'sig';
}

interface StoredKey {
  alg: typeof SIGNING_ALGORITHM;
  createdAt: string;
  signsFrom: string;
  signsUntil: string;
  retireAt: string;
  jwk: JWK;
}

/** The keys a Secret's (decoded) data holds, one entry per kid; entries that do not read as a key are skipped. */
export function parseSigningKeys(data: Readonly<Record<string, string>>): SigningKey[] {
  const keys: SigningKey[] = [];
  for (const [kid, text] of Object.entries(data)) {
    let stored: Partial<StoredKey>;
    try {
      stored = JSON.parse(text) as Partial<StoredKey>;
    } catch {
      continue;
    }
    const times = [stored.createdAt, stored.signsFrom, stored.signsUntil, stored.retireAt].map((t) => (typeof t === 'string' ? Date.parse(t) : NaN));
    const jwk = stored.jwk;
    if (stored.alg !== SIGNING_ALGORITHM || times.some(Number.isNaN) || !jwk || jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.d || !jwk.x || !jwk.y) continue;
    const [createdAt, signsFrom, signsUntil, retireAt] = times as [number, number, number, number];
    keys.push({ kid, createdAt, signsFrom, signsUntil, retireAt, privateJwk: jwk });
  }
  return keys.sort((a, b) => a.createdAt - b.createdAt);
}

/** The Secret data (not yet base64) that holds these keys. */
export function signingKeysData(keys: readonly SigningKey[]): Record<string, string> {
  const iso = (ms: number) => new Date(ms).toISOString();
  return Object.fromEntries(
    keys.map((k) => {
      const stored: StoredKey = { alg: SIGNING_ALGORITHM, createdAt: iso(k.createdAt), signsFrom: iso(k.signsFrom), signsUntil: iso(k.signsUntil), retireAt: iso(k.retireAt), jwk: k.privateJwk };
      return [k.kid, JSON.stringify(stored)];
    }),
  );
}

/** The latest exp a JWT signed with the key may carry: Flipt's leeway before the key is retired. */
export function latestExpiryOf(key: KeyTimes): number {
  return key.retireAt - FLIPT_CLOCK_SKEW_LEEWAY_MS;
}

/** Keys in the JWKS now: every key not yet retired, including successors that do not sign yet. */
export function publishedKeys<K extends KeyTimes>(keys: readonly K[], now: number): K[] {
  return keys.filter((k) => k.createdAt <= now && now < k.retireAt);
}

/** exp and iat are whole seconds: a key that leaves a JWT less than this is no use. */
const SHORTEST_JWT_MS = 2000;

/** The key that signs now: the one that took over last, as long as a JWT it signs can still live. */
export function signingKeyAt<K extends KeyTimes>(keys: readonly K[], now: number): K | undefined {
  let chosen: K | undefined;
  for (const key of keys) {
    if (key.signsFrom > now || latestExpiryOf(key) < now + SHORTEST_JWT_MS) continue;
    if (!chosen || key.signsFrom > chosen.signsFrom) chosen = key;
  }
  return chosen;
}

/** When the next key starts signing, if one is still to: when a client waiting for a signing key looks again. */
export function nextSigningStart(keys: readonly KeyTimes[], now: number): number | undefined {
  const starts = keys.map((k) => k.signsFrom).filter((at) => at > now);
  return starts.length > 0 ? Math.min(...starts) : undefined;
}

/** The public JWKS document: public key material only, never `d`. */
export function jwksOf(keys: readonly SigningKey[], now: number): { keys: PublicJwk[] } {
  return {
    keys: publishedKeys(keys, now).map((k) => ({
      kty: String(k.privateJwk.kty),
      crv: String(k.privateJwk.crv),
      x: String(k.privateJwk.x),
      y: String(k.privateJwk.y),
      kid: k.kid,
      alg: SIGNING_ALGORITHM,
      use: 'sig' as const,
    })),
  };
}
