// Assertions on credentials: node:test prints both sides of a failing assert.equal or deepEqual, and a
// CI log must hold no token and no JWT, not even one of a throwaway cluster.
import { fingerprint } from '../../src/vocabulary/credentials.ts';

/**
 * The value with every string replaced by `sha256:<its fingerprint>`, through arrays, Maps and plain
 * objects. Compare these views instead of the values: a failing assertion then prints fingerprints,
 * and equal views mean equal values (64 bits of sha256).
 */
export function hidden(value: unknown): unknown {
  if (typeof value === 'string') return `sha256:${fingerprint(value)}`;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(hidden);
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, hidden(v)]));
  const prototype = Object.getPrototypeOf(value);
  // Anything else (a Buffer, a Date) would compare equal as an empty object: refuse it.
  if (prototype !== Object.prototype && prototype !== null) throw new TypeError(`hidden() takes strings, arrays, Maps and plain objects, not ${prototype.constructor?.name}`);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hidden(v)]));
}
