// Which FliptClient a service account may exchange its token for: an in-memory index from
// (namespace, service account) to the FliptClients whose spec.serviceAccounts lists it, fed by the
// operator's FliptClient informer so that answering a request costs no API call.
//
// A service account listed by two or more FliptClients of its namespace is ambiguous: neither client
// is served for it (the exchange answers 403), and each client learns which others claim its service
// accounts through conflictsByServiceAccount(), for its status condition. Service accounts are never matched
// across namespaces: a FliptClient only ever claims service accounts of its own namespace.
import type { FliptClient } from '../vocabulary/fliptclient.ts';

export type ServiceAccountLookup =
  | { kind: 'unbound' }
  | { kind: 'ambiguous'; clients: string[] }
  | { kind: 'bound'; namespace: string; name: string; key: string };

interface Entry {
  namespace: string;
  name: string;
  serviceAccounts: ReadonlySet<string>;
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

export class ServiceAccountIndex {
  /** client key -> what that client claims */
  private readonly clients = new Map<string, Entry>();
  /** "<namespace>/<serviceaccount>" -> names of the clients in that namespace that claim it */
  private readonly claims = new Map<string, Set<string>>();

  /**
   * Records the client's current spec.serviceAccounts, replacing what it claimed before. A client
   * being deleted (deletionTimestamp set) claims nothing: its token is being revoked.
   *
   * Returns the keys ("<namespace>/<name>") of the *other* clients whose conflicts changed because of
   * this update, so the caller can requeue them to refresh their conditions.
   */
  upsert(client: FliptClient): string[] {
    const { namespace, name } = client.metadata;
    const wanted = client.metadata.deletionTimestamp ? [] : (client.spec?.serviceAccounts ?? []);
    const serviceAccounts = new Set(wanted.filter((sa) => typeof sa === 'string' && sa.length > 0));
    return this.replace(namespace, name, serviceAccounts);
  }

  /** Forgets the client. Returns the keys of other clients whose conflicts changed, as upsert does. */
  remove(namespace: string, name: string): string[] {
    return this.replace(namespace, name, new Set());
  }

  lookup(namespace: string, serviceAccount: string): ServiceAccountLookup {
    const names = this.claims.get(key(namespace, serviceAccount));
    if (!names || names.size === 0) return { kind: 'unbound' };
    if (names.size > 1) return { kind: 'ambiguous', clients: [...names].sort() };
    const name = names.values().next().value as string;
    return { kind: 'bound', namespace, name, key: key(namespace, name) };
  }

  /** For each of the client's service accounts that another client also claims: the other claimants, sorted. */
  conflictsByServiceAccount(namespace: string, name: string): Record<string, string[]> {
    const entry = this.clients.get(key(namespace, name));
    const result: Record<string, string[]> = {};
    if (!entry) return result;
    for (const sa of [...entry.serviceAccounts].sort()) {
      const others = [...(this.claims.get(key(namespace, sa)) ?? [])].filter((other) => other !== name).sort();
      if (others.length > 0) result[sa] = others;
    }
    return result;
  }

  private replace(namespace: string, name: string, serviceAccounts: ReadonlySet<string>): string[] {
    const clientKey = key(namespace, name);
    const before = this.neighbours(namespace, name);
    const previous = this.clients.get(clientKey);
    for (const sa of previous?.serviceAccounts ?? []) {
      if (serviceAccounts.has(sa)) continue;
      const claimKey = key(namespace, sa);
      const names = this.claims.get(claimKey);
      names?.delete(name);
      if (names?.size === 0) this.claims.delete(claimKey);
    }
    for (const sa of serviceAccounts) {
      const claimKey = key(namespace, sa);
      let names = this.claims.get(claimKey);
      if (!names) {
        names = new Set();
        this.claims.set(claimKey, names);
      }
      names.add(name);
    }
    if (serviceAccounts.size > 0) this.clients.set(clientKey, { namespace, name, serviceAccounts });
    else this.clients.delete(clientKey);
    const after = this.neighbours(namespace, name);
    // Another client's conflict list changes exactly when its conflict with this one appears or goes.
    const changed: string[] = [];
    for (const other of before) if (!after.has(other)) changed.push(key(namespace, other));
    for (const other of after) if (!before.has(other)) changed.push(key(namespace, other));
    return changed.sort();
  }

  private neighbours(namespace: string, name: string): Set<string> {
    const result = new Set<string>();
    const entry = this.clients.get(key(namespace, name));
    for (const sa of entry?.serviceAccounts ?? []) {
      for (const other of this.claims.get(key(namespace, sa)) ?? []) if (other !== name) result.add(other);
    }
    return result;
  }
}

/**
 * An informer `onChange` handler that keeps the index in step. The Informer wrapper reports adds,
 * updates and deletes through the same callback, and its cache already reflects the event when the
 * callback runs, so `current` (usually `(ns, name) => informer.get(name, ns)`) tells them apart.
 * `onConflictsChanged` receives the keys of other clients whose conflicts changed.
 */
export function indexUpdater(
  index: ServiceAccountIndex,
  current: (namespace: string, name: string) => FliptClient | undefined,
  onConflictsChanged?: (keys: string[]) => void,
): (client: FliptClient) => void {
  return (client) => {
    const { namespace, name } = client.metadata;
    const live = current(namespace, name);
    const changed = live ? index.upsert(live) : index.remove(namespace, name);
    if (changed.length > 0) onConflictsChanged?.(changed);
  };
}
