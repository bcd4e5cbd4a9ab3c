// Which kind of credential a FliptClient holds (a static token or a JWT), as its status records it,
// and how long the credential it switched away from stays valid. Switching a target between kinds
// works like a rotation: the new credential is accepted by every Flipt pod before the client's Secret
// switches, and the old one stays valid for spec.rotation.overlap (default 10m) after that, so a pod
// that read the file a moment before the switch keeps working.
import type { CredentialKind } from '../config/operator-config.ts';
import type { FliptClient } from './fliptclient.ts';
import { rotationOverlap } from './rotation.ts';

export function credentialKindOf(client: FliptClient): CredentialKind {
  return client.status?.credentialKind ?? 'staticToken';
}

/** When the client's Secret switched to the kind it holds now; undefined if it never switched. */
function kindSwitchedAt(client: FliptClient): number | undefined {
  const since = client.status?.credentialKindSince ? Date.parse(client.status.credentialKindSince) : NaN;
  return Number.isNaN(since) ? undefined : since;
}

/** Until when the credential of the other kind stays valid: the overlap after the switch. */
export function kindSwitchOverlapEndsAt(client: FliptClient): number | undefined {
  const switchedAt = kindSwitchedAt(client);
  return switchedAt === undefined ? undefined : switchedAt + rotationOverlap(client);
}
