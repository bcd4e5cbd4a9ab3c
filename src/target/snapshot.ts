// What a target's last reconcile found, for FliptClient reconciles to read without touching the API:
// which token ids Flipt's config carries (with which credential), whether Flipt runs that config yet.
import type { RolloutState } from './workload.ts';

export interface TargetProblem {
  reason: 'ConfigMapMissing' | 'WorkloadMissing' | 'InvalidFliptConfig';
  message: string;
}

export interface TargetSnapshot {
  problem?: TargetProblem;
  /** Token id -> fingerprint of the credential the target's config and credentials Secret hold now. */
  registered: ReadonlyMap<string, string>;
  /** Ids a hand-written token in the ConfigMap already uses; the operator never overwrites those. */
  conflicts: ReadonlySet<string>;
  /** Restart key of the config and credentials as they are now. */
  configHash?: string;
  /** Restart key the workload's pod template carries. */
  workloadHash?: string;
  rollout: RolloutState;
  authenticationRequired: boolean;
  /** Epoch ms when changes held back by restart.minInterval will be applied. */
  nextApplyAt?: number;
}

/** Whether Flipt runs the config the target holds now. */
export function rolledOut(snapshot: TargetSnapshot): boolean {
  return snapshot.configHash !== undefined && snapshot.configHash === snapshot.workloadHash && snapshot.rollout.done;
}

export function sameSnapshot(a: TargetSnapshot | undefined, b: TargetSnapshot): boolean {
  if (!a) return false;
  const flat = (s: TargetSnapshot) =>
    JSON.stringify({ ...s, registered: [...s.registered].sort(), conflicts: [...s.conflicts].sort() });
  return flat(a) === flat(b);
}
