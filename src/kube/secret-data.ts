// Secret data travels base64-encoded; these are the only places that encode or decode it.
import type { V1Secret } from '@kubernetes/client-node';

export function encodeSecretData(values: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
}

export function decodeSecretData(data: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

/** One decoded value, or undefined when the Secret or the key is missing. */
export function secretValue(secret: V1Secret | undefined, key: string): string | undefined {
  const data = secret?.data;
  if (!data) return undefined;
  // Cached Secrets are read again and again (a target reads every client's on each reconcile).
  let decoded = decodedData.get(data);
  if (!decoded) decodedData.set(data, (decoded = new Map()));
  if (!decoded.has(key)) decoded.set(key, data[key] === undefined ? undefined : Buffer.from(data[key], 'base64').toString('utf8'));
  return decoded.get(key);
}

const decodedData = new WeakMap<object, Map<string, string | undefined>>();
