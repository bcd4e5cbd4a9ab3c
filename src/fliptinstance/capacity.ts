// How many clients one target can register, decided before anything is written: Flipt's ConfigMap and
// the credentials Secret are API objects of at most 1 MiB of data (and 256 KiB of annotations, where
// the record of managed ids lives). Tokens already registered keep their place, at the size they are
// registered with; what is new (clients, the second token a rotation registers, the bytes new metadata
// adds) is admitted after them, oldest client first, while it fits. A client that does not fit is
// refused alone (TargetFull) and every other client, existing or new, is still registered; a rotation
// or new metadata that does not fit waits, and its client keeps its token. A per-namespace limit keeps
// one team from taking a shared target's whole capacity (NamespaceLimitReached). Pure.
import type { TargetConfig } from '../config/operator-config.ts';
import type { Refusal } from '../vocabulary/registration.ts';
import type { ClientCredential } from './plan.ts';

/** The API server's limits (ConfigMap and Secret data, all annotations of an object). */
export const DATA_LIMIT_BYTES = 1024 * 1024;
export const ANNOTATIONS_LIMIT_BYTES = 256 * 1024;

export interface TargetSizes {
  /** Bytes of the ConfigMap's data (keys and values), its annotations, and the credentials Secret's data. */
  configMap: number;
  annotations: number;
  secret: number;
}

/** How full the target is: the largest share of any of its limits. */
export function fillRatio(sizes: TargetSizes): { configMap: number; secret: number } {
  return {
    configMap: Math.max(sizes.configMap / DATA_LIMIT_BYTES, sizes.annotations / ANNOTATIONS_LIMIT_BYTES),
    secret: sizes.secret / DATA_LIMIT_BYTES,
  };
}

/** The bytes string data or annotations count toward their limit (keys and values), leaving out the keys in `except`. */
export function dataBytes(data: Readonly<Record<string, string>> | undefined, except: ReadonlySet<string> = new Set()): number {
  let bytes = 0;
  for (const [key, value] of Object.entries(data ?? {})) if (!except.has(key)) bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  return bytes;
}

export function fits(sizes: TargetSizes): boolean {
  return sizes.configMap <= DATA_LIMIT_BYTES && sizes.annotations <= ANNOTATIONS_LIMIT_BYTES && sizes.secret <= DATA_LIMIT_BYTES;
}

/**
 * Entries of one client admitted or refused together: those the target registers already (`held`, at
 * the size it registers them with), or what it does not yet: a new client's, the next token of a
 * registered client's rotation, or the new metadata of a registered client (its entries as desired,
 * which replace the held ones when admitted, counted by the bytes they add).
 */
interface Candidate {
  owner: string;
  namespace: string;
  part: 'held' | 'rotation' | 'metadata' | 'new';
  createdAt: number;
  entries: ClientCredential[];
  /** An upper bound of the bytes its entries add to the config, the record and the credentials Secret. */
  bytes: TargetSizes;
}

/** Why a target leaves out part of a client: the whole client (refused), or what is new of a registered one (it waits). */
export interface Admission {
  refused: Map<string, Refusal>;
  /** Clients whose rotation has no room: the message says why. */
  rotationsWithoutRoom: Map<string, string>;
  /** Registered clients whose new metadata has no room (they stay registered with the previous one): the message says why. */
  metadataWithoutRoom: Map<string, string>;
}

const RANK: Record<Candidate['part'], number> = { held: 0, rotation: 1, metadata: 1, new: 2 };

/**
 * Orders the entries by priority (registered ones first, then what is new of registered clients, then
 * new clients, each oldest first), applies the per-namespace limits, and returns the candidates in
 * that order with what was left out so far. `registeredMetadata` (token id -> the metadata the config
 * holds for it) charges a registered client whose metadata grew at its registered size first; without
 * it, at its desired size.
 */
