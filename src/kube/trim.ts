// What informers drop from an object before caching it. Fields are left out of a copy of the metadata,
// not deleted from it: deleting a property V8 placed in the middle of an object's layout turns the
// object into a dictionary, about 400 bytes larger per cached FliptClient or Secret.
import type { KubernetesObject } from '@kubernetes/client-node';

/** Managed fields, often the largest part of an object, are read by no part of the operator. */
export function dropManagedFields(obj: KubernetesObject): void {
  const metadata = obj.metadata;
  if (metadata?.managedFields === undefined) return;
  const { managedFields: _dropped, ...kept } = metadata;
  obj.metadata = kept;
}

/** For what is cached by the thousand and never written back whole: kubectl's copy of the last applied object goes too. */
export function trimObject(obj: KubernetesObject): void {
  const annotations = obj.metadata?.annotations;
  if (annotations?.[LAST_APPLIED] === undefined) return dropManagedFields(obj);
  const { managedFields: _managed, ...metadata } = obj.metadata!;
  const { [LAST_APPLIED]: _applied, ...kept } = annotations;
  obj.metadata = { ...metadata, annotations: kept };
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
