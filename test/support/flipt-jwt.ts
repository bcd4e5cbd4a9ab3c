// Verifying a JWT the way Flipt v2.11.0 does (internal/cmd/authn.go builds a hashicorp/cap jwt.Validator
// over the JWKS with these expectations): only RS256, RS512, ES256, ES512 and EdDSA; a signature by a
// key of the set the `kid` names; `iss` and `aud` as the config's validate_claims say; exp, nbf and iat
// with go-jose's one-minute leeway. Checked here with jose against a JWKS fetched from the operator.
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';

export const FLIPT_ALGORITHMS = ['RS256', 'RS512', 'ES256', 'ES512', 'EdDSA'];
const LEEWAY_SECONDS = 60;

export interface FliptJwtSettings {
  issuer: string;
  audience: string;
}

/** The payload, if Flipt would accept the JWT; otherwise throws saying why. */
export async function verifyAsFlipt(jwt: string, jwks: JSONWebKeySet, settings: FliptJwtSettings, now = new Date()): Promise<JWTPayload> {
  const { payload } = await jwtVerify(jwt, createLocalJWKSet(jwks), {
    algorithms: FLIPT_ALGORITHMS,
    issuer: settings.issuer,
    audience: settings.audience,
    clockTolerance: LEEWAY_SECONDS,
    currentDate: now,
  });
  return payload;
}

/** Whether Flipt would accept it. */
export async function acceptedByFlipt(jwt: string, jwks: JSONWebKeySet, settings: FliptJwtSettings, now = new Date()): Promise<boolean> {
  try {
    await verifyAsFlipt(jwt, jwks, settings, now);
    return true;
  } catch {
    return false;
  }
}

/** The JWKS as Flipt fetches it: a GET of jwks_url. */
export async function fetchJwks(url: string): Promise<{ jwks: JSONWebKeySet; response: Response }> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status}`);
  return { jwks: (await response.clone().json()) as JSONWebKeySet, response };
}
