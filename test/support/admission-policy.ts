// Admission policies (ValidatingAdmissionPolicy, evaluated inside the API server) that refuse some of
// the operator's writes in one namespace: how a test makes the API server say no, as a quota, a policy
// engine or a webhook would on a real cluster.
import { KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { waitFor, type TestCluster } from './cluster.ts';
import type { Scenario } from './scenario.ts';

export type ResourceRule = { apiGroups: string[]; apiVersions: string[]; operations: string[]; resources: string[] };
export const SECRET_CREATES: ResourceRule = { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['secrets'] };
export const STATUS_WRITES: ResourceRule = { apiGroups: ['flipt.io'], apiVersions: ['v1alpha1'], operations: ['UPDATE'], resources: ['fliptclients/status'] };
export const DEPLOYMENT_UPDATES: ResourceRule = { apiGroups: ['apps'], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['deployments'] };
/** Updates of FliptClients themselves (their finalizers), not of their status. */
export const FLIPTCLIENT_UPDATES: ResourceRule = { apiGroups: ['flipt.io'], apiVersions: ['v1alpha1'], operations: ['UPDATE'], resources: ['fliptclients'] };
/** Refused beside the rules a test names, so that a dry-run create of one tells when the policy is in force: nothing in the tests creates PodTemplates. */
const PROBE: ResourceRule = { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['podtemplates'] };

/**
 * A policy that refuses these writes in the namespace with this message, in force once `refused`
 * (a dry-run write it covers) says so; the function it returns lifts it, and waits until it is lifted.
 */
export async function refuseWrites(cluster: TestCluster, namespace: string, rules: ResourceRule[], message: string, refused: () => Promise<boolean>): Promise<() => Promise<void>> {
  const objects = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
  const name = `refuse-${namespace}`;
  const policy = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name } };
  const binding = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name } };
  await objects.create({ ...policy, spec: { failurePolicy: 'Fail', matchConstraints: { resourceRules: rules }, validations: [{ expression: 'false', message }] } } as KubernetesObject);
  await objects.create({
    ...binding,
    spec: { policyName: name, validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } } } },
  } as KubernetesObject);
  // The API server loads a new policy within moments.
  await waitFor(refused, 'the admission policy in force', 20_000, 250);
  return async () => {
    await objects.delete(binding as KubernetesObject);
    await objects.delete(policy as KubernetesObject);
    await waitFor(async () => !(await refused()), 'the admission policy lifted', 20_000, 250);
  };
}

/** A new namespace of the scenario (its FliptClients removed when it stops) where the writes the rules name are refused. */
export async function refusingNamespace(scenario: Scenario, prefix: string, rules: ResourceRule[], message: string): Promise<{ namespace: string; lift: () => Promise<void> }> {
  const namespace = await scenario.createAppNamespace(`${prefix}-${Date.now().toString(36)}`);
  return { namespace, lift: await refuseInNamespace(scenario.cluster, namespace, rules, message) };
}

/** The writes the rules name refused in an existing namespace, once the policy is in force; the function it returns lifts it. */
export function refuseInNamespace(cluster: TestCluster, namespace: string, rules: ResourceRule[], message: string): Promise<() => Promise<void>> {
  const probe = { metadata: { name: 'probe' }, template: { spec: { containers: [{ name: 'probe', image: 'probe' }] } } };
  const refused = () => cluster.clients.core.createNamespacedPodTemplate({ namespace, dryRun: 'All', body: probe }).then(() => false, () => true);
  return refuseWrites(cluster, namespace, [...rules, PROBE], message, refused);
}
