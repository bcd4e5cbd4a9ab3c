// What the FliptClient reconcilers (static token and JWT) are given by the operator: the API, the
// caches, the targets' state and the recorders. In a file of its own so that neither reconciler
// imports the other for it.
import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { OperatorConfig, TargetConfig } from '../config/operator-config.ts';
import type { KubeClients } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { Clock } from '../runtime/clock.ts';
import type { Informer } from '../runtime/informer.ts';
import type { JwtSigner } from '../vocabulary/client-jwt.ts';
import type { FliptClient } from '../vocabulary/fliptclient.ts';
import type { TargetState } from '../vocabulary/registration.ts';
import type { SigningKey } from '../vocabulary/signing-keys.ts';

export interface FliptClientReconcilerDeps {
  api: KubeClients;
  targets: readonly TargetConfig[];
  fliptClients: Informer<FliptClient>;
  clientSecrets: Informer<V1Secret>;
  /** The target's credentials Secret as cached, to restore a lost client Secret from. */
  credentialsSecret: (target: string) => V1Secret | undefined;
  targetState: (target: string) => TargetState | undefined;
  enqueueTarget: (target: string) => void;
  /** For each of the client's service accounts, the other FliptClients that claim it too. */
  serviceAccountConflicts: (namespace: string, name: string) => Record<string, string[]>;
  events: EventRecorder;
  log: Logger;
  clock: Clock;
  /** `resumed`: a switch completed after an operator restart, which can no longer tell what triggered it. */
  onRotated: (target: string, trigger: 'request' | 'schedule' | 'resumed') => void;
  /** Signs JWTs with the key that signs now; the keys as every replica's cache holds them. */
  signer: JwtSigner;
  signingKeys: () => readonly SigningKey[];
  installation: OperatorConfig['installation'];
}
