// Rotation as every part of the operator reads it: when a FliptClient asks for a new token (its
// schedule, or the flipt.io/rotate annotation), how long the old one stays valid once the client Secret
// holds the new one, and the id the new token is registered under while both are valid.
//
// The protocol, each step durable before the next:
//   1. the target issues the new token into its credentials Secret, under the key of `<id>_next`;
//   2. Flipt's config carries `<id>` (old) and `<id>_next` (new); one coalesced restart; rollout;
//   3. the FliptClient records the new token as its token of record and the switch's time (status
//      first), then its Secret switches to it and its rolloutRestartTargets restart;
//   4. once the Secret holds the new token and the overlap has passed, `<id>` takes the new token and
//      `<id>_next` goes, with a second coalesced restart.
import { parseDuration } from '../util/duration.ts';
import type { FliptClient } from './fliptclient.ts';

/** `kubectl annotate fc/x flipt.io/rotate=<any new value>` rotates now, once per distinct value. */
export const ROTATE_ANNOTATION = 'flipt.io/rotate';

const DEFAULT_OVERLAP_MS = 10 * 60_000;

/**
 * The id a new token is registered under until the old one is retired. Ids of FliptClients hold
 * exactly one '_' (namespaces and names are DNS labels), so this one can never be another client's.
 */
export function nextTokenIdFor(tokenId: string): string {
  return `${tokenId}_next`;
}

/** spec.rotation.every in ms; undefined when the client rotates only on request. */
export function rotationPeriod(client: FliptClient): number | undefined {
  return client.spec.rotation?.every ? parseDuration(client.spec.rotation.every) : undefined;
}

/** How long the old token stays valid once the client Secret holds the new one (spec.rotation.overlap, default 10m). */
export function rotationOverlap(client: FliptClient): number {
  const overlap = client.spec.rotation?.overlap;
  return (overlap ? parseDuration(overlap) : undefined) ?? DEFAULT_OVERLAP_MS;
}

/** When the current token is due for its scheduled rotation: issuedAt + every. */
export function scheduledRotationAt(client: FliptClient): number | undefined {
  const every = rotationPeriod(client);
  const issuedAt = client.status?.issuedAt ? Date.parse(client.status.issuedAt) : NaN;
  return every === undefined || Number.isNaN(issuedAt) ? undefined : issuedAt + every;
}

/** An annotation value not yet answered: a rotation requested by hand. */
export function requestedRotation(client: FliptClient): string | undefined {
  const value = client.metadata.annotations?.[ROTATE_ANNOTATION];
  return value && value !== client.status?.lastRotateRequest ? value : undefined;
}

/** Why the client wants a new token now, if it does: on request first, then on its schedule. */
export function rotationTrigger(client: FliptClient, now: number): 'request' | 'schedule' | undefined {
  if (!client.status?.credentialFingerprint) return undefined;
  if (requestedRotation(client) !== undefined) return 'request';
  const due = scheduledRotationAt(client);
  return due !== undefined && due <= now ? 'schedule' : undefined;
}

/** When the old token may leave Flipt: the overlap after the client Secret switched (status.issuedAt). */
export function overlapEndsAt(client: FliptClient): number | undefined {
  const switchedAt = client.status?.issuedAt ? Date.parse(client.status.issuedAt) : NaN;
  return Number.isNaN(switchedAt) ? undefined : switchedAt + rotationOverlap(client);
}
