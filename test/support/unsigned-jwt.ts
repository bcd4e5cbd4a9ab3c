// JWT-shaped strings for decisions that read a JWT without verifying it (or leave verifying to a fake
// TokenReview): any header, any claims, a signature that signs nothing.

/** A JSON value as one base64url part of a JWT. */
export const base64urlJson = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

export function unsignedJwt(header: Record<string, unknown>, claims: Record<string, unknown>, signature = 'sig'): string {
  return `${base64urlJson(header)}.${base64urlJson(claims)}.${Buffer.from(signature).toString('base64url')}`;
}
