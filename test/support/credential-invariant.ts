// The promise of zero-downtime rotation, checked at every revision the API server recorded: every
// token any client Secret holds is accepted by the config whose hash Flipt's pod template carries
// (its references resolved against the credentials Secret as it was when that config was current),
// and is in the credentials Secret. The recorded versions of all objects are merged in the order of
// their resourceVersions (one etcd: one global order) and replayed.
import assert from 'node:assert/strict';
import type { KubernetesObject, V1ConfigMap, V1Deployment, V1Secret } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { configHash, parseManagedIds } from '../../src/fliptinstance/plan.ts';
import { revision, type ObjectHistory } from './api-watch.ts';

export interface InvariantInputs {
  configMaps: ObjectHistory<V1ConfigMap>;
  credentialSecrets: ObjectHistory<V1Secret>;
  deployments: ObjectHistory<V1Deployment>;
  clientSecrets: ReadonlyArray<ObjectHistory<V1Secret>>;
}

type Event = { at: number } & ({ kind: 'configMap'; obj: V1ConfigMap } | { kind: 'credentials'; obj: V1Secret } | { kind: 'deployment'; obj: V1Deployment } | { kind: 'client'; obj: V1Secret });

const decode = (secret: V1Secret | undefined) => Object.fromEntries(Object.entries(secret?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));

/** Replays every recorded version from revision `from` on; returns how many states were checked. */
export function assertSecretsAlwaysAccepted(inputs: InvariantInputs, from: number): number {
  const events: Event[] = [
    ...inputs.configMaps.versions.map((obj) => ({ at: revision(obj), kind: 'configMap' as const, obj })),
    ...inputs.credentialSecrets.versions.map((obj) => ({ at: revision(obj), kind: 'credentials' as const, obj })),
    ...inputs.deployments.versions.map((obj) => ({ at: revision(obj), kind: 'deployment' as const, obj })),
    ...inputs.clientSecrets.flatMap((h) => h.versions.map((obj) => ({ at: revision(obj), kind: 'client' as const, obj }))),
  ].sort((a, b) => a.at - b.at);
  let configMap: V1ConfigMap | undefined;
  let credentials: Record<string, string> = {};
  let deployment: V1Deployment | undefined;
  const clients = new Map<string, string>();
  // Every config the target has held, by the restart key it had with the credentials of its time.
  const acceptedByHash = new Map<string, Set<string>>();
  let checked = 0;
  for (const event of events) {
    if (event.kind === 'configMap') configMap = event.obj;
    else if (event.kind === 'credentials') credentials = decode(event.obj);
    else if (event.kind === 'deployment') deployment = event.obj;
    else clients.set(event.obj.metadata!.name!, decode(event.obj).token ?? '');
    if (configMap) {
      const ids = parseManagedIds(configMap.metadata?.annotations?.['flipt.io/managed-tokens']);
      const text = configMap.data?.['default.yml'] ?? '';
      const tokens = parse(text)?.authentication?.methods?.token?.storage?.tokens ?? {};
      const referenced: Record<string, string> = {};
      for (const id of ids) if (tokens[id] && credentials[id]) referenced[id] = credentials[id]!;
      acceptedByHash.set(configHash(text, referenced), new Set(Object.values(referenced)));
    }
    if (event.at < from || !deployment) continue;
    const running = deployment.spec?.template?.metadata?.annotations?.['flipt.io/config-hash'];
    const accepted = running ? acceptedByHash.get(running) : undefined;
    assert.ok(accepted, `revision ${event.at}: Flipt's pod template carries restart key ${running?.slice(0, 12)}, a config never seen with its credentials`);
    for (const [secret, token] of clients) {
      assert.ok(accepted.has(token), `revision ${event.at}: Secret ${secret} holds a token the config Flipt runs does not accept`);
      assert.ok(Object.values(credentials).includes(token), `revision ${event.at}: Secret ${secret} holds a token the credentials Secret lacks`);
    }
    checked++;
  }
  return checked;
}

/** The latest revision any of the histories has seen. */
export function latestRevision(histories: ReadonlyArray<ObjectHistory<KubernetesObject>>): number {
  return Math.max(0, ...histories.flatMap((h) => h.versions.map(revision)));
}
