// The FliptClient custom resource as the operator reads and writes it (crds/flipt.io_fliptclients.yaml).
import type { V1ObjectMeta } from '@kubernetes/client-node';

export const GROUP = 'flipt.io';
export const VERSION = 'v1alpha1';
export const PLURAL = 'fliptclients';
export const KIND = 'FliptClient';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const FINALIZER = 'flipt.io/revoke-token';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'flipt-client-operator';
export const CLIENT_LABEL = 'flipt.io/client';

export interface FliptClientSpec {
  target: string;
  metadata?: Record<string, string>;
  secret?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  serviceAccounts?: string[];
  rotation?: { every: string; overlap?: string };
  rolloutRestartTargets?: Array<{ kind: 'Deployment' | 'StatefulSet' | 'DaemonSet'; name: string }>;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';
export type ConditionType = 'Ready' | 'CredentialIssued' | 'ConfigApplied' | 'ServiceAccountsBound';

export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface FliptClientStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  secretName?: string;
  tokenId?: string;
  credentialFingerprint?: string;
  issuedAt?: string;
  rotateAt?: string;
  lastRotateRequest?: string;
}

export interface FliptClient {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: V1ObjectMeta & { name: string; namespace: string };
  spec: FliptClientSpec;
  status?: FliptClientStatus;
}

export const clientKey = (namespace: string, name: string) => `${namespace}/${name}`;

export function secretNameFor(client: FliptClient): string {
  return client.spec.secret?.name ?? `${client.metadata.name}-flipt`;
}

/** The token's metadata in Flipt: the user's, plus keys naming the FliptClient (reserved in the CRD). */
export function tokenMetadataFor(client: FliptClient): Record<string, string> {
  return { ...client.spec?.metadata, 'fliptclient-namespace': client.metadata.namespace, 'fliptclient-name': client.metadata.name };
}
