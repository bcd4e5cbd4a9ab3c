// The FliptClient custom resource as the operator reads and writes it (crds/flipt.io_fliptclients.yaml),
// and the facts about one that every part of the operator reads the same way: which target it names,
// its Secret, its metadata in Flipt, and whether a target serves it.
import type { V1ObjectMeta, V1Secret } from '@kubernetes/client-node';
import { targetAllowsNamespace, type CredentialKind, type TargetConfig } from '../config/operator-config.ts';

export const GROUP = 'flipt.io';
export const VERSION = 'v1alpha1';
export const PLURAL = 'fliptclients';
export const KIND = 'FliptClient';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** The API server's path of one FliptClient. */
export const fliptClientPath = (namespace: string, name: string) => `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}/${name}`;

export const FINALIZER = 'flipt.io/revoke-token';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'flipt-client-operator';
export const CLIENT_LABEL = 'flipt.io/client';

export interface FliptClientSpec {
  /** The API server defaults it to "default"; read it through targetNameOf(). */
  target?: string;
  metadata?: Record<string, string>;
  secret?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  serviceAccounts?: string[];
  rotation?: { every: string; overlap?: string };
  rolloutRestartTargets?: Array<{ kind: 'Deployment' | 'StatefulSet' | 'DaemonSet'; name: string }>;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';
export type ConditionType = 'Ready' | 'CredentialIssued' | 'ConfigApplied' | 'ServiceAccountsBound' | 'Rotating' | 'WorkloadsRestarted';

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
  /** The credential fingerprint spec.rolloutRestartTargets were last restarted for. */
  workloadsRestartedFor?: string;
  /** What the Secret holds; absent means a static token (what every client held before JWT mode). */
  credentialKind?: CredentialKind;
  /** When the Secret switched to this kind of credential (absent: it never switched). */
  credentialKindSince?: string;
  /** A JWT's exp, when it is refreshed, and the kid of the key that signed it. */
  expiresAt?: string;
  refreshAt?: string;
  keyId?: string;
  /** The operator installation that serves the FliptClient (operator config installation.name). */
  installation?: string;
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

/** The target the client names (the CRD defaults it; an object stored without the default gets the same). */
export function targetNameOf(client: FliptClient): string {
  return client.spec.target ?? 'default';
}

/** Whether the Secret is controlled by this FliptClient (so the operator may write it, and hand its token out). */
export function ownedBy(secret: V1Secret, client: FliptClient): boolean {
  return secret.metadata?.ownerReferences?.some((r) => r.controller && r.uid === client.metadata.uid) ?? false;
}

/**
 * Whether the target registers the client: it names the target, is not being deleted, comes from a
 * namespace the target allows, and has metadata Flipt reads as written. Any other client is refused
 * (or revoked), and none of its text reaches the target's config.
 */
export function servedBy(target: TargetConfig, client: FliptClient): boolean {
  return (
    targetNameOf(client) === target.name &&
    !client.metadata.deletionTimestamp &&
    targetAllowsNamespace(target, client.metadata.namespace) &&
    nameIsDnsLabel(client) &&
    metadataProblems(client.spec.metadata).length === 0
  );
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The CRD's rule for metadata.name, enforced again by the operator (a cluster whose CRD was not
 * upgraded lets any DNS subdomain through): the name becomes part of the token id, where viper would
 * read a '.' as nesting, and of the environment variable name, where Flipt would not resolve it.
 */
export function nameIsDnsLabel(client: FliptClient): boolean {
  return DNS_LABEL.test(client.metadata.name);
}

const RESERVED_METADATA_KEYS = ['fliptclient-namespace', 'fliptclient-name'] as const;
const METADATA_KEY = /^[a-z0-9_-]{1,63}$/;
const MAX_METADATA_KEYS = 32;
const MAX_METADATA_VALUE = 256;
/** Go's YAML reader (Flipt's) breaks lines at U+0085, U+2028 and U+2029; a BOM or a control character is no better. */
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]/;

/**
 * The CRD's rules for spec.metadata, enforced again by the operator (a FliptClient stored before a rule
 * existed, or a cluster whose CRD was not upgraded). Each problem names the key. Flipt reads its config
 * through viper, which lower-cases keys and reads '.' as nesting, and resolves `${env:...}` in every
 * string (`${secret:...}` in the fields it can set): any "${" is refused, so that a later reference
 * syntax is refused too. Control characters and Unicode line separators are refused: one such value,
 * read by Go's YAML parser as a line break, would stop Flipt from starting for every team.
 */
export function metadataProblems(metadata: Readonly<Record<string, unknown>> | undefined): string[] {
  if (!metadata) return [];
  // A target reads every client on each of its reconciles: checked once per cached metadata object.
  let problems = checkedMetadata.get(metadata);
  if (!problems) checkedMetadata.set(metadata, (problems = checkMetadata(metadata)));
  return problems;
}

const checkedMetadata = new WeakMap<object, string[]>();

function checkMetadata(metadata: Readonly<Record<string, unknown>>): string[] {
  const entries = Object.entries(metadata);
  const problems: string[] = [];
  if (entries.length > MAX_METADATA_KEYS) problems.push(`more than ${MAX_METADATA_KEYS} keys`);
  for (const [key, value] of entries) {
    if (!METADATA_KEY.test(key)) problems.push(`key ${JSON.stringify(key)} must match ^[a-z0-9_-]+$ and be at most 63 characters`);
    else if ((RESERVED_METADATA_KEYS as readonly string[]).includes(key)) problems.push(`key ${key} is reserved: the operator sets it`);
    if (typeof value !== 'string') problems.push(`key ${JSON.stringify(key)}: the value must be a string`);
    else if (value.includes('${')) problems.push(`key ${JSON.stringify(key)}: the value must not contain "\${" (Flipt would resolve it as a reference)`);
    else if (UNPRINTABLE.test(value)) problems.push(`key ${JSON.stringify(key)}: the value must not contain control characters or line or paragraph separators`);
    else if (value.length > MAX_METADATA_VALUE) problems.push(`key ${JSON.stringify(key)}: the value is longer than ${MAX_METADATA_VALUE} characters`);
  }
  return problems;
}

/** The token's metadata in Flipt: the user's, plus keys naming the FliptClient (reserved in the CRD). */
export function tokenMetadataFor(client: FliptClient): Record<string, string> {
  return { ...client.spec?.metadata, 'fliptclient-namespace': client.metadata.namespace, 'fliptclient-name': client.metadata.name };
}
