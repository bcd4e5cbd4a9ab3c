// Tokens, their fingerprints, their ids in Flipt's configuration, and how a target's config and
// credentials Secret refer to them.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { CredentialReference, TargetConfig } from '../config/operator-config.ts';

const TOKEN = /^[0-9a-f]{64}$/;

/** 32 bytes from the CSPRNG, hex encoded: what `openssl rand -hex 32` gives, as Flipt's guide asks. */
export function generateToken(): string {
  return randomBytes(32).toString('hex');
}

export function isWellFormedToken(value: string | undefined): value is string {
  return value !== undefined && TOKEN.test(value);
}

/** A short sha256 prefix that identifies a token in status and logs without revealing it. */
export function fingerprint(token: string): string {
  let value = fingerprints.get(token);
  if (value === undefined) fingerprints.set(token, (value = createHash('sha256').update(token).digest('hex').slice(0, 16)));
  return value;
}

/** A target compares every client's token with its fingerprint on each of its reconciles. */
const fingerprints = new LRUCache<string, string>({ max: 20_000 });

/** Every comparison of two credentials goes through here: in constant time for tokens of one length. */
export function tokensEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * The token's id in Flipt's config and the key of its credential in the target's credentials Secret.
 * Namespaces and FliptClient names are DNS labels (the CRD enforces it), so they contain no '_' and
 * `<namespace>_<name>` is readable, unique, stable, and only `[a-z0-9_-]`: safe from viper's
 * lower-casing and '.'-nesting, and a valid Secret key.
 */
export function tokenIdFor(namespace: string, name: string): string {
  return `${namespace}_${name}`;
}

/**
 * The environment variable Flipt reads a credential from in `env` mode. Flipt accepts only
 * `[A-Za-z_][A-Za-z0-9_]*`, so '-' becomes '_'; that can make two ids alike ("a-b_c", "a_b-c"), hence
 * the short hash of the id itself at the end. The prefix is deliberately not `FLIPT_`: Flipt binds every
 * `FLIPT_*` variable whose name matches a config path, so ours stay outside that namespace.
 */
export function envVarFor(tokenId: string): string {
  const readable = tokenId.toUpperCase().replaceAll('-', '_');
  return `FLIPTCLIENT_TOKEN_${readable}_${createHash('sha256').update(tokenId).digest('hex').slice(0, 8).toUpperCase()}`;
}

/** The key under which a token's credential sits in the target's credentials Secret. */
export function credentialKey(target: Pick<TargetConfig, 'credentialReference'>, id: string): string {
  return target.credentialReference === 'env' ? envVarFor(id) : id;
}

/** What the config's `credential` says: a reference to the credentials Secret, or the token itself (inline). */
export function credentialReference(target: Pick<TargetConfig, 'credentialReference'>, id: string, token: string): string {
  switch (target.credentialReference satisfies CredentialReference) {
    case 'secretFile':
      return `\${secret:file:${id}}`;
    case 'env':
      return `\${env:${envVarFor(id)}}`;
    case 'inline':
      return token;
  }
}
