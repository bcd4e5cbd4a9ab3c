// Switching a target between static tokens and JWTs, from the target's side. Like a rotation, the new
// kind is accepted by every Flipt pod before any client's Secret switches to it, and the old kind stays
// accepted for the overlap after the last client switched:
//   static -> JWT: (1) the jwt method is added beside the static tokens, one restart; (2) each client's
//     Secret switches to a JWT once every pod validates JWTs; (3) once every client holds a JWT and the
//     last overlap has passed, the static tokens leave together, one more restart.
//   JWT -> static: (1) a static token is issued for each client into the credentials Secret and
//     registered beside the jwt method, one restart; (2) each client's Secret switches to its token once
//     every pod accepts it; (3) once every client holds one and the last overlap has passed, the jwt
//     method leaves, one more restart.
// Pure.
import type { TargetConfig } from '../config/operator-config.ts';
import { credentialKindOf, kindSwitchOverlapEndsAt } from '../vocabulary/credential-kind.ts';
import { credentialKey, isWellFormedToken, tokenIdFor } from '../vocabulary/credentials.ts';
import { servedBy, type FliptClient } from '../vocabulary/fliptclient.ts';
import { nextTokenIdFor } from '../vocabulary/rotation.ts';

interface StaticToken {
  id: string;
  token: string;
}

/**
 * When every client of the target holds the target's kind of credential and the last overlap after a
 * switch has ended (-Infinity when no client ever switched); undefined while a client still holds the
 * other kind. Clients not yet issued anything do not count: they hold nothing to switch from.
 */
function switchCompleteAt(target: TargetConfig, clients: readonly FliptClient[]): number | undefined {
  let latest = -Infinity;
  for (const client of clients) {
    if (!servedBy(target, client) || !client.status?.credentialFingerprint) continue;
    if (credentialKindOf(client) !== target.credentialKind) return undefined;
    latest = Math.max(latest, kindSwitchOverlapEndsAt(client) ?? -Infinity);
  }
  return latest;
}

/** Whether the credentials of the kind the target is leaving must still be accepted. */
export function oldKindStillAccepted(target: TargetConfig, clients: readonly FliptClient[], now: number): boolean {
  const completeAt = switchCompleteAt(target, clients);
  return completeAt === undefined || now < completeAt;
}

/** Whether Flipt's config needs the operator's jwt method: JWT mode, or a switch back to static tokens not yet complete. */
export function jwtMethodWanted(target: TargetConfig, clients: readonly FliptClient[], now: number): boolean {
  return target.credentialKind === 'jwt' || oldKindStillAccepted(target, clients, now);
}

/**
 * The static tokens a target keeps for a client that holds a JWT: with static tokens, the one issued
 * for the switch back (under `<id>`); with JWTs, those it held before, until the switch is complete.
 */
export function staticTokensOfJwtClient(
  target: TargetConfig,
  client: FliptClient,
  credentials: Readonly<Record<string, string>>,
  stillAccepted: boolean,
): StaticToken[] {
  const id = tokenIdFor(client.metadata.namespace, client.metadata.name);
  const ids = target.credentialKind === 'staticToken' ? [id] : stillAccepted ? [id, nextTokenIdFor(id)] : [];
  return ids.flatMap((tokenId) => {
    const token = credentials[credentialKey(target, tokenId)];
    return isWellFormedToken(token) ? [{ id: tokenId, token }] : [];
  });
}

/** Credential keys to issue a static token under: clients that hold a JWT when the target uses static tokens and have none issued yet. */
export function switchBackTokensToIssue(target: TargetConfig, clients: readonly FliptClient[], credentials: Readonly<Record<string, string>>): string[] {
  if (target.credentialKind !== 'staticToken') return [];
  const keys: string[] = [];
  for (const client of clients) {
    if (!servedBy(target, client) || credentialKindOf(client) !== 'jwt') continue;
    const key = credentialKey(target, tokenIdFor(client.metadata.namespace, client.metadata.name));
    if (!isWellFormedToken(credentials[key])) keys.push(key);
  }
  return keys.sort();
}

/** When the switch completes (the last overlap ends), if that is still to come: when to look again. */
export function nextKindSwitchEvent(target: TargetConfig, clients: readonly FliptClient[], now: number): number | undefined {
  const completeAt = switchCompleteAt(target, clients);
  return completeAt !== undefined && completeAt > now ? completeAt : undefined;
}
