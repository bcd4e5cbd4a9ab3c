// Admission policies (ValidatingAdmissionPolicy, evaluated inside the API server) that refuse some of
// the operator's writes in one namespace: how a test makes the API server say no, as a quota, a policy
// engine or a webhook would on a real cluster.
import { KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { waitFor } from './cluster.ts';
import type { Scenario } from './scenario.ts';

export type ResourceRule = { apiGroups: string[]; apiVersions: string[]; operations: string[]; resources: string[] };
export const SECRET_CREATES: ResourceRule = { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['secrets'] };
export const STATUS_WRITES: ResourceRule = { apiGroups: ['flipt.io'], apiVersions: ['v1alpha1'], operations: ['UPDATE'], resources: ['fliptclients/status'] };

/**
 * A new namespace of the scenario (its FliptClients removed when it stops) where a policy refuses Secret
 * creates, and whatever else the rules name, with this message; lift() removes the policy.
 */
export async function refusingNamespace(scenario: Scenario, prefix: string, rules: ResourceRule[], message: string): Promise<{ namespace: string; lift: () => Promise<void> }> {
  const namespace = `${prefix}-${Date.now().toString(36)}`;
  const { cluster } = scenario;
  await cluster.clients.core.createNamespace({ body: { metadata: { name: namespace, labels: { 'fco-test/refusing': namespace } } } });
  scenario.adoptAppNamespace(namespace);
  const objects = KubernetesObjectApi.makeApiClient(cluster.kubeConfig);
  const policy = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name: namespace } };
  const binding = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: namespace } };
  await objects.create({ ...policy, spec: { failurePolicy: 'Fail', matchConstraints: { resourceRules: rules }, validations: [{ expression: 'false', message }] } } as KubernetesObject);
  await objects.create({
    ...binding,
    spec: { policyName: namespace, validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { 'fco-test/refusing': namespace } } } },
  } as KubernetesObject);
  // The API server loads a new policy within moments: wait until it refuses a dry-run create.
  const refused = () => cluster.clients.core.createNamespacedSecret({ namespace, dryRun: 'All', body: { metadata: { name: 'probe' } } }).then(() => false, () => true);
  await waitFor(refused, 'the admission policy to refuse Secrets', 20_000, 250);
  const lift = async () => {
    await objects.delete(binding as KubernetesObject);
    await objects.delete(policy as KubernetesObject);
    await waitFor(async () => !(await refused()), 'the admission policy lifted', 20_000, 250);
  };
  return { namespace, lift };
}
