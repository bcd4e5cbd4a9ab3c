// Reading a Flipt Deployment or StatefulSet: which config hash its pods should run, and whether the
// rollout to that template has finished.
import type { V1Deployment, V1StatefulSet } from '@kubernetes/client-node';
import { CONFIG_HASH_ANNOTATION, RESTART_GENERATION_ANNOTATION, RESTARTED_AT_ANNOTATION } from './plan.ts';

export type Workload = V1Deployment | V1StatefulSet;

export interface RolloutState {
  done: boolean;
  /** What the rollout is waiting for, for condition messages. */
  detail: string;
}

export function templateConfigHash(workload: Workload): string | undefined {
  return workload.spec?.template?.metadata?.annotations?.[CONFIG_HASH_ANNOTATION];
}

export function templateRestartedAt(workload: Workload): number | undefined {
  const value = workload.spec?.template?.metadata?.annotations?.[RESTARTED_AT_ANNOTATION];
  const ms = value ? Date.parse(value) : NaN;
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * Whether someone else changed the pod template since our last restart (a `helm upgrade` rolling
 * Flipt, say): pods may then have started on whatever config the ConfigMap held at that moment.
 */
export function templateChangedSinceOurRestart(workload: Workload): boolean {
  const ours = Number(workload.metadata?.annotations?.[RESTART_GENERATION_ANNOTATION] ?? 0);
  return (workload.metadata?.generation ?? 0) > ours;
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