export function byPriority(
  target: TargetConfig,
  desired: readonly ClientCredential[],
  registeredIds: ReadonlySet<string>,
  registeredMetadata?: ReadonlyMap<string, Record<string, string>>,
): { candidates: Candidate[] } & Admission {
  const clientsRegistered = new Set(desired.filter((e) => registeredIds.has(e.id)).map((e) => e.owner.key));
  const parts = new Map<string, Candidate>();
  const add = (part: Candidate['part'], entry: ClientCredential, bytes: TargetSizes) => {
    const key = `${part}:${entry.owner.key}`;
    const candidate = parts.get(key) ?? { owner: entry.owner.key, namespace: entry.owner.namespace, part, createdAt: entry.owner.createdAt, entries: [], bytes: { configMap: 0, annotations: 0, secret: 0 } };
    candidate.entries.push(entry);
    candidate.bytes = { configMap: candidate.bytes.configMap + bytes.configMap, annotations: candidate.bytes.annotations + bytes.annotations, secret: candidate.bytes.secret + bytes.secret };
    parts.set(key, candidate);
  };
  for (const entry of desired) {
    const estimate = estimateBytes(entry);
    if (!clientsRegistered.has(entry.owner.key)) add('new', entry, estimate);
    else if (!registeredIds.has(entry.id)) add('rotation', entry, estimate);
    else {
      const previous = registeredMetadata?.get(entry.id);
      const held = previous ? { ...entry, metadata: previous } : entry;
      const heldEstimate = estimateBytes(held);
      if (heldEstimate.configMap >= estimate.configMap) add('held', entry, estimate);
      else {
        add('held', held, heldEstimate);
        add('metadata', entry, { configMap: estimate.configMap - heldEstimate.configMap, annotations: 0, secret: 0 });
      }
    }
  }
  const ordered = [...parts.values()].sort((a, b) => RANK[a.part] - RANK[b.part] || a.createdAt - b.createdAt || (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
  const admission: Admission = { refused: new Map(), rotationsWithoutRoom: new Map(), metadataWithoutRoom: new Map() };
  const limits = target.limits;
  if (!limits) return { candidates: ordered, ...admission };
  const used = new Map<string, { clients: number; bytes: number }>();
  const admitted: Candidate[] = [];
  for (const candidate of ordered) {
    if (admission.refused.has(candidate.owner)) continue;
    const usage = used.get(candidate.namespace) ?? { clients: 0, bytes: 0 };
    const clients = usage.clients + (candidate.part === 'held' || candidate.part === 'new' ? 1 : 0);
    const overClients = limits.clientsPerNamespace !== undefined && clients > limits.clientsPerNamespace;
    const overBytes = limits.bytesPerNamespace !== undefined && usage.bytes + candidate.bytes.configMap > limits.bytesPerNamespace;
    if (overClients || overBytes) {
      const what = overClients ? `${limits.clientsPerNamespace} FliptClients` : `${limits.bytesPerNamespace} bytes of Flipt's config`;
      const past = `target "${target.name}" registers at most ${what} per namespace (targets[].limits), and`;
      if (candidate.part === 'rotation') {
        admission.rotationsWithoutRoom.set(
          candidate.owner,
          `${past} the new token beside the current one would take namespace ${candidate.namespace} past that; the client keeps its token. Delete a FliptClient there, use less metadata, or ask the platform team for a higher limit`,
        );
      } else if (candidate.part === 'metadata') {
        admission.metadataWithoutRoom.set(
          candidate.owner,
          `${past} the new metadata would take namespace ${candidate.namespace} past that; the token stays registered with its previous metadata. Use less metadata, delete a FliptClient there, or ask the platform team for a higher limit`,
        );
      } else {
        admission.refused.set(candidate.owner, {
          reason: 'NamespaceLimitReached',
          message: `Target "${target.name}" registers at most ${what} per namespace (targets[].limits), and namespace ${candidate.namespace} uses that already; delete a FliptClient there, use less metadata, or ask the platform team for another target`,
        });
      }
      continue;
    }
    used.set(candidate.namespace, { clients, bytes: usage.bytes + candidate.bytes.configMap });
    admitted.push(candidate);
  }
  return { candidates: admitted, ...admission };
}

/** The entries of admitted candidates: a client's admitted new metadata replaces its held entries. */
export function entriesOf(candidates: readonly Candidate[]): ClientCredential[] {
  const byId = new Map<string, ClientCredential>();
  for (const candidate of candidates) for (const entry of candidate.entries) byId.set(entry.id, entry);
  return [...byId.values()];
}

/**
 * The candidates that fit beside `overhead` (what the target holds besides them), taken in priority
 * order: one that would not fit is left out alone, and a smaller one after it may still fit. Estimates
 * are upper bounds, so what is admitted fits.
 */
export function admitWithin(target: TargetConfig, candidates: readonly Candidate[], overhead: TargetSizes, admission: Admission): ClientCredential[] {
  let total = { ...overhead };
  const admitted: Candidate[] = [];
  for (const candidate of candidates) {
    if (admission.refused.has(candidate.owner)) continue;
    const next = { configMap: total.configMap + candidate.bytes.configMap, annotations: total.annotations + candidate.bytes.annotations, secret: total.secret + candidate.bytes.secret };
    if (!fits(next)) {
      if (candidate.part === 'rotation') {
        admission.rotationsWithoutRoom.set(
          candidate.owner,
          `target "${target.name}" has no room for the new token beside the current one: its config would pass the API server's 1 MiB limit (${describe(total)}); the client keeps its token. Register clients with another target, use less metadata, or use JWT mode`,
        );
      } else if (candidate.part === 'metadata') {
        admission.metadataWithoutRoom.set(
          candidate.owner,
          `target "${target.name}" has no room for the new metadata: its config would pass the API server's 1 MiB limit (${describe(total)}); the token stays registered with its previous metadata. Use less metadata, or register clients with another target`,
        );
      } else {
        admission.refused.set(candidate.owner, {
          reason: 'TargetFull',
          message: `Target "${target.name}" is full: its config would pass the API server's 1 MiB limit (${describe(total)}); register with another target, use less metadata, or use JWT mode`,
        });
      }
      continue;
    }
    total = next;
    admitted.push(candidate);
  }
  return entriesOf(admitted);
}

function describe(sizes: TargetSizes): string {
  const ratio = fillRatio(sizes);
  return `ConfigMap ${Math.round(ratio.configMap * 100)}% and credentials Secret ${Math.round(ratio.secret * 100)}% full`;
}

/**
 * An upper bound of the bytes one entry adds: its lines in the config (as the renderer writes them: two
 * spaces an indentation level, tokens five levels deep, every string at most as long as its JSON
 * form), its id in the record, and its credential in the Secret.
 */
export function estimateBytes(entry: ClientCredential): TargetSizes {
  const quoted = (text: string) => Buffer.byteLength(JSON.stringify(text));
  let configMap = 10 + quoted(entry.id) + 2; // "<id>:\n"
  configMap += 12 + 'credential: '.length + quoted(entry.credential) + 1;
  configMap += 12 + 'metadata:'.length + 1;
  for (const [key, value] of Object.entries(entry.metadata)) configMap += 14 + quoted(key) + 2 + quoted(value) + 1;
  return {
    configMap,
    annotations: quoted(entry.id) + 1,
    secret: Buffer.byteLength(entry.credentialKey) + entry.token.length,
  };
}
