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
  // Cached Secrets are read again and again (a target reads every client's on each reconcile). A
  // plain object per Secret, not a Map: a Map's table took about 450 bytes per cached client Secret.
  let decoded = decodedData.get(data);
  if (!decoded) decodedData.set(data, (decoded = {}));
  if (!Object.hasOwn(decoded, key)) {
    const value = Object.hasOwn(data, key) ? Buffer.from(data[key]!, 'base64').toString('utf8') : undefined;
    // Defined, not assigned: a key named __proto__ becomes a property like any other.
    Object.defineProperty(decoded, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return decoded[key];
}

const decodedData = new WeakMap<object, Record<string, string | undefined>>();
