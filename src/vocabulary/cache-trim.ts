// What the operator keeps of the objects it caches by the thousand. The client-Secret watch selects
// on two labels anyone who may create a Secret can set, so what one such Secret costs this process
// must not be its creator's choice: only a Secret a FliptClient controls keeps its data, and only the
// keys the operator writes, each as large as a JWT with the most metadata the CRD allows. A copy that
// left out anything a write would carry over is marked, and the reconcilers read the Secret itself.
import type { V1ObjectMeta, V1Secret } from '@kubernetes/client-node';
import { trimObject } from '../kube/trim.ts';
import { CLIENT_LABEL, GROUP, KIND, MANAGED_BY_LABEL, type FliptClient } from './fliptclient.ts';
import { ROTATE_ANNOTATION } from './rotation.ts';

/** The keys the operator writes into a client Secret. */
export const CLIENT_SECRET_KEYS: readonly string[] = ['token', 'authorization', 'expiresAt', 'url'];

/** Base64 characters of one kept value: a JWT carrying 32 metadata entries of the CRD's largest takes about 21,100. */
export const MAX_CACHED_VALUE_CHARS = 32 * 1024;
/** Characters (keys and values) of a client Secret's labels, and of its annotations, the cache keeps. */
export const MAX_CACHED_METADATA_CHARS = 16 * 1024;

const partialCopies = new WeakSet<V1Secret>();

/** Whether the cached copy of a client Secret left out data or metadata the Secret has. */
export function isPartialCopy(secret: V1Secret): boolean {
  return partialCopies.has(secret);
}

/** Trims a client Secret as it enters the cache (in place: the informer caches this object). */
export function trimClientSecret(secret: V1Secret): void {
  trimObject(secret);
  const metadata: V1ObjectMeta = secret.metadata ?? {};
  const controller = metadata.ownerReferences?.find((r) => r.controller);
  const controlledByItsClient =
    controller?.kind === KIND && controller.apiVersion.startsWith(`${GROUP}/`) && controller.name === metadata.labels?.[CLIENT_LABEL];
  const ourLabels = { [MANAGED_BY_LABEL]: metadata.labels?.[MANAGED_BY_LABEL]!, [CLIENT_LABEL]: metadata.labels?.[CLIENT_LABEL]! };
  if (!controlledByItsClient) {
    // Enough to index it by client and to see whose it is: nothing of it is ever written back.
    const { name, namespace, uid, resourceVersion } = metadata;
    secret.metadata = { name, namespace, uid, resourceVersion, labels: ourLabels, ownerReferences: controller ? [controller] : undefined };
    if (secret.data !== undefined) secret.data = undefined;
    partialCopies.add(secret);
    return;
  }
  let partial = false;
  const data = secret.data ?? {};
  const kept: Record<string, string> = {};
  for (const [key, value] of Object.entries(data)) {
    if (CLIENT_SECRET_KEYS.includes(key) && value.length <= MAX_CACHED_VALUE_CHARS) kept[key] = value;
    else partial = true;
  }
  if (partial) secret.data = kept;
  const labelsFit = mapChars(metadata.labels) <= MAX_CACHED_METADATA_CHARS;
  const annotationsFit = mapChars(metadata.annotations) <= MAX_CACHED_METADATA_CHARS;
  // A write replaces every owner reference with the client's own: only that one need be kept.
  const extraOwners = metadata.ownerReferences!.length > 1;
  if (!labelsFit || !annotationsFit || extraOwners) {
    secret.metadata = {
      ...metadata,
      labels: labelsFit ? metadata.labels : ourLabels,
      annotations: annotationsFit ? metadata.annotations : undefined,
      ownerReferences: [controller!],
    };
    partial ||= !labelsFit || !annotationsFit;
  }
  if (partial) partialCopies.add(secret);
}

/** FliptClients are only ever patched, and of their annotations only a rotation request is read. */
export function trimFliptClient(client: FliptClient): void {
  trimObject(client);
  const annotations = client.metadata.annotations;
  if (annotations === undefined) return;
  const request = annotations[ROTATE_ANNOTATION];
  if (Object.keys(annotations).length > (request === undefined ? 0 : 1)) {
    client.metadata = { ...client.metadata, annotations: request === undefined ? undefined : { [ROTATE_ANNOTATION]: request } };
  }
}

function mapChars(map: Readonly<Record<string, string>> | undefined): number {
  let chars = 0;
  for (const key in map) chars += key.length + map[key]!.length;
  return chars;
}
