// Resource versions of one resource are comparable (KEP-5504, stable in Kubernetes 1.35): positive
// decimal integers without leading zeros, of any length.

/** -1, 0 or 1 as `a` is older than, the same as or newer than `b`; undefined when either is not such an integer. */
export function compareResourceVersions(a: string | undefined, b: string | undefined): -1 | 0 | 1 | undefined {
  if (!a || !b || !WELL_FORMED.test(a) || !WELL_FORMED.test(b)) return undefined;
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a === b ? 0 : a < b ? -1 : 1;
}

const WELL_FORMED = /^[1-9][0-9]*$/;
