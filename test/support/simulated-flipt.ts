// Flipt's side as the API server and its pods would hold it, for unit tests that play the pure target
// step against it on an injected clock: the config ConfigMap, the credentials Secret, the workload and
// its rollouts (ROLLOUT_MS each), and the clients' Secrets. A subclass says what a config makes the
// pods accept and plays the FliptClient side.
import { parse } from 'yaml';
import type { TargetConfig } from '../../src/config/operator-config.ts';
import { decideTargetStep, type BurstHold, type ObservedTarget, type TargetStep } from '../../src/fliptinstance/step.ts';
import { clientKey, type FliptClient } from '../../src/vocabulary/fliptclient.ts';
import type { TargetState } from '../../src/vocabulary/registration.ts';

export const ROLLOUT_MS = 3_000;

export abstract class SimulatedFlipt<Accepted> {
  now: number;
  /** The target as the operator is configured; a test may switch it, as a new operator config would. */
  target: TargetConfig;
  config: string;
  managedRecord: string | undefined;
  jwtRecord: string | undefined;
  credentials: Record<string, string> = {};
  workload: { configHash: string | undefined; restartedAtMs: number | undefined; rolledOutAt: number };
  /** What every running pod accepts, and what the pods of a rollout in progress will. */
  pods: Accepted;
  rollingTo: Accepted | undefined;
  clients: FliptClient[] = [];
  secrets = new Map<string, string>();
  state: TargetState | undefined;
  hold: BurstHold | undefined;
  restarts = 0;
  configWrites = 0;
  issued = 0;
  targetDueAt: number | undefined;

  constructor(target: TargetConfig, now: number, config: string, nothingAccepted: Accepted) {
    this.target = target;
    this.now = now;
    this.config = config;
    this.workload = { configHash: undefined, restartedAtMs: undefined, rolledOutAt: now };
    this.pods = nothingAccepted;
    this.targetDueAt = now;
  }

  /** What pods started on the current config and credentials Secret accept. */
  protected abstract acceptedByConfig(): Accepted;

  /** The token the operator would generate for a credential key. */
  protected abstract newToken(key: string): string;

  addClient(name: string, spec: FliptClient['spec']): FliptClient {
    const client: FliptClient = { apiVersion: 'flipt.io/v1alpha1', kind: 'FliptClient', metadata: { name, namespace: 'apps', annotations: {} }, spec };
    this.clients.push(client);
    return client;
  }

  observed(): ObservedTarget {
    const ids: string[] = this.managedRecord ? JSON.parse(this.managedRecord) : [];
    return {
      configMap: { text: this.config, managedRecord: this.managedRecord, managedIds: ids, jwtRecord: this.jwtRecord, otherDataBytes: 0, otherAnnotationBytes: 0 },
      credentials: this.credentials,
      workload: {
        configHash: this.workload.configHash,
        restartedAtMs: this.workload.restartedAtMs,
        changedSinceOurRestart: false,
        rollout: this.rollingTo ? { done: false, detail: 'rolling' } : { done: true, detail: 'done' },
        env: { containers: ['flipt'], vars: [], envFrom: [] },
      },
      clients: this.clients,
      clientSecretToken: (c) => this.secrets.get(clientKey(c.metadata.namespace, c.metadata.name)),
      ...(this.hold !== undefined ? { hold: this.hold } : {}),
      ...(this.state ? { previous: this.state } : {}),
    };
  }

  /** One target reconcile, applied in the reconciler's order; the step, for what a test checks of it. */
  reconcileTarget(): TargetStep {
    const step = decideTargetStep(this.target, this.observed(), this.now);
    for (const key of step.issue ?? []) this.credentials = { ...this.credentials, [key]: this.newToken(key) };
    this.issued += step.issue?.length ?? 0;
    if (step.credentials) this.credentials = step.credentials;
    if (step.config) {
      this.config = step.config.text;
      this.managedRecord = step.config.managedRecord;
      this.jwtRecord = step.config.jwtRecord;
      this.configWrites++;
    }
    if (step.restart) {
      this.workload = { configHash: step.restart.configHash, restartedAtMs: this.now, rolledOutAt: this.now + ROLLOUT_MS };
      this.rollingTo = this.acceptedByConfig();
      this.restarts++;
    }
    this.hold = step.hold;
    this.state = step.state;
    this.targetDueAt = step.requeueAfterMs !== undefined ? this.now + step.requeueAfterMs : undefined;
    return step;
  }

  /** A rollout whose time has come is done: its pods are the running ones. */
  finishDueRollout(): void {
    if (this.rollingTo && this.now >= this.workload.rolledOutAt) {
      this.pods = this.rollingTo;
      this.rollingTo = undefined;
    }
  }

  /** The static tokens the config registers, their references resolved against the credentials Secret. */
  protected staticTokensOfConfig(): Set<string> {
    const tokens = parse(this.config)?.authentication?.methods?.token?.storage?.tokens ?? {};
    const accepted = new Set<string>();
    for (const entry of Object.values(tokens) as Array<{ credential: string }>) {
      const key = /^\$\{secret:file:(.+)\}$/.exec(entry.credential)?.[1];
      if (key && this.credentials[key]) accepted.add(this.credentials[key]!);
    }
    return accepted;
  }
}
