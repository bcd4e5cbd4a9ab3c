// The promise of zero-downtime rotation and switching, checked at every revision the API server
// recorded: every credential any client Secret holds is accepted by every config a running Flipt pod
// may run: the one whose hash Flipt's pod template carries and, while a rollout has not finished, the
// ones the pods of earlier templates still run. A static token: that config registers it (its references resolved against the
// credentials Secret as it was when that config was current), and it is in the credentials Secret. A
// JWT: that config's jwt method validates its issuer and audience, the signing keys Secret holds its
// kid, and it has not expired. The recorded versions of all objects are merged in the order of their
// resourceVersions (one etcd: one global order) and replayed.
import assert from 'node:assert/strict';
import type { KubernetesObject, V1ConfigMap, V1Deployment, V1Secret } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { configHash, parseManagedIds } from '../../src/fliptinstance/plan.ts';
import { rolloutState } from '../../src/fliptinstance/workload.ts';
import { decodeSecretData } from '../../src/kube/secret-data.ts';
import { readJwt } from '../../src/vocabulary/client-jwt.ts';
import { revision, type ObjectHistory } from './api-watch.ts';

export interface InvariantInputs {
  configMaps: ObjectHistory<V1ConfigMap>;
  credentialSecrets: ObjectHistory<V1Secret>;
  deployments: ObjectHistory<V1Deployment>;
  clientSecrets: ReadonlyArray<ObjectHistory<V1Secret>>;
  /** The JWT signing keys Secret, when clients may hold JWTs. */
  signingKeys?: ObjectHistory<V1Secret>;
}

/** A version at its revision, and when the watch received it (no earlier than it was written). */
type Event = { at: number; receivedAt: number } & (
  | { kind: 'configMap'; obj: V1ConfigMap }
  | { kind: 'credentials'; obj: V1Secret }
  | { kind: 'deployment'; obj: V1Deployment }
  | { kind: 'client'; obj: V1Secret }
  | { kind: 'keys'; obj: V1Secret }
);

/** What a config accepts: static tokens, and JWTs of an issuer for audiences when its jwt method is on. */
interface Accepted {
  tokens: Set<string>;
  jwt: { issuer: string; audiences: string[] } | undefined;
}

const decode = (secret: V1Secret | undefined) => decodeSecretData(secret?.data);

/** Replays every recorded version from revision `from` on; returns how many states were checked. */
export function assertSecretsAlwaysAccepted(inputs: InvariantInputs, from: number): number {
  const of = <T extends KubernetesObject, K extends Event['kind']>(history: ObjectHistory<T>, kind: K) =>
    history.versions.map((obj) => ({ at: revision(obj), receivedAt: history.receivedAt(obj), kind, obj }) as Event);
  const events: Event[] = [
    ...of(inputs.configMaps, 'configMap'),
    ...of(inputs.credentialSecrets, 'credentials'),
    ...of(inputs.deployments, 'deployment'),
    ...inputs.clientSecrets.flatMap((h) => of(h, 'client')),
    ...(inputs.signingKeys ? of(inputs.signingKeys, 'keys') : []),
  ].sort((a, b) => a.at - b.at);
  let configMap: V1ConfigMap | undefined;
  let credentials: Record<string, string> = {};
  let deployment: V1Deployment | undefined;
  /** The restart keys of the configs running pods may hold: the template's, and older ones until a rollout finishes. */
  let running: Array<string | undefined> = [];
  const clients = new Map<string, string>();
  let signingKids = new Set<string>();
  // Every config the target has held, by the restart key it had with the credentials of its time.
  const acceptedByHash = new Map<string, Accepted>();
  let checked = 0;
  for (const event of events) {
    if (event.kind === 'configMap') configMap = event.obj;
    else if (event.kind === 'credentials') credentials = decode(event.obj);
    else if (event.kind === 'deployment') {
      deployment = event.obj;
      const hash = deployment.spec?.template?.metadata?.annotations?.['flipt.io/config-hash'];
      if (rolloutState('Deployment', deployment).done) running = [hash];
      else if (!running.includes(hash)) running.push(hash);
    }
    else if (event.kind === 'keys') signingKids = new Set(Object.keys(event.obj.data ?? {}));
    else clients.set(event.obj.metadata!.name!, decode(event.obj).token ?? '');
    if (configMap) {
      const ids = parseManagedIds(configMap.metadata?.annotations?.['flipt.io/managed-tokens']) ?? [];
      const text = configMap.data?.['default.yml'] ?? '';
      const methods = parse(text)?.authentication?.methods;
      const tokens = methods?.token?.storage?.tokens ?? {};
      const referenced: Record<string, string> = {};
      for (const id of ids) if (tokens[id] && credentials[id]) referenced[id] = credentials[id]!;
      const jwt = methods?.jwt?.enabled ? { issuer: methods.jwt.validate_claims?.issuer, audiences: methods.jwt.validate_claims?.audiences ?? [] } : undefined;
      acceptedByHash.set(configHash(text, referenced), { tokens: new Set(Object.values(referenced)), jwt });
    }
    if (event.at < from || !deployment) continue;
    for (const hash of running) {
      const accepted = hash ? acceptedByHash.get(hash) : undefined;
      assert.ok(accepted, `revision ${event.at}: Flipt's pods run restart key ${hash?.slice(0, 12)}, a config never seen with its credentials`);
      assertAccepted(accepted, event, `revision ${event.at} (pods of restart key ${hash!.slice(0, 12)})`);
    }
    checked++;
  }
  return checked;

  function assertAccepted(accepted: Accepted, event: Event, when: string): void {
    for (const [secret, credential] of clients) {
      const jwt = readJwt(credential);
      if (jwt) {
        assert.ok(accepted.jwt, `${when}: Secret ${secret} holds a JWT, and the config Flipt runs has no jwt method`);
        assert.equal(jwt.issuer, accepted.jwt.issuer, `${when}: Secret ${secret} holds a JWT of another issuer`);
        assert.ok(jwt.audiences.some((a) => accepted.jwt!.audiences.includes(a)), `${when}: Secret ${secret} holds a JWT for another audience`);
        assert.ok(jwt.kid && signingKids.has(jwt.kid), `${when}: Secret ${secret} holds a JWT whose key is not published`);
        assert.ok(jwt.expiresAt > event.receivedAt, `${when}: Secret ${secret} holds an expired JWT`);
        continue;
      }
      assert.ok(accepted.tokens.has(credential), `${when}: Secret ${secret} holds a token the config Flipt runs does not accept`);
      assert.ok(Object.values(credentials).includes(credential), `${when}: Secret ${secret} holds a token the credentials Secret lacks`);
    }
  }
}

/** The latest revision any of the histories has seen. */
export function latestRevision(histories: ReadonlyArray<ObjectHistory<KubernetesObject>>): number {
  return Math.max(0, ...histories.flatMap((h) => h.versions.map(revision)));
}
