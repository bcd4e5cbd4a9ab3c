// Keeps the JWT signing keys Secret in the operator's namespace (leader only): reads it fresh from the
// API server, asks decideSigningKeys what to do, generates a key when one is due and writes the Secret
// with the resourceVersion it read (a stale read means retry, never a lost key). Every replica reads
// the same Secret through its cache to sign and to serve the JWKS. The private keys never reach a log.
import type { V1Secret } from '@kubernetes/client-node';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { Logger } from 'pino';
import type { SigningKeysConfig } from '../config/operator-config.ts';
import type { KubeClients } from '../kube/client.ts';
import { unlessNotFound } from '../kube/errors.ts';
import { decodeSecretData, encodeSecretData } from '../kube/secret-data.ts';
import type { Clock } from '../runtime/clock.ts';
import type { ReconcileResult } from '../runtime/controller.ts';
import { MANAGED_BY, MANAGED_BY_LABEL } from '../vocabulary/fliptclient.ts';
import { SIGNING_ALGORITHM, parseSigningKeys, signingKeysData, type KeyTimes, type SigningKey } from '../vocabulary/signing-keys.ts';
import { decideSigningKeys, type KeySchedule } from './key-schedule.ts';

export interface SigningKeysReconcilerDeps {
  api: KubeClients;
  config: SigningKeysConfig;
  /** The longest JWT lifetime of any target. */
  maxLifetime: number;
  /** Whether a target uses JWTs or a client still holds one. */
  needed: () => boolean;
  log: Logger;
  clock: Clock;
}

export class SigningKeysReconciler {
  private readonly deps: SigningKeysReconcilerDeps;

  constructor(deps: SigningKeysReconcilerDeps) {
    this.deps = deps;
  }

  reconcile = async (): Promise<ReconcileResult> => {
    const { api, config, log, clock } = this.deps;
    const existing = await this.read();
    const keys = parseSigningKeys(decodeSecretData(existing?.data));
    const schedule: KeySchedule = { rotateEvery: config.rotateEvery, publishAhead: config.publishAhead, maxLifetime: this.deps.maxLifetime };
    const step = decideSigningKeys(keys, schedule, this.deps.needed(), clock.now());
    if (step.create || step.retire.length > 0) {
      const kept = keys.filter((k) => !step.retire.includes(k.kid));
      const created = step.create ? await generateKey(step.create) : undefined;
      const data = encodeSecretData(signingKeysData(created ? [...kept, created] : kept));
      if (existing) await api.core.replaceNamespacedSecret({ name: config.secretName, namespace: config.namespace, body: { ...existing, data } });
      else await api.core.createNamespacedSecret({ namespace: config.namespace, body: signingKeysSecret(config, data) });
      if (created) log.info({ kid: created.kid, signsFrom: new Date(created.signsFrom).toISOString(), retireAt: new Date(created.retireAt).toISOString() }, 'created a JWT signing key');
      if (step.retire.length > 0) log.info({ kids: step.retire }, 'retired JWT signing keys');
    }
    return step.requeueAfterMs !== undefined ? { requeueAfterMs: step.requeueAfterMs } : undefined;
  };

  private read(): Promise<V1Secret | undefined> {
    return unlessNotFound(this.deps.api.core.readNamespacedSecret({ name: this.deps.config.secretName, namespace: this.deps.config.namespace }));
  }
}

async function generateKey(times: KeyTimes): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint({ kty: privateJwk.kty!, crv: privateJwk.crv!, x: privateJwk.x!, y: privateJwk.y! });
  return { kid, privateJwk, ...times };
}

function signingKeysSecret(config: SigningKeysConfig, data: Record<string, string>): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: config.secretName,
      namespace: config.namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY },
      annotations: { 'flipt.io/description': 'JWT signing keys of flipt-client-operator (private): one entry per key id; the public halves are served at /.well-known/jwks.json' },
    },
    type: 'Opaque',
    data,
  };
}
