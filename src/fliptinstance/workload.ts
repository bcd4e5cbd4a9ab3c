// Reading a Flipt Deployment or StatefulSet: which config hash its pods should run, when we last
// restarted it, whether someone else rolled it since, whether the rollout has finished, and what the
// containers that may run Flipt are given (variables, the credentials Secret).
import type { V1Container, V1Deployment, V1PodSpec, V1StatefulSet, V1Volume } from '@kubernetes/client-node';
import type { RolloutState } from '../vocabulary/registration.ts';
import { directory, type CredentialsDelivery } from './credentials-delivery.ts';
import type { PodEnv } from './flipt-env.ts';

export type Workload = V1Deployment | V1StatefulSet;

/** On the pod template: the restart key (config hash) Flipt's pods should run with. */
export const CONFIG_HASH_ANNOTATION = 'flipt.io/config-hash';
/** On the pod template: when the operator last restarted Flipt. */
export const RESTARTED_AT_ANNOTATION = 'flipt.io/restarted-at';
/** On the workload: the metadata.generation our last restart produced. */
export const RESTART_GENERATION_ANNOTATION = 'flipt.io/restart-generation';

/** What the target step reads from the workload. */
export interface WorkloadView {
  configHash: string | undefined;
  restartedAtMs: number | undefined;
  /** Someone else changed the pod template since our last restart (a `helm upgrade` rolling Flipt, say). */
  changedSinceOurRestart: boolean;
  rollout: RolloutState;
  /** The variables the containers that may run Flipt set: Flipt reads some over its config, and its config may name others. */
  env: PodEnv;
  /** How each container that mounts Flipt's config is given the credentials Secret; undefined when no container mounts the config. */
  credentials?: readonly CredentialsDelivery[];
}

/** The target's objects the view looks for in the pod template. */
export interface TargetObjectNames {
  /** Flipt's config file: this key of this ConfigMap. */
  configMap: string;
  configKey: string;
  credentialsSecret: string;
}

export function viewWorkload(kind: 'Deployment' | 'StatefulSet', workload: Workload, names: TargetObjectNames): WorkloadView {
  const annotations = workload.spec?.template?.metadata?.annotations ?? {};
  const restartedAt = annotations[RESTARTED_AT_ANNOTATION] ? Date.parse(annotations[RESTARTED_AT_ANNOTATION]) : NaN;
  const ours = Number(workload.metadata?.annotations?.[RESTART_GENERATION_ANNOTATION] ?? 0);
  const spec = workload.spec?.template?.spec;
  const configPaths = new Map((spec?.volumes ?? []).map((v) => [v.name, configPathsIn(v, names)]));
  const readingConfig = (spec?.containers ?? []).filter((container) =>
    (container.volumeMounts ?? []).some((m) => {
      const paths = configPaths.get(m.name) ?? [];
      return paths.length > 0 && (!m.subPath || paths.includes(m.subPath));
    }),
  );
  return {
    configHash: annotations[CONFIG_HASH_ANNOTATION],
    restartedAtMs: Number.isNaN(restartedAt) ? undefined : restartedAt,
    changedSinceOurRestart: (workload.metadata?.generation ?? 0) > ours,
    rollout: rolloutState(kind, workload),
    // A sidecar beside Flipt has no say in what Flipt reads; where no container mounts the config, it reaches Flipt in a way the operator does not follow.
    env: podEnv(readingConfig.length > 0 ? readingConfig : (spec?.containers ?? [])),
    ...(readingConfig.length > 0 ? { credentials: credentialsDeliveryOf(spec!, readingConfig, names.credentialsSecret) } : {}),
  };
}

/** Where Flipt's config file is in a volume (its paths there); none when the volume does not hold it. */
function configPathsIn(volume: V1Volume, names: TargetObjectNames): string[] {
  const sources = volume.configMap ? [volume.configMap] : (volume.projected?.sources ?? []).flatMap((s) => (s.configMap ? [s.configMap] : []));
  return sources
    .filter((source) => source.name === names.configMap)
    .flatMap((source) => (source.items ? source.items.filter((item) => item.key === names.configKey).map((item) => item.path) : [names.configKey]));
}

/** Every key of the Secret as a file: a volume of it (or a projected source) that lists no items. */
function wholeSecret(volume: V1Volume, secretName: string): boolean {
  if (volume.secret) return volume.secret.secretName === secretName && !volume.secret.items?.length;
  return (volume.projected?.sources ?? []).some((s) => s.secret?.name === secretName && !s.secret.items?.length);
}

function credentialsDeliveryOf(spec: V1PodSpec, containers: readonly V1Container[], secretName: string): CredentialsDelivery[] {
  const volumes = new Set((spec.volumes ?? []).filter((v) => wholeSecret(v, secretName)).map((v) => v.name));
  return containers.map((container) => ({
    container: container.name,
    mountPaths: (container.volumeMounts ?? []).filter((m) => volumes.has(m.name) && !m.subPath && !m.subPathExpr).map((m) => directory(m.mountPath)),
    envFrom: (container.envFrom ?? []).some((e) => e.secretRef?.name === secretName && !e.prefix),
  }));
}

/** The environment of the containers that may run Flipt. */
function podEnv(containers: readonly V1Container[]): PodEnv {
  return {
    containers: containers.map((container) => container.name),
    vars: containers.flatMap((container) =>
      // The kubelet expands $(VAR) in a value: what Flipt gets is then unknown here, as with valueFrom.
      (container.env ?? []).map((e) => ({ container: container.name, name: e.name, value: e.valueFrom || e.value?.includes('$(') ? undefined : (e.value ?? '') })),
    ),
    envFrom: containers.filter((container) => (container.envFrom ?? []).length > 0).map((container) => container.name),
  };
}

/** kubectl rollout status's test: the controller saw the newest template and every replica runs it. */
export function rolloutState(kind: 'Deployment' | 'StatefulSet', workload: Workload): RolloutState {
  const desired = workload.spec?.replicas ?? 1;
  const generation = workload.metadata?.generation ?? 0;
  const status = workload.status ?? {};
  const observed = status.observedGeneration ?? 0;
  if (observed < generation) return { done: false, detail: `waiting for the ${kind} controller to observe generation ${generation}` };
  const updated = status.updatedReplicas ?? 0;
  if (kind === 'Deployment') {
    const s = status as NonNullable<V1Deployment['status']>;
    const available = s.availableReplicas ?? 0;
    const total = s.replicas ?? 0;
    if (updated < desired) return { done: false, detail: `${updated} of ${desired} replicas updated` };
    if (total > updated) return { done: false, detail: `${total - updated} old replicas pending termination` };
    if (available < updated) return { done: false, detail: `${available} of ${updated} updated replicas available` };
    return { done: true, detail: `${desired} replicas updated and available` };
  }
  const s = status as NonNullable<V1StatefulSet['status']>;
  const ready = s.readyReplicas ?? 0;
  if (updated < desired) return { done: false, detail: `${updated} of ${desired} replicas updated` };
  if (ready < desired) return { done: false, detail: `${ready} of ${desired} replicas ready` };
  if (s.updateRevision && s.currentRevision !== s.updateRevision) return { done: false, detail: 'waiting for the update revision to become current' };
  return { done: true, detail: `${desired} replicas updated and ready` };
}
